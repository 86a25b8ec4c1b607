"""Real journeys in Debian's Chromium, driven by Playwright (never a downloaded
browser). Screenshots of every page go to tests/screenshots/ (see the README)."""

import os

import pytest

from conftest import LiveServer, free_port, reset
from idp import create_app

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.path.join(os.path.dirname(__file__), "screenshots")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def ebank_and_idp(backend):
    """The IdP on http://localhost:<port> and the demo e-bank beside it, as `make run` has them."""
    from clients.ebank import create_app as create_ebank
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    idp_port, bank_port = free_port(), free_port()
    issuer, bank_url = f"http://localhost:{idp_port}", f"http://localhost:{bank_port}"
    idp_app = create_app({**backend, "ISSUER": issuer})
    with idp_app.app_context():
        create_user("ana@example.si", "Geslo-Test-1", "041 123 123", given_name="Ana",
                    family_name="Novak")
        rp, secret = create_client("E-banka", [bank_url + "/callback"], [bank_url + "/"],
                                   first_party=True, client_id="ebank")
    idp = LiveServer(idp_app, idp_port)
    bank = LiveServer(create_ebank({"ISSUER": issuer, "URL": bank_url, "CLIENT_ID": "ebank",
                                    "CLIENT_SECRET": secret, "SECRET_KEY": "test"}), bank_port)
    yield bank_url
    bank.stop()
    idp.stop()
    reset(idp_app)


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def test_ebank_login_payment_refusal_and_logout(browser, ebank_and_idp, backend):
    prefix = f"core-{backend['BACKEND']}-"
    page = browser.new_page(locale="sl-SI")
    page.goto(ebank_and_idp)
    shot(page, prefix + "1-ebank")
    page.get_by_role("link", name="Prijava / Log in").click()

    # The IdP's login page, found by its labels.
    page.wait_for_url("**/login?interaction=*")
    assert "E-banka" in page.content()
    page.get_by_label("E-naslov").fill("ana@example.si")
    page.get_by_label("Geslo").fill("Wrong-Geslo-1")
    page.get_by_role("button", name="Prijava").click()
    assert page.get_by_role("alert").is_visible()  # the error summary
    shot(page, prefix + "2-login-error")
    page.get_by_label("Geslo").fill("Geslo-Test-1")
    shot(page, prefix + "3-login")
    page.get_by_role("button", name="Prijava").click()

    # Back at the e-bank, logged in at acr low.
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#who").inner_text() == "Ana Novak"
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/low"
    assert page.locator("#trust-level").inner_text() == "low"
    assert page.locator("#amr").inner_text() == "pwd"
    shot(page, prefix + "4-ebank-logged-in")

    # A payment needs high, which a password login cannot give yet.
    page.get_by_role("link", name="Plačilo / Payment").click()
    assert "visoko raven zaupanja" in page.content()
    page.get_by_role("link", name="Prijava z visoko ravnjo / Log in at high level").click()
    page.wait_for_url("**/callback?*")
    assert "unmet_authentication_requirements" in page.content()
    assert "ne more potrditi" in page.locator("#error-explanation").inner_text()
    shot(page, prefix + "5-payment-refused")

    # RP-initiated logout comes back to the e-bank, logged out of both.
    page.goto(ebank_and_idp + "/logout")
    page.wait_for_url(ebank_and_idp + "/")
    assert page.get_by_role("link", name="Prijava / Log in").is_visible()
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")  # the IdP asks again
    shot(page, prefix + "6-logged-out")


def test_login_page_works_on_a_phone_and_with_the_keyboard(browser, ebank_and_idp):
    page = browser.new_page(viewport={"width": 320, "height": 640}, locale="en-GB")
    page.goto(ebank_and_idp + "/login")
    page.wait_for_url("**/login?interaction=*")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # no sideways scroll
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.get_by_label("E-mail").fill("ana@example.si")
    page.get_by_label("Password").fill("Geslo-Test-1")
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(ebank_and_idp + "/")
    shot(page, "core-phone-logged-in")
