"""The EU Digital Identity Wallet in Debian's Chromium: from the e-bank's
payment step-up, a person at identity low chooses the wallet on the same
device, the software wallet answers over real HTTP, and the payment goes
through at high; and the desktop QR page turns to "verified" by polling."""

import time
from datetime import date

import pytest

from conftest import LiveServer, reset
from sinks import free_port
from idp import create_app
from pid_provider import ANA, PidProvider, holder_key, verifier_certificate
from test_browser import add_virtual_authenticator, pay, shot
from wallet import RealHttp, Wallet

pytestmark = pytest.mark.browser
BOR = {**ANA, "given_name": "Bor", "family_name": "Kralj", "birthdate": "1985-03-02",
       "personal_administrative_number": "42098742"}


@pytest.fixture
def wallet_world(backend, tmp_path):
    """The IdP with the wallet on, the e-bank beside it, a PID provider; Ana at
    low, Bor at substantial by bank card."""
    from clients.ebank import create_app as create_ebank
    from clients.ebank.fapi import new_client_key
    from idp.accounts.service import create_user
    from idp.extensions import db
    from idp.oauth.clients import create_client
    from idp.trust.service import Person, raise_trust_level

    provider = PidProvider(tmp_path / "anchors")
    cert, key = verifier_certificate(tmp_path / "verifier")
    idp_port, bank_port = free_port(), free_port()
    issuer, bank_url = f"http://localhost:{idp_port}", f"http://localhost:{bank_port}"
    idp_app = create_app({**backend, "ISSUER": issuer, "RESOURCES": [bank_url + "/api"],
                          "RATELIMIT_KEY_PREFIX": f"rl-{idp_port}-{time.time_ns()}",
                          "PID_PROVIDERS_DIR": str(tmp_path / "anchors"),
                          "VERIFIER_CERT_FILE": str(cert), "VERIFIER_KEY_FILE": str(key)})
    private_jwk, public_jwks = new_client_key()  # the e-bank is a FAPI 2.0 client
    servers = []
    try:
        with idp_app.app_context():
            create_user("ana@example.si", "Geslo-Test-1", "041 123 123", given_name="Ana",
                        family_name="Novak")
            bor = create_user("bor@example.si", "Geslo-Test-1", "031 222 333",
                              given_name="Bor", family_name="Kralj")
            raise_trust_level(bor, "substantial",
                              Person("Bor", "Kralj", date(1985, 3, 2), None), "card",
                              {"gateway": "sandbox", "reference": "r", "last4": "4242"})
            db.session.commit()
            create_client("E-banka", [bank_url + "/callback"], [bank_url + "/"],
                          first_party=True, client_id="ebank", profile="fapi2",
                          jwks=public_jwks, id_token_alg="ES256")
        servers.append(LiveServer(idp_app, idp_port))
        servers.append(LiveServer(create_ebank({
            "ISSUER": issuer, "URL": bank_url, "CLIENT_ID": "ebank", "CLIENT_KEY": private_jwk,
            "SECRET_KEY": "test"}), bank_port))
        yield {"bank": bank_url, "issuer": issuer, "provider": provider}
    finally:
        for server in reversed(servers):
            server.stop()
        provider.stop()
        reset(idp_app)



def software_wallet(provider, claims):
    holder = holder_key()
    return Wallet(provider.issue(holder, claims), holder, RealHttp())


def test_payment_step_up_with_the_wallet_on_the_same_device(browser, wallet_world, backend):
    prefix = f"wallet-{backend['BACKEND']}-"
    bank, provider = wallet_world["bank"], wallet_world["provider"]
    page = browser.new_page(locale="sl-SI", viewport={"width": 320, "height": 720})
    add_virtual_authenticator(page)
    page.goto(bank)
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    page.get_by_label("E-naslov").fill("ana@example.si")
    page.get_by_label("Geslo").fill("Geslo-Test-1")
    page.get_by_role("button", name="Prijava").click()
    page.wait_for_url(bank + "/")
    assert page.locator("#trust-level").inner_text() == "low"

    # The payment needs high: the ways up include the wallet.
    pay(page, bank)
    page.wait_for_url("**/trust?interaction=*")
    shot(page, prefix + "1-ways-up")
    page.get_by_role("link", name="Uporabi evropsko denarnico za digitalno identiteto").click()
    page.wait_for_url("**/trust/wallet?interaction=*")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    shot(page, prefix + "2-wallet")
    link = page.get_by_role("link", name="Odpri mojo denarnico").get_attribute("href")
    assert link.startswith("openid4vp://?client_id=x509_hash")

    # The wallet (on "this phone") answers; it sends the browser back.
    answer = software_wallet(provider, ANA).answer(link)
    assert answer.status == 200, answer.body
    page.goto(answer.json()["redirect_uri"])

    # Back in the paused request: identity high now, the login still needs a
    # phishing-resistant factor, added right away thanks to the wallet.
    page.wait_for_url("**/login/step-up?interaction=*")
    assert "Vaš nivo zaupanja je zdaj visok." in page.content()
    shot(page, prefix + "3-step-up")
    page.locator("#add-passkey").click()
    page.wait_for_url("**/methods/enrol/*")
    page.get_by_label("Ime tega ključa").fill("Telefon")
    page.get_by_role("button", name="Dodaj ključ", exact=True).click()
    page.wait_for_url("**/methods?interaction=*")
    page.get_by_role("button", name="Nadaljuj na E-banka").click()
    page.wait_for_url("**/login/*/verify*")
    page.get_by_role("button", name="Uporabi moj ključ").click()
    page.wait_for_url("**/payment/confirm*")
    assert page.locator("#payment-done").is_visible()
    shot(page, prefix + "4-paid")
    page.goto(bank + "/")
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/high"
    assert page.locator("#trust-level").inner_text() == "high"


def test_the_desktop_qr_page_turns_to_verified_by_polling(browser, wallet_world, backend):
    prefix = f"wallet-{backend['BACKEND']}-"
    issuer, provider = wallet_world["issuer"], wallet_world["provider"]
    page = browser.new_page(locale="sl-SI")
    page.goto(issuer + "/login")
    page.get_by_label("E-naslov").fill("bor@example.si")
    page.get_by_label("Geslo").fill("Geslo-Test-1")
    page.get_by_role("button", name="Prijava").click()
    page.wait_for_url(issuer + "/**")
    page.goto(issuer + "/trust/wallet/qr")
    assert page.locator(".qr svg").is_visible()
    assert page.locator("#wallet-status").inner_text() == "Čakamo na vašo denarnico …"
    shot(page, prefix + "5-qr")
    link = page.locator("#wallet-poll").get_attribute("data-wallet-link")

    answer = software_wallet(provider, BOR).answer(link)
    assert answer.status == 200 and answer.json() == {}

    # No click: the page polls, then shows the raised level.
    page.wait_for_url(issuer + "/trust", timeout=15000)
    assert page.locator("#trust-level").inner_text() == "visok"
    assert "Vaš nivo zaupanja je zdaj visok." in page.content()
    shot(page, prefix + "6-verified")
