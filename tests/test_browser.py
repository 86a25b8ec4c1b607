"""Real journeys in Debian's Chromium, driven by Playwright (never a downloaded
browser). Screenshots of every page go to tests/screenshots/ (see the README)."""

import os
import time

import pyotp
import pytest

from conftest import LiveServer, reset
from sinks import free_port
from idp import create_app
from idp.accounts.service import normalise_phone

pytestmark = pytest.mark.browser

SHOTS = os.path.join(os.path.dirname(__file__), "screenshots")



@pytest.fixture
def ebank_and_idp(backend):
    """The IdP on http://localhost:<port> and the demo e-bank beside it, as `make run` has them."""
    from clients.ebank import create_app as create_ebank
    from clients.ebank.fapi import new_client_key
    from idp.accounts.puk import issue_puk
    from idp.accounts.service import create_user
    from idp.extensions import db
    from idp.oauth.clients import create_client
    from idp.trust.officers import create_officer

    idp_port, bank_port = free_port(), free_port()
    issuer, bank_url = f"http://localhost:{idp_port}", f"http://localhost:{bank_port}"
    # Its own rate-limit counters: the journeys post more than a person would.
    idp_app = create_app({**backend, "ISSUER": issuer, "RESOURCES": [bank_url + "/api"],
                          "RATELIMIT_KEY_PREFIX": f"rl-{idp_port}-{time.time_ns()}"})
    private_jwk, public_jwks = new_client_key()  # the e-bank is a FAPI 2.0 client
    with idp_app.app_context():
        ana = create_user("ana@example.si", "Geslo-Test-1", "041 123 123", given_name="Ana",
                          family_name="Novak")
        ANA["puk"], ana.puk_hash = issue_puk()
        db.session.commit()
        _, uri = create_officer("maja@banka.si", OFFICER["password"], "041 777 888", "Maja",
                                "Kos", actor="test")
        OFFICER["totp"] = pyotp.parse_uri(uri).secret
        create_client("E-banka", [bank_url + "/callback"], [bank_url + "/"], first_party=True,
                      client_id="ebank", profile="fapi2", jwks=public_jwks, id_token_alg="ES256")
    ANA["issuer"] = issuer
    idp = LiveServer(idp_app, idp_port)
    bank = LiveServer(create_ebank({"ISSUER": issuer, "URL": bank_url, "CLIENT_ID": "ebank",
                                    "CLIENT_KEY": private_jwk, "SECRET_KEY": "test"}), bank_port)
    yield bank_url
    bank.stop()
    idp.stop()
    reset(idp_app)


ANA = {}  # Ana's PUK and the IdP's URL, set by the fixture
OFFICER = {"email": "maja@banka.si", "password": "Uradnica-Geslo-9"}  # + the app's secret
TOTP_LABEL = "Koda iz aplikacije za preverjanje"
KEY_NAME_LABEL = "Ime tega ključa"


def add_virtual_authenticator(page):
    """Chromium's virtual platform authenticator (DevTools protocol): it makes
    discoverable credentials and verifies the user. Returns ``touch(bool)``:
    whether it answers by itself, as a person who picks the passkey would (the
    login page asks for one as it loads: it is offered in the e-mail field)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})["authenticatorId"]
    return lambda enabled: cdp.send("WebAuthn.setAutomaticPresenceSimulation", {
        "authenticatorId": authenticator, "enabled": enabled})


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

    # A payment needs high, which Ana's registered identity cannot give yet:
    # the IdP shows the ways to raise it; "not now" tells the e-bank.
    page.get_by_role("link", name="Plačilo / Payment").click()
    assert "visoko raven zaupanja" in page.content()
    page.get_by_role("link", name="Prijava z visoko ravnjo / Log in at high level").click()
    page.wait_for_url("**/trust?interaction=*")
    assert page.locator("#level-needed").is_visible()
    page.get_by_role("button", name="Ne zdaj: vrni se na E-banka").click()
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


def register_from_ebank(page, ebank_url, email, number, smtp_sink, sms_sink, prefix,
                        finish="Zaključi postopek registracije → NA STORITEV"):
    """From the e-bank's login redirect through the five registration pages;
    ``finish`` is the button pressed on the last one."""
    page.goto(ebank_url)
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    page.get_by_role("link", name="Ustvari račun").click()

    # 1. Details, with the live password checklist.
    page.wait_for_url("**/register?interaction=*")
    page.get_by_label("E-naslov").fill(email)
    page.get_by_label("Geslo", exact=True).fill("modra")
    assert "met" not in (page.locator('[data-rule="upper"]').get_attribute("class") or "")
    page.get_by_label("Geslo", exact=True).fill("Modra-Lipa-42")
    assert "met" in page.locator('[data-rule="upper"]').get_attribute("class")
    page.get_by_label("Ponovite geslo").fill("Modra-Lipa-42")
    assert "met" in page.locator('[data-rule="match"]').get_attribute("class")
    page.get_by_label("Številka mobilnega telefona").fill(number)
    shot(page, prefix + "1-details-unticked")
    page.get_by_role("button", name="Naprej").click()
    assert "Pogoji uporabe" in page.get_by_role("alert").inner_text()  # terms not ticked
    page.get_by_label("Geslo", exact=True).fill("Modra-Lipa-42")
    page.get_by_label("Ponovite geslo").fill("Modra-Lipa-42")
    page.get_by_label("Strinjam se s Pogoji uporabe").check()
    shot(page, prefix + "1-details")
    page.get_by_role("button", name="Naprej").click()

    # 2. The e-mail code, read from the SMTP server.
    page.wait_for_url("**/register/*/email")
    page.get_by_label("Potrditvena koda").fill(smtp_sink.last_code(email))
    shot(page, prefix + "2-email-code")
    page.get_by_role("button", name="Potrdi").click()

    # 3. The SMS one-time password, read from the gateway.
    page.wait_for_url("**/register/*/phone")
    page.get_by_label("Enkratno geslo SMS").fill(sms_sink.last_code(normalise_phone(number)))
    shot(page, prefix + "3-sms-code")
    page.get_by_role("button", name="Potrdi").click()

    # 4. The PUK, shown once, acknowledged.
    page.wait_for_url("**/register/*/puk")
    assert len(page.locator("#puk").inner_text()) == 8
    shot(page, prefix + "4-puk")
    page.get_by_label("Kodo PUK sem si zapisal(a) in jo hranim na varnem").check()
    page.get_by_role("button", name="Naprej").click()

    # 5. Choose.
    page.wait_for_url("**/register/*/done")
    shot(page, prefix + "5-choose")
    page.get_by_role("button", name=finish).click()


def test_registration_from_the_ebank(browser, ebank_and_idp, backend, smtp_sink, sms_sink):
    """A newcomer clicks "Ustvari račun" on the e-bank's login redirect, goes
    through all five pages, and lands back in the e-bank logged in at low."""
    prefix = f"register-{backend['BACKEND']}-"
    email = f"nova-{backend['BACKEND']}@example.si"
    page = browser.new_page(locale="sl-SI")
    register_from_ebank(page, ebank_and_idp, email, "041 555 123", smtp_sink, sms_sink, prefix)
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#who").inner_text() == email
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/low"
    assert page.locator("#trust-level").inner_text() == "low"
    assert page.locator("#amr").inner_text() == "pwd, sms"
    shot(page, prefix + "6-ebank-logged-in")


def test_additional_methods_then_totp_and_passkey_logins(browser, ebank_and_idp, backend,
                                                        smtp_sink, sms_sink):
    """Register, add an authenticator app and a passkey (Chromium's virtual
    authenticator) from "Registriraj dodatne načine prijave", back to the
    e-bank; then log in again with password + TOTP, and with the passkey alone."""
    prefix = f"methods-{backend['BACKEND']}-"
    email = f"metode-{backend['BACKEND']}@example.si"
    page = browser.new_page(locale="sl-SI")
    touch = add_virtual_authenticator(page)
    register_from_ebank(page, ebank_and_idp, email, "041 555 124", smtp_sink, sms_sink, prefix,
                        finish="Registriraj dodatne načine prijave")

    # The methods page: an authenticator app, confirmed with its first code.
    page.wait_for_url("**/methods?interaction=*")
    page.get_by_role("link", name="Dodaj aplikacijo za preverjanje").click()
    page.wait_for_url("**/methods/enrol/*")
    assert page.locator(".qr svg").is_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label(TOTP_LABEL).fill("000000")
    page.get_by_role("button", name="Potrdi").click()
    assert page.get_by_role("alert").is_visible()  # a wrong first code adds nothing
    page.get_by_label(TOTP_LABEL).fill(pyotp.TOTP(secret).now())
    shot(page, prefix + "1-add-totp")
    page.get_by_role("button", name="Potrdi").click()

    # A passkey, made by the virtual authenticator.
    page.wait_for_url("**/methods?interaction=*")
    page.get_by_role("link", name="Dodaj ključ za prijavo ali varnostni ključ").click()
    page.wait_for_url("**/methods/enrol/*")
    page.get_by_label(KEY_NAME_LABEL).fill("Virtualni ključ")
    shot(page, prefix + "2-add-passkey")
    page.get_by_role("button", name="Dodaj ključ", exact=True).click()
    page.wait_for_url("**/methods?interaction=*")
    assert "Virtualni ključ" in page.content()
    shot(page, prefix + "3-methods")
    page.get_by_role("button", name="Nadaljuj na E-banka").click()
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#amr").inner_text() == "pwd, sms"

    # Log out, then in with the password and the app (the next step's code:
    # the enrolment's own code is spent), not picking the passkey offered.
    touch(False)
    page.goto(ebank_and_idp + "/logout")
    page.wait_for_url(ebank_and_idp + "/")
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    page.get_by_label("E-naslov").fill(email)
    page.get_by_label("Geslo").fill("Modra-Lipa-42")
    page.get_by_role("button", name="Prijava", exact=True).click()
    page.wait_for_url("**/login/*/verify*")
    page.get_by_role("link", name="Aplikacija za preverjanje").click()
    page.get_by_label(TOTP_LABEL).fill(pyotp.TOTP(secret).at(time.time() + 30))
    shot(page, prefix + "4-login-totp")
    page.get_by_role("button", name="Potrdi").click()
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#amr").inner_text() == "pwd, otp, mfa"
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/low"

    # Log out, then in with the passkey alone.
    page.goto(ebank_and_idp + "/logout")
    page.wait_for_url(ebank_and_idp + "/")
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    page.get_by_role("link", name="Prijava s ključem").click()
    page.wait_for_url("**/login/*/verify*")
    shot(page, prefix + "5-login-passkey")
    touch(True)
    page.get_by_role("button", name="Uporabi moj ključ").click()
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#who").inner_text() == email
    assert page.locator("#amr").inner_text() == "hwk, user, mfa"
    # A strong login, but the identity is still only registered: acr stays low.
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/low"
    shot(page, prefix + "6-ebank-passkey")


def test_password_recovery_with_the_puk(browser, ebank_and_idp, backend, sms_sink):
    prefix = f"recover-{backend['BACKEND']}-"
    page = browser.new_page(locale="sl-SI")
    page.goto(ebank_and_idp)
    page.get_by_role("link", name="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    page.get_by_role("link", name="Pozabljeno geslo?").click()

    page.wait_for_url("**/recover?interaction=*")
    page.get_by_label("E-naslov").fill("ana@example.si")
    page.get_by_label("Koda PUK").fill(ANA["puk"].lower())  # read as printed
    shot(page, prefix + "1-email-and-puk")
    page.get_by_role("button", name="Naprej").click()

    page.wait_for_url("**/recover/*/sms")
    page.get_by_label("Enkratno geslo SMS").fill(sms_sink.last_code("+38641123123"))
    shot(page, prefix + "2-sms-code")
    page.get_by_role("button", name="Potrdi").click()

    page.wait_for_url("**/recover/*/password")
    page.get_by_label("Geslo", exact=True).fill("Zelena-Miza-Kava-7")
    page.get_by_label("Ponovite geslo").fill("Zelena-Miza-Kava-7")
    shot(page, prefix + "3-new-password")
    page.get_by_role("button", name="Spremeni geslo").click()

    page.wait_for_url("**/recover/*/puk")
    new_puk = page.locator("#puk").inner_text()
    assert len(new_puk) == 8 and new_puk != ANA["puk"]
    shot(page, prefix + "4-new-puk")
    page.get_by_label("Kodo PUK sem si zapisal(a) in jo hranim na varnem").check()
    page.get_by_role("button", name="Naprej").click()

    # Back on the login page of the same e-bank request: the old password fails.
    page.wait_for_url("**/login?*")
    assert "Geslo je spremenjeno" in page.content()
    assert page.get_by_label("E-naslov").input_value() == "ana@example.si"
    page.get_by_label("Geslo").fill("Geslo-Test-1")
    page.get_by_role("button", name="Prijava").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("Geslo").fill("Zelena-Miza-Kava-7")
    shot(page, prefix + "5-login-new-password")
    page.get_by_role("button", name="Prijava").click()
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#who").inner_text() == "Ana Novak"
    shot(page, prefix + "6-ebank-logged-in")


def officer_issues_id_key(browser, email, prefix):
    """A branch officer logs in with password + authenticator app, finds the
    person, records the identity document and issues an ID key."""
    page = browser.new_context(locale="sl-SI").new_page()
    page.goto(ANA["issuer"] + "/login")
    page.get_by_label("E-naslov").fill(OFFICER["email"])
    page.get_by_label("Geslo").fill(OFFICER["password"])
    page.get_by_role("button", name="Prijava", exact=True).click()
    page.wait_for_url("**/login/*/verify*")
    page.get_by_label(TOTP_LABEL).fill(pyotp.TOTP(OFFICER["totp"]).now())
    page.get_by_role("button", name="Potrdi").click()
    page.wait_for_url(ANA["issuer"] + "/")
    page.get_by_role("link", name="Konzola poslovalnice").click()
    page.get_by_label("E-naslov ali številka mobilnega telefona").fill(email)
    page.get_by_role("button", name="Poišči").click()
    page.get_by_role("link", name=email).click()
    page.get_by_label("Osebni dokument").select_option(label="Osebna izkaznica")
    page.get_by_label("Številka dokumenta").fill("IA1234567")
    page.get_by_label("Velja do").fill("2031-06-30")
    page.get_by_label("Ime", exact=True).fill("Nina")
    page.get_by_label("Priimek").fill("Kovač")
    page.get_by_label("Datum rojstva").fill("1990-05-17")
    page.get_by_label("Davčna številka").fill("21111103")
    shot(page, prefix + "3-officer-document")
    page.get_by_role("button", name="Izdaj identifikacijski ključ").click()
    key = page.locator("#id-key").inner_text()
    shot(page, prefix + "4-officer-id-key")
    page.context.close()
    return key


def pay(page, ebank_url, amount="25.00"):
    page.goto(ebank_url + "/payment")
    page.get_by_label("Znesek v EUR / Amount in EUR").fill(amount)
    page.get_by_label("IBAN prejemnika / Recipient's IBAN").fill("SI56 1910 0000 0123 438")
    page.get_by_role("button", name="Plačaj / Pay").click()


def test_branch_id_key_and_passkey_then_payment_at_high(browser, ebank_and_idp, backend,
                                                        smtp_sink, sms_sink):
    """A newcomer cannot pay (identity low) and sees the ways up; an officer
    verifies them at a branch and issues an ID key; the person enters it and
    a passkey when the e-bank steps up, and the payment goes through at high."""
    prefix = f"trust-{backend['BACKEND']}-"
    email = f"nina-{backend['BACKEND']}@example.si"
    page = browser.new_page(locale="sl-SI")
    add_virtual_authenticator(page)
    register_from_ebank(page, ebank_and_idp, email, "041 555 125", smtp_sink, sms_sink,
                        prefix + "0-")
    page.wait_for_url(ebank_and_idp + "/")
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/low"

    # The payment API's challenge becomes a step-up; the identity is too weak.
    pay(page, ebank_and_idp)
    page.wait_for_url("**/trust?interaction=*")
    assert page.locator("#level-needed").is_visible()
    assert page.locator("#visit-branch").is_visible()
    shot(page, prefix + "1-ways-up")
    page.get_by_role("button", name="Ne zdaj: vrni se na E-banka").click()
    page.wait_for_url("**/callback?*")
    assert "unmet_authentication_requirements" in page.content()
    shot(page, prefix + "2-not-yet")

    key = officer_issues_id_key(browser, email, prefix)
    assert len(key) == 14  # XXXX-XXXX-XXXX

    # Pay again: enter the ID key, add a passkey, confirm with it.
    pay(page, ebank_and_idp, amount="42.50")
    page.wait_for_url("**/trust?interaction=*")
    page.get_by_label("Identifikacijski ključ").fill(key.lower())
    shot(page, prefix + "5-id-key")
    page.get_by_role("button", name="Potrdi identifikacijski ključ").click()
    page.wait_for_url("**/login/step-up?interaction=*")
    shot(page, prefix + "6-step-up")
    page.locator("#add-passkey").click()
    page.wait_for_url("**/methods/enrol/*")
    page.get_by_label(KEY_NAME_LABEL).fill("Telefon")
    page.get_by_role("button", name="Dodaj ključ", exact=True).click()
    page.wait_for_url("**/methods?interaction=*")
    page.get_by_role("button", name="Nadaljuj na E-banka").click()
    page.wait_for_url("**/login/*/verify*")
    shot(page, prefix + "7-confirm-with-passkey")
    page.get_by_role("button", name="Uporabi moj ključ").click()
    page.wait_for_url("**/payment/confirm*")
    assert page.locator("#payment-done").is_visible()
    assert "42" in page.locator("#payment-amount").inner_text()
    shot(page, prefix + "8-paid")

    page.goto(ebank_and_idp + "/")
    assert page.locator("#acr").inner_text() == "http://eidas.europa.eu/LoA/high"
    assert page.locator("#trust-level").inner_text() == "high"
    assert page.locator("#who").inner_text() == "Nina Kovač"
    shot(page, prefix + "9-ebank-high")
