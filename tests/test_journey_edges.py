"""The rough edges of "register, raise the level at a branch, pay in the
e-bank": a login asked for by a page returns to it (never to another site),
a passkey offers itself in the login page's e-mail field and lands where a
password login would, a step-up names who asks for what and offers the
passkey first, the ways up say when they are not enough, the officer reads
the officer's words and a date, a waiting ID key is offered on the dashboard,
and the e-bank says what happened without an error code."""

import json
import os
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, format_datetime
from jinja2 import Environment, FileSystemLoader, select_autoescape

import test_trust
from helpers import PASSWORD, T0, csrf_token, query_of
from idp.accounts.models import User
from idp.extensions import db
from idp.trust.models import IdKey
from people import Person
from softauthn import SoftAuthenticator
from test_trust import english, issue_at_desk

# The officer's browser of the trust tests (logged in with an authenticator app).
officer, desk = test_trust.officer, test_trust.desk

HIGH = "http://eidas.europa.eu/LoA/high"


def log_in_from(client, page, email="ana@example.si"):
    """Open ``page`` logged out, follow it to the login page and log in there
    as that page's form would; returns the login's answer."""
    english(client)
    response = client.get(page)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    html = client.get(login_url).get_data(as_text=True)
    next_value = re.search(r'name="next" type="hidden" value="([^"]*)"', html).group(1)
    return login_url, client.post("/login", data={
        "csrf_token": csrf_token(html), "email": email, "password": PASSWORD,
        "interaction": "", "next": next_value})


@pytest.mark.parametrize("page", ["/trust", "/account/sessions", "/methods"])
def test_a_login_asked_for_by_a_page_returns_to_it(client, ana, page):
    login_url, response = log_in_from(client, page)
    assert login_url == "/login?next=" + page
    assert response.status_code == 302 and response.headers["Location"] == page


def test_the_officer_console_returns_to_itself_after_the_second_factor(app, officer, clock):
    browser = app.test_client()
    english(browser)
    assert browser.get("/officer").headers["Location"] == "/login?next=/officer"
    person = Person(browser, officer["email"])
    html = browser.get("/login?next=/officer").get_data(as_text=True)
    response = browser.post("/login", data={
        "csrf_token": csrf_token(html), "email": officer["email"], "password": PASSWORD,
        "next": "/officer"})
    person.totp_secret = officer["secret"]
    done = person.answer_totp(response.headers["Location"], T0)
    assert done.status_code == 302 and done.headers["Location"] == "/officer"


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example", "https://evil.example/trust", "/\\evil.example",
    "/\tevil.example", "javascript:alert(1)", "evil.example", "///evil.example"])
def test_a_next_to_another_site_is_refused(client, ana, target):
    english(client)
    html = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next" type="hidden" value=""' in html
    assert not re.search(r'(href|action)="[^"/]*//[^"]*evil|(href|action)="javascript', html)
    response = client.post("/login", data={
        "csrf_token": csrf_token(html), "email": "ana@example.si", "password": PASSWORD,
        "next": target})  # typed into the form by hand: refused again
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_next_is_ignored_while_a_service_waits(client, flow, rp, ana):
    start = flow(rp).start()
    iid = query_of(start.headers["Location"])["interaction"]
    html = client.get(f"/login?interaction={iid}&next=/trust").get_data(as_text=True)
    response = client.post("/login", data={
        "csrf_token": csrf_token(html), "email": "ana@example.si", "password": PASSWORD,
        "interaction": iid, "next": "/trust"})
    assert response.headers["Location"] == f"/authorize/resume/{iid}"


# -- passkeys that offer themselves ------------------------------------------------------

@pytest.fixture
def ana_key(client, ana_person):
    """Ana with a passkey that verifies her, logged out again."""
    key = SoftAuthenticator(uv=True)
    assert ana_person.add_passkey(key).status_code == 302
    client.post("/logout", data={"csrf_token": ana_person.token("/")})
    return key


def autofill(client, key, **fields):
    """What static/passkey-autofill.js does: fetch the options with the login
    page's token, let the browser pick the passkey, post its answer."""
    html = client.get("/login", query_string=fields).get_data(as_text=True)
    form = re.search(r'<form method="post" id="passkey-autofill" hidden '
                     r'data-options="([^"]+)">(.*?)</form>', html, re.S)
    assert form, "no autofill form on the login page"
    data = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    answer = client.post(form.group(1), data=data)
    assert answer.status_code == 200, answer.data
    body = answer.get_json()
    options = body["options"]
    assert options["allowCredentials"] == []  # the browser offers what it holds
    assert options["userVerification"] == "required"
    assertion = key.get(options, origin="http://localhost:5000")
    return client.post(body["action"], data={**data, "credential": json.dumps(assertion)})


def test_the_login_page_asks_the_browser_for_passkeys_in_the_email_field(client):
    english(client)
    html = client.get("/login").get_data(as_text=True)
    assert re.search(r'<input autocomplete="username webauthn"[^>]*id="email"', html)
    assert '<script src="/static/passkey-autofill.js" defer></script>' in html
    assert 'id="passkey-login" href="/login/passkey"' in html  # the explicit button stays
    assert ">Log in with a passkey</a>" in html


def test_a_passkey_from_the_autofill_lands_on_the_dashboard(client, ana_key):
    response = autofill(client, ana_key)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "ana@example.si" in client.get("/").get_data(as_text=True)


def test_a_passkey_from_the_autofill_returns_to_the_page_that_asked(client, ana_key):
    english(client)
    assert client.get("/trust").headers["Location"] == "/login?next=/trust"
    response = autofill(client, ana_key, next="/trust")
    assert response.status_code == 302 and response.headers["Location"] == "/trust"


def test_the_passkey_button_returns_to_the_page_that_asked(client, ana_key, ana_person):
    html = client.get("/login?next=/account/sessions").get_data(as_text=True)
    assert 'href="/login/passkey?next=/account/sessions"' in html
    start = client.get("/login/passkey?next=/account/sessions")
    response = ana_person.answer_passkey(start.headers["Location"], ana_key)
    assert response.status_code == 302 and response.headers["Location"] == "/account/sessions"


def test_a_passkey_from_the_autofill_continues_to_the_waiting_service(client, flow, rp, ana_key):
    start = flow(rp).start()
    iid = query_of(start.headers["Location"])["interaction"]
    response = autofill(client, ana_key, interaction=iid)
    assert response.headers["Location"] == f"/authorize/resume/{iid}"


def test_autofill_options_need_the_pages_token_and_a_live_request(client, ana_key):
    assert client.post("/login/passkey/options", data={}).status_code == 400
    html = client.get("/login").get_data(as_text=True)
    response = client.post("/login/passkey/options", data={
        "csrf_token": csrf_token(html), "interaction": "gone"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "interaction_expired"}


def test_an_unknown_passkey_from_the_autofill_gets_the_passkey_page(client, ana_key):
    stranger = SoftAuthenticator(uv=True)  # a passkey of this site never registered here
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": "eA"}, "challenge": "Yw"},
                    origin="http://localhost:5000")
    response = autofill(client, stranger, lang="en")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This key is not registered with any account here." in html
    assert 'value="Use my passkey"' in html  # and the explicit way to try again


# -- step-up, the ways up, the branch ------------------------------------------------------

def test_the_step_up_offers_the_passkey_and_names_service_and_level(client, flow, make_client,
                                                                     ana_person, clock):
    english(client)
    ana_person.add_totp(T0)
    ana_person.add_passkey(SoftAuthenticator(uv=True))
    client.post("/logout", data={"csrf_token": ana_person.token("/")})
    ana = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    ana.trust_level = "high"
    db.session.commit()
    strict, _ = make_client(name="Plačila", min_acr=HIGH)
    f = flow(strict)
    second = f.login(f.start(), "ana@example.si")  # password and app: substantial, not high
    clock["now"] += 30
    answered = ana_person.answer_totp(second.headers["Location"], clock["now"])
    path, html = f.follow_to_page(answered)
    assert "/verify" in path  # the step-up goes straight to the passkey
    assert '<p class="lead" id="step-up-reason">Plačila needs a login at the high level.</p>' \
        in html
    assert 'id="webauthn-form"' in html and 'value="Use my passkey"' in html


def test_the_ways_up_say_when_they_are_not_enough(client, flow, make_client, ana_person):
    english(client)
    strict, _ = make_client(name="Plačila", min_acr=HIGH)
    path, html = flow(strict).follow_to_page(flow(strict).start())
    assert path.startswith("/trust?interaction=")
    assert ('<p id="not-enough">These ways reach the substantial level only: not enough for '
            'Plačila, which needs the high level. For it, visit a branch (below).</p>') in html
    assert "at your next login" not in html


def test_the_officer_reads_the_officers_words(desk, make_user):
    high = make_user(email="visok@example.si", given_name="Ana", family_name="Novak")
    high.trust_level = "high"
    db.session.commit()
    response = issue_at_desk(desk, high)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This account is at the high level already: it needs no ID key." in html
    assert "Your trust level" not in html


def test_the_id_key_page_gives_the_expiry_as_a_date(app, desk, ana):
    response = issue_at_desk(desk, ana)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    row = db.session.execute(db.select(IdKey).filter_by(user_id=ana.id)).scalar_one()
    assert abs(row.expires_at - row.created_at - timedelta(hours=72)) < timedelta(seconds=1)
    with app.test_request_context(), force_locale("en"):
        when = format_datetime(row.expires_at, "short")
    assert (f'<p id="id-key-expiry">The person must enter it before {when}, on the page Raise '
            'your trust level (the dashboard reminds them).</p>') in html
    assert "expires soon" not in html


def test_a_waiting_id_key_is_offered_on_the_dashboard(app, client, desk, ana):
    english(client)
    person = Person(client, "ana@example.si")
    assert "id-key-waiting" not in person.follow(person.login()).get_data(as_text=True)
    issue_at_desk(desk, ana)
    html = client.get("/").get_data(as_text=True)
    row = db.session.execute(db.select(IdKey).filter_by(user_id=ana.id)).scalar_one()
    with app.test_request_context(), force_locale("en"):
        when = format_datetime(row.expires_at, "short")
    assert (f'id="id-key-waiting">An ID key from a branch is waiting for you until {when}. '
            '<a href="/trust">Enter the ID key</a>') in html


def test_no_reminder_once_the_key_is_used_or_expired(client, desk, ana):
    english(client)
    issue_at_desk(desk, ana)
    row = db.session.execute(db.select(IdKey).filter_by(user_id=ana.id)).scalar_one()
    row.expires_at = row.created_at  # expired
    db.session.commit()
    person = Person(client, "ana@example.si")
    assert "id-key-waiting" not in person.follow(person.login()).get_data(as_text=True)


# -- the e-bank's words ------------------------------------------------------------------

EBANK_TEMPLATES = os.path.join(os.path.dirname(__file__), os.pardir, "clients", "ebank",
                               "templates")


def ebank_page(error, logged_in=True):
    env = Environment(loader=FileSystemLoader(EBANK_TEMPLATES), autoescape=select_autoescape())
    session = {"login": {"claims": {}}} if logged_in else {}
    return env.get_template("ebank_error.html").render(session=session, error=error,
                                                       description="The person could not "
                                                       "reach level 'high'.")


def visible_text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize("error", ["unmet_authentication_requirements", "access_denied",
                                   "interaction_required", "temporarily_unavailable",
                                   "invalid_grant"])
def test_the_ebank_never_shows_an_error_code(error):
    text = visible_text(ebank_page(error))
    assert error not in text and "level 'high'" not in text
    assert f'data-error="{error}"' in ebank_page(error)  # for programs and tests only


def test_after_not_now_the_ebank_says_what_happened_and_what_works():
    text = visible_text(ebank_page("unmet_authentication_requirements"))
    assert "Plačilo ni bilo izvedeno / The payment was not made" in text
    assert "V E-banki ste še vedno prijavljeni." in text
    assert "You are still logged in to the e-bank." in text
    assert "Obiščite poslovalnico z osebnim dokumentom." in text
    assert "Kvalificirano digitalno potrdilo ali bančna kartica dosežeta le srednji nivo" in text
    assert "upravni enoti" not in text and "Prijava ni uspela" not in text
    assert "Nazaj na plačilo / Back to the payment" in text


def test_logged_out_the_ebank_does_not_say_you_are_logged_in():
    text = visible_text(ebank_page("unmet_authentication_requirements", logged_in=False))
    assert "še vedno prijavljeni" not in text and "Back to the payment" not in text

