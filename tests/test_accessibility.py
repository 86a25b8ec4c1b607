"""axe-core (bundled by axe-playwright-python, nothing downloaded) on every page
a person can reach, in Slovenian and in English, at 320 CSS px: zero WCAG 2.2
A/AA violations, no sideways scrolling (WCAG 1.4.10), and the page's own words
in the language asked for, not only its <html lang>.

One Chromium, the IdP and e-bank of the browser journeys on SQLite; each language walks the pages as
people do (a newcomer registers, an officer works at the branch, a person at
the high level is asked to step up). Every finding is collected, so one run
lists them all. Screenshots of some pages go to tests/screenshots/."""

import os
import re
import time

import pyotp
import pytest
from flask_babel import force_locale, gettext

from idp import create_app
from idp.accounts.service import normalise_phone
import test_browser
from helpers import CHROMIUM, CHROMIUM_FLAGS
from test_browser import ANA, OFFICER

pytestmark = [pytest.mark.browser,
              # The pages are the same on both storage backends: SQLite keeps the run short.
              pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

SHOTS = os.path.join(os.path.dirname(__file__), "screenshots")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTH = 320
PASSWORD = "Modra-Lipa-42"


# The browser journeys' IdP and e-bank (a fixture), used here too.
ebank_and_idp = test_browser.ebank_and_idp


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def no_rate_limits(monkeypatch):
    """The walks post more forms in a minute than a person would."""
    monkeypatch.setenv("IDP_RATELIMIT_ENABLED", "false")


@pytest.fixture
def site(backend, ebank_and_idp):
    """The IdP and the demo e-bank over HTTP as the browser journeys have them
    (Ana, officer Maja), plus Cene at the high level with a password only and
    a third-party service that asks for consent."""
    from idp.accounts.service import create_user
    from idp.extensions import db
    from idp.oauth.clients import create_client
    from idp.trust.service import Person, raise_trust_level

    app = create_app({**backend, "ISSUER": ANA["issuer"]})  # same database, for the setup
    with app.app_context():
        cene = create_user("cene@example.si", "Geslo-Test-1", "041 123 124", given_name="Cene",
                           family_name="Kralj")
        raise_trust_level(cene, "high", Person("Cene", "Kralj", None, "12345679"), "branch",
                          {"test": True}, ip="127.0.0.1")
        create_client("Davčni portal", ["http://127.0.0.1:9/cb"], [], first_party=False,
                      client_id="tax-portal")
        db.session.remove()
    return {"app": app, "idp": ANA["issuer"], "bank": ebank_and_idp,
            "officer_totp": OFFICER["totp"]}


class Checker:
    """Runs the checks on the page in front of it and keeps what it found."""

    def __init__(self, app, lang):
        from axe_playwright_python.sync_playwright import Axe

        self.app, self.lang, self.axe = app, lang, Axe()
        self.problems, self.pages = [], []

    def words(self, phrase):
        """``phrase`` (a msgid, or one with its values) as the IdP says it in this language."""
        msgid, values = phrase if isinstance(phrase, tuple) else (phrase, {})
        with self.app.test_request_context(), force_locale(self.lang):
            text = gettext(msgid, **values)
        if self.lang != "en" and text == (msgid % values if values else msgid):
            self.problems.append(f"[{self.lang}] no translation of {msgid!r}")
        return text

    def __call__(self, page, name, phrase, ebank=False, shot=None):
        page.wait_for_load_state("load")
        self.pages.append(name)
        where = f"[{self.lang}] {name} ({page.url})"
        results = self.axe.run(page, options={"runOnly": {"type": "tag", "values": TAGS},
                                              "resultTypes": ["violations"]})
        for violation in results.response["violations"]:
            targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
            self.problems.append(f"{where}: axe {violation['id']} ({violation['impact']}): "
                                 f"{violation['help']} at {targets}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            self.problems.append(f"{where}: scrolls sideways ({width} px wide at {WIDTH} px)")
        text = " ".join(page.inner_text("body").split())
        if ebank:  # the demo e-bank speaks both languages on every page
            expected = phrase
        else:
            expected = self.words(phrase)
            lang = page.evaluate("document.documentElement.lang")
            if lang != self.lang:
                self.problems.append(f"{where}: <html lang={lang!r}>")
        if expected not in text:
            self.problems.append(f"{where}: {expected!r} not on the page")
        if shot:
            os.makedirs(SHOTS, exist_ok=True)
            page.screenshot(path=os.path.join(SHOTS, f"{shot}-{self.lang}.png"), full_page=True)


def submit(page):
    page.locator("main form[method=post] [type=submit]").first.click()


def new_page(chromium, lang):
    context = chromium.new_context(locale=lang, viewport={"width": WIDTH, "height": 640})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def add_virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})


def walk_newcomer(page, check, site, lang, smtp_sink, sms_sink):
    """Login, registration (each page with and without errors), the dashboard
    and every page it leads to, recovery, passkey login, logout."""
    idp = site["idp"]
    page.goto(f"{idp}/login?lang={lang}")
    check(page, "login", "Log in")
    submit(page)
    check(page, "login with errors", "Enter your e-mail address.")

    page.goto(f"{idp}/register")
    check(page, "registration 1: details", "Registration")
    submit(page)
    check(page, "registration 1: details, empty", "Enter your e-mail address.")
    email, number = f"nova-{lang}@example.si", f"041 555 1{len(lang)}{ord(lang[0]) % 10}"
    page.fill("#email", email)
    page.fill("#password", "modra")
    page.fill("#password_repeat", "modra")
    page.fill("#phone", "12 34")
    submit(page)
    check(page, "registration 1: details, three mistakes", "Tick the box to agree to the "
          "Terms of use.", shot="issue13-details-three-errors-after")
    page.fill("#password", PASSWORD)
    page.fill("#password_repeat", PASSWORD)
    page.fill("#phone", number)
    page.check("#terms")
    submit(page)
    page.wait_for_url("**/email")
    check(page, "registration 2: e-mail code", "Confirmation code")
    page.fill("#code", "12")
    submit(page)
    check(page, "registration 2: e-mail code, wrong", "The code has 6 digits.")
    page.fill("#code", smtp_sink.last_code(email))
    submit(page)
    page.wait_for_url("**/phone")
    check(page, "registration 3: SMS code", "SMS one-time password")
    page.fill("#code", "")
    submit(page)
    check(page, "registration 3: SMS code, empty", "Enter the code.")
    page.fill("#code", sms_sink.last_code(normalise_phone(number)))
    submit(page)
    page.wait_for_url("**/puk")
    check(page, "registration 4: PUK", "PUK code")
    puk = page.inner_text("#puk")
    submit(page)
    check(page, "registration 4: PUK, not acknowledged", "Tick the box once you have stored "
          "the PUK.")
    page.check("#stored")
    submit(page)
    page.wait_for_url("**/done")
    check(page, "registration 5: choose", "You can raise your trust level later on your dashboard.",
          shot="issue13-register-last-page-320")
    page.locator("[name=finish]").click()

    page.wait_for_url(idp + "/")
    check(page, "dashboard", "Dashboard", shot="issue13-dashboard-320")
    for path, name, phrase in [
            ("/account/sessions", "active sessions", "Active sessions"),
            ("/account/services", "connected services", "Connected services"),
            ("/account/history", "security history", "Security history"),
            ("/methods", "login methods", "Login methods"),
            ("/account/email", "change e-mail", "New e-mail address"),
            ("/account/phone", "change mobile", "New mobile phone number"),
            ("/account/puk", "new PUK", "Get a new PUK"),
            ("/account/delete", "delete the account", "Delete the account"),
            ("/trust/certificate", "trust: certificate", "Confirm your identity with a "
             "certificate")]:
        page.goto(idp + path)
        check(page, name, phrase)
    page.goto(idp + "/account/password")
    check(page, "change password", "Change the password")
    page.fill("#password", "modra")
    submit(page)
    check(page, "change password, errors", "Enter the password again.")
    page.goto(idp + "/account/email")
    submit(page)
    check(page, "change e-mail, empty", "Enter your e-mail address.")

    page.goto(idp + "/methods/add/totp")
    check(page, "add an authenticator app", "Authenticator app")
    submit(page)
    check(page, "add an authenticator app, empty", "Enter the code.")
    page.goto(idp + "/methods/add/passkey")
    check(page, "add a passkey", "Passkey or security key")

    page.goto(idp + "/trust")
    check(page, "trust", "Raise your trust level")
    page.fill("#id_key", "ABCD")
    submit(page)
    check(page, "trust, wrong ID key", "Raise your trust level")
    page.goto(idp + "/trust/card")
    check(page, "trust: bank card", "Confirm your identity with a bank card")
    page.fill("#number", "4242")
    page.fill("#cvc", "1")
    submit(page)
    check(page, "trust: bank card, errors", "The security code has 3 or 4 digits.")

    page.goto(idp + "/")
    page.locator("form[action='/logout'] button").click()
    check(page, "logged out", "You are logged out")

    page.goto(idp + "/recover")
    check(page, "recovery 1: e-mail and PUK", "Password recovery")
    submit(page)
    check(page, "recovery 1: e-mail and PUK, empty", "Enter your PUK.")
    page.fill("#email", email)
    page.fill("#puk", puk)
    submit(page)
    page.wait_for_url("**/recover/*/sms")
    check(page, "recovery 2: SMS code", "SMS one-time password")
    page.fill("#code", sms_sink.last_code(normalise_phone(number)))
    submit(page)
    page.wait_for_url("**/recover/*/password")
    check(page, "recovery 3: new password", "Choose a new password")
    page.fill("#password", "modra")
    submit(page)
    check(page, "recovery 3: new password, errors", "Enter the password again.")
    page.fill("#password", "Zelena-Miza-Kava-7")
    page.fill("#password_repeat", "Zelena-Miza-Kava-7")
    submit(page)
    page.wait_for_url("**/recover/*/puk")
    check(page, "recovery 4: new PUK", "PUK code")

    page.goto(idp + "/login?interaction=gone")
    check(page, "a service's expired login", "This login has expired")
    page.goto(idp + "/register/gone/email")
    check(page, "an expired registration", "Please start again")
    page.goto(idp + "/no-such-page")
    check(page, "not found", "This page does not exist.")
    page.goto(idp + "/login/passkey")
    check(page, "passkey login", "Log in with a passkey")


def walk_ebank(page, check, site, lang):
    """The e-bank: a login at low, a payment that needs high, the ways up, "not
    now"; then consent for a third-party service."""
    bank, idp = site["bank"], site["idp"]
    page.goto(f"{idp}/login?lang={lang}")
    page.goto(bank)
    check(page, "e-bank", "Prijava / Log in", ebank=True)
    page.locator("a", has_text="Prijava / Log in").click()
    page.wait_for_url("**/login?interaction=*")
    check(page, "login for a service", "Log in")
    page.fill("#email", "ana@example.si")
    page.fill("#password", "Geslo-Test-1")
    submit(page)
    page.wait_for_url(bank + "/")
    check(page, "e-bank, logged in", "Plačilo / Payment", ebank=True)
    page.goto(bank + "/payment")
    check(page, "e-bank payment", "Plačaj / Pay", ebank=True)
    page.fill("#amount", "-1")
    page.locator("main form button[type=submit]").click()
    check(page, "e-bank payment, two mistakes", "Vpišite IBAN prejemnika.", ebank=True)
    page.fill("#amount", "25,00")
    page.fill("#to", "SI56 1910 0000 0123 438")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/trust?interaction=*")
    check(page, "trust for a service at high", (
        "These ways reach the substantial level only: not enough for %(service)s, which needs "
        "the high level. For it, visit a branch (below).", {"service": "E-banka"}))
    page.locator("#give-up").click()
    page.wait_for_url("**/callback?*")
    check(page, "e-bank after not now", "Plačilo ni bilo izvedeno", ebank=True)

    page.goto(f"{idp}/authorize?response_type=code&client_id=tax-portal&scope=openid%20email"
              "&redirect_uri=http://127.0.0.1:9/cb&state=s&nonce=n"
              "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
              "&code_challenge_method=S256")
    page.wait_for_url("**/authorize/consent/*")
    check(page, "consent", "The service will receive:")


def walk_officer(page, check, site, lang):
    """An officer: the second factor (with a wrong code first), the console,
    a person's page (with errors) and the issued ID key."""
    idp = site["idp"]
    page.goto(f"{idp}/officer?lang={lang}")
    assert "/login?next=/officer" in page.url, page.url  # and back there after the login
    page.fill("#email", OFFICER["email"])
    page.fill("#password", OFFICER["password"])
    submit(page)
    page.wait_for_url("**/verify*")
    check(page, "second factor", "Confirm your login")
    page.fill("#code", "000000")
    submit(page)
    check(page, "second factor, wrong code", "Confirm your login")
    page.fill("#code", pyotp.TOTP(site["officer_totp"]).at(time.time() + 30))
    submit(page)
    page.wait_for_url(re.compile(r"/officer(\?lang=\w+)?$"))
    check(page, "branch console", "Branch console")
    submit(page)
    check(page, "branch console, empty", "Enter an e-mail address or a mobile number.")
    page.fill("#query", "ana@example.si")
    submit(page)
    check(page, "branch console, found", "Results")
    page.locator("main a", has_text="ana@example.si").first.click()
    page.wait_for_url("**/officer/people/*")
    check(page, "branch: a person", "Verify a person")
    submit(page)
    check(page, "branch: a person, errors", "Enter the document number.")
    page.select_option("#document_type", "id_card")
    page.fill("#document_number", "IA1234567")
    page.fill("#document_expiry", "2031-06-30")
    page.fill("#given_name", "Ana")
    page.fill("#family_name", "Novak")
    page.fill("#birthdate", "1990-05-17")
    page.fill("#tax_number", "21111103")
    submit(page)
    check(page, "branch: ID key issued", "ID key:")


def walk_step_up(page, check, site, lang):
    """A person at the high level logs in with a password; the payment asks
    for more than that login gives."""
    bank, idp = site["bank"], site["idp"]
    page.goto(f"{idp}/login?lang={lang}")
    page.goto(bank + "/login")
    page.wait_for_url("**/login?interaction=*")
    page.fill("#email", "cene@example.si")
    page.fill("#password", "Geslo-Test-1")
    submit(page)
    page.wait_for_url(bank + "/")
    page.goto(bank + "/payment")
    page.fill("#amount", "10")
    page.fill("#to", "SI56 1910 0000 0123 438")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/step-up*")
    check(page, "step-up", "A stronger confirmation is needed")


@pytest.mark.parametrize("lang", ["sl", "en"])
def test_every_page_passes_axe_fits_320_px_and_speaks_the_language(chromium, site, lang,
                                                                    smtp_sink, sms_sink):
    check = Checker(site["app"], lang)
    for walk in (walk_newcomer, walk_ebank, walk_officer, walk_step_up):
        page = new_page(chromium, lang)
        try:
            args = (smtp_sink, sms_sink) if walk is walk_newcomer else ()
            walk(page, check, site, lang, *args)
        finally:
            page.context.close()
    assert len(check.pages) >= 50, check.pages
    assert check.problems == [], "\n".join(check.problems)


def test_a_missing_label_is_found(chromium, site):
    """The check has teeth: the login page without its e-mail label fails axe."""
    check = Checker(site["app"], "en")
    page = new_page(chromium, "en")
    page.goto(site["idp"] + "/login?lang=en")
    page.evaluate("document.querySelector('label[for=email]').remove()")
    check(page, "login without a label", "Log in")
    page.context.close()
    assert any("axe label" in p for p in check.problems), check.problems


def test_passkey_offered_in_the_email_field(chromium, site):
    """Chromium with a passkey (its virtual authenticator answers at once): the
    login page asks for passkeys when it loads (conditional mediation) and the
    person lands where the login was asked for, as with a password. Without a
    passkey the page waits quietly; without the feature it asks nothing."""
    idp = site["idp"]
    page = new_page(chromium, "en")
    add_virtual_authenticator(page)
    page.goto(f"{idp}/login?lang=en")
    page.fill("#email", "ana@example.si")
    page.fill("#password", "Geslo-Test-1")
    submit(page)
    page.goto(idp + "/methods/add/passkey")
    page.fill("#name", "Chromium")
    submit(page)
    page.wait_for_url(idp + "/methods")
    page.goto(idp + "/")
    page.locator("form[action='/logout'] button").click()
    with page.expect_response("**/login/passkey/options") as options:
        page.goto(idp + "/account/sessions")  # logged out: to the login page, then back
    assert options.value.status == 200
    page.wait_for_url(idp + "/account/sessions")
    assert page.inner_text("h1") == "Active sessions"
    page.context.close()

    for lang in ("sl", "en"):
        page = new_page(chromium, lang)
        with page.expect_response("**/login/passkey/options"):
            page.goto(f"{idp}/login?lang={lang}")
        page.wait_for_timeout(300)
        assert "/login" in page.url and page.locator(".error-summary").count() == 0
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"issue13-passkey-autofill-login-{lang}.png"),
                        full_page=True)
        page.context.close()

    page = new_page(chromium, "en")
    page.add_init_script("delete PublicKeyCredential.isConditionalMediationAvailable")
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{idp}/login?lang=en")
    page.wait_for_timeout(300)
    assert not [url for url in asked if "/passkey/options" in url]
    assert page.locator("#passkey-login").inner_text() == "Log in with a passkey"
    page.context.close()
