"""In Debian's Chromium: logging out on the IdP's dashboard ends the person's
e-bank session through back-channel logout, though the e-bank's tab was never
touched (its cookie is still there)."""

import time

import pytest

from conftest import LiveServer, reset
from sinks import free_port
from idp import create_app
from test_browser import shot

pytestmark = pytest.mark.browser



@pytest.fixture
def idp_and_bank(backend):
    from joserfc.jwk import ECKey

    from clients.ebank import create_app as create_ebank
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    idp_port, bank_port = free_port(), free_port()
    issuer, bank_url = f"http://localhost:{idp_port}", f"http://localhost:{bank_port}"
    idp_app = create_app({**backend, "ISSUER": issuer, "RESOURCES": [bank_url + "/api"],
                          "RATELIMIT_KEY_PREFIX": f"rl-{idp_port}-{time.time_ns()}"})
    key = ECKey.generate_key("P-256", {"alg": "ES256", "kid": "ebank-1"}, private=True)
    with idp_app.app_context():
        create_user("ana@example.si", "Geslo-Test-1", "041 123 123", given_name="Ana",
                    family_name="Novak")
        create_client("E-banka", [bank_url + "/callback"], [bank_url + "/"], first_party=True,
                      client_id="ebank", profile="fapi2", auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]}, id_token_alg="ES256",
                      backchannel_logout_uri=bank_url + "/backchannel-logout",
                      backchannel_logout_session_required=True)
    idp = LiveServer(idp_app, idp_port)
    bank = LiveServer(create_ebank({"ISSUER": issuer, "URL": bank_url, "CLIENT_ID": "ebank",
                                    "SECRET_KEY": "test",
                                    "CLIENT_KEY": key.as_dict(private=True)}), bank_port)
    yield issuer, bank_url, idp_app
    assert idp_app.extensions["idp_backchannel"].wait(30)
    bank.stop()
    idp.stop()
    reset(idp_app)


def test_logout_at_the_idp_ends_the_e_bank_session(browser, idp_and_bank, backend):
    issuer, bank_url, idp_app = idp_and_bank
    prefix = f"backchannel-{backend['BACKEND']}-"
    context = browser.new_context(locale="sl-SI")
    bank = context.new_page()
    bank.goto(bank_url)
    bank.get_by_role("link", name="Prijava / Log in").click()
    bank.wait_for_url("**/login?interaction=*")
    bank.get_by_label("E-naslov").fill("ana@example.si")
    bank.get_by_label("Geslo").fill("Geslo-Test-1")
    bank.get_by_role("button", name="Prijava").click()
    bank.wait_for_url(bank_url + "/")
    assert bank.locator("#who").inner_text() == "Ana Novak"
    shot(bank, prefix + "1-ebank-logged-in")
    cookie = [c for c in context.cookies(bank_url) if c["name"] == "ebank_session"]

    # In another tab, Ana logs out on the IdP's dashboard.
    idp = context.new_page()
    idp.goto(issuer + "/")
    shot(idp, prefix + "2-idp-dashboard")
    idp.get_by_role("button", name="Odjava").click()
    shot(idp, prefix + "3-idp-logged-out")
    assert idp_app.extensions["idp_backchannel"].wait(30)

    # The e-bank's tab, with its cookie unchanged, is logged out too.
    assert [c for c in context.cookies(bank_url) if c["name"] == "ebank_session"] == cookie
    bank.reload()
    assert bank.get_by_role("link", name="Prijava / Log in").is_visible()
    assert bank.locator("#who").count() == 0
    shot(bank, prefix + "4-ebank-logged-out")
    context.close()
