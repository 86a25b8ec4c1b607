"""What an outside attack on the running IdP found, one regression test (or
table) per finding; the spelling variants of finding 1 are in
``test_spelling_variants.py``. Each of these failed on the code before the fix."""

import base64
import json
import re
import time

import pytest

from helpers import PASSWORD, csrf_token, query_of
from idp.accounts.models import User
from idp.accounts.puk import issue_puk
from idp.audit import AuditEvent
from idp.authn.methods.models import LoginMethod
from idp.extensions import db
from idp.timeutil import utcnow
from people import Person
from test_token import decode_id_token

EVIL = '<meta http-equiv=refresh content=0;url=http://attacker/>'


def events(event):
    return db.session.execute(db.select(AuditEvent).filter_by(event=event)).scalars().all()


# -- 2. claims only within the client's scopes and the person's consent ---------------------

CLAIMS = json.dumps({"userinfo": {"email": None, "phone_number": None, "name": None},
                     "id_token": {"email": None, "phone_number": None}})


def consent_page(client, flow, oauth_client, **params):
    f = flow(oauth_client)
    response = f.login(f.start(scope="openid", claims=CLAIMS, **params), "ana@example.si")
    path, html = f.follow_to_page(response)
    return f, path, html


def allow(client, path, html):
    return client.post(path, data={"csrf_token": csrf_token(html), "allow": "Allow"})


def test_claims_cannot_reach_beyond_the_clients_scopes(client, flow, make_client, ana):
    third_party, secret = make_client(scope="openid", first_party=False)
    f, path, html = consent_page(client, flow, third_party)
    assert path.startswith("/authorize/consent/")
    # Nothing but the login itself is offered, and nothing more is released.
    assert 'class="scopes"' not in html
    params, _ = f.follow_to_rp(allow(client, path, html))
    tokens = f.exchange(params["code"], secret=secret).get_json()
    claims = decode_id_token(client, tokens["id_token"], audience=third_party.client_id).claims
    assert not {"email", "phone_number", "name"} & set(claims)
    info = client.get("/userinfo",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert set(info) == {"sub", "trust_level"}


def test_claims_asked_by_name_are_on_the_consent_page_and_in_the_consent(
        client, flow, make_client, ana):
    third_party, secret = make_client(scope="openid profile email phone", first_party=False)
    f, path, html = consent_page(client, flow, third_party)
    assert path.startswith("/authorize/consent/")
    for shown in ("vaše ime", "vaš e-naslov", "vašo številko mobilnega telefona"):
        assert shown in html, shown
    params, _ = f.follow_to_rp(allow(client, path, html))
    tokens = f.exchange(params["code"], secret=secret).get_json()
    claims = decode_id_token(client, tokens["id_token"], audience=third_party.client_id).claims
    assert claims["email"] == "ana@example.si" and claims["phone_number"] == "+38641123123"
    from idp.oauth.models import Consent

    consent = db.session.execute(db.select(Consent)).scalar_one()
    assert sorted(consent.scope.split()) == ["email", "openid", "phone", "profile"]


def test_a_later_request_for_more_claims_asks_again(client, flow, make_client, ana):
    third_party, secret = make_client(scope="openid profile email phone", first_party=False)
    f = flow(third_party)
    path, html = f.follow_to_page(f.login(f.start(scope="openid email"), "ana@example.si"))
    f.follow_to_rp(allow(client, path, html))
    # The same scope plus a phone number asked for by name: consent again.
    response = f.start(scope="openid email", claims=json.dumps({"userinfo": {
        "phone_number": None}}))
    path, html = f.follow_to_page(response)
    assert path.startswith("/authorize/consent/")
    assert "vašo številko mobilnega telefona" in html
    # And with prompt=none it is an error, not a release.
    params, _ = f.follow_to_rp(f.start(scope="openid email", prompt="none", claims=json.dumps(
        {"id_token": {"phone_number": None}})))
    assert params["error"] == "consent_required"


# -- 3. links are built from IDP_ISSUER; other hosts are refused ----------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "localhost.evil.example"])
def test_forged_hosts_are_refused(client, host):
    response = client.get("/login", headers={"Host": host})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Unknown host.\n"


def test_forwarded_host_is_ignored_without_a_trusted_proxy(client):
    response = client.get("/login", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200
    assert "evil.example" not in response.get_data(as_text=True)


def test_forwarded_host_is_refused_behind_a_trusted_proxy(backend, tmp_path):
    from idp import create_app

    proxied = create_app({**backend, "TRUSTED_PROXIES": 1})
    http = proxied.test_client()
    assert http.get("/login", headers={"X-Forwarded-Host": "evil.example"}).status_code == 400
    assert http.get("/login", headers={"X-Forwarded-Host": "localhost"}).status_code == 200


def test_mail_links_name_the_issuer_whatever_the_host(client, make_user, smtp_sink):
    make_user(email="ana@example.si")
    page = client.get("/register").get_data(as_text=True)
    client.post("/register", headers={"Host": "localhost:8080"}, data={
        "csrf_token": csrf_token(page), "email": "ana@example.si", "password": "Modra-Lipa-42",
        "password_repeat": "Modra-Lipa-42", "phone_region": "SI", "phone": "041 555 123",
        "terms": "y"})
    body = smtp_sink.to("ana@example.si")[-1].get_body(("plain",)).get_content()
    assert "http://localhost:5000/login" in body and "http://localhost:5000/recover" in body
    assert not re.search(r"https?://(?!localhost:5000/)", body)


# -- 4. no taken-address oracle on the dashboard (the spellings: test_spelling_variants) -----

def test_the_email_change_is_rate_limited(app, client, ana_person):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    statuses = [ana_person.post("/account/email", email=f"x{i}@example.si").status_code
                for i in range(4)]
    assert statuses == [302, 302, 302, 429]


# -- 5. every rise in a session's strength gives it a new secret -----------------------------

def session_cookie(client):
    cookie = client.get_cookie("idp_session")
    return cookie.value if cookie else None


def test_a_cookie_from_before_a_re_authentication_is_dead(app, client, ana_person):
    before = session_cookie(client)
    with client.session_transaction() as session:
        session["verified_at"] = 0
    response = client.get("/account/password")
    verify = response.headers["Location"]
    reauth = client.get(verify)
    response = ana_person.follow(ana_person.post(reauth.headers["Location"], method="password",
                                                 password=PASSWORD))
    assert response.status_code == 200
    assert session_cookie(client) != before
    thief = app.test_client()
    thief.set_cookie("idp_session", before)
    assert thief.get("/").status_code == 302  # to the login page: the old secret is gone


# A cookie from before a step-up: test_step_up.py,
# test_a_cookie_captured_before_a_step_up_is_dead.


# -- 6. never a 5xx from the authorization endpoint -------------------------------------------

NASTY = ['"', "\\", "\x00", "é", "\u202e", "%", "<script>", " ", "\r\n", "x" * 3000]
PARAMETERS = ["response_type", "redirect_uri", "client_id", "scope", "state", "nonce", "prompt",
              "max_age", "acr_values", "claims", "code_challenge", "code_challenge_method",
              "ui_locales", "login_hint", "id_token_hint", "response_mode", "request",
              "request_uri"]


@pytest.mark.parametrize("name", PARAMETERS)
def test_authorize_never_answers_5xx(client, rp, name):
    for value in NASTY:
        params = {"response_type": "code", "client_id": rp.client_id,
                  "redirect_uri": rp.redirect_uris[0], "scope": "openid"}
        params[name] = params.get(name, "") + value
        response = client.get("/authorize", query_string=params)
        assert response.status_code < 500, (name, value, response.status_code)


@pytest.mark.parametrize("name, value", [("response_type", 'code"'),
                                         ("response_type", "codé"),
                                         ("redirect_uri", "https://rp.example/cb\\"),
                                         ("redirect_uri", "https://rp.example/cb\u202e"),
                                         ("redirect_uri", "https://rp.example/cb\x00")])
def test_odd_characters_get_a_clear_page(client, rp, name, value):
    params = {"response_type": "code", "client_id": rp.client_id,
              "redirect_uri": rp.redirect_uris[0], "scope": "openid", name: value}
    response = client.get("/authorize", query_string=params)
    assert response.status_code == 400
    assert "invalid_request" in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["/token", "/introspect", "/revoke", "/userinfo", "/logout"])
def test_the_other_endpoints_never_answer_5xx(client, rp, endpoint):
    auth = {"Authorization": "Basic " + base64.b64encode(
        f"{rp.client_id}:{rp.secret}".encode()).decode()}
    for name in ("grant_type", "code", "redirect_uri", "refresh_token", "scope", "client_id",
                 "token", "token_type_hint", "code_verifier", "id_token_hint",
                 "post_logout_redirect_uri", "state"):
        for value in NASTY:
            response = client.post(endpoint, data={"grant_type": "authorization_code",
                                                   name: "x" + value}, headers=auth)
            assert response.status_code < 500, (endpoint, name, value)


# -- 7. what people name is escaped everywhere it is shown ----------------------------------

def test_a_method_named_like_markup_is_shown_as_text(client, ana_person):
    response = ana_person.follow(ana_person.add_totp(at=time.time(), name=EVIL))
    pages = [response.get_data(as_text=True)]
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    for url in ("/methods", "/", "/account/history", f"/methods/{row.id}/remove"):
        pages.append(client.get(url).get_data(as_text=True))
    removed = ana_person.follow(ana_person.post(f"/methods/{row.id}/remove"))
    pages.append(removed.get_data(as_text=True))
    assert any("&lt;meta http-equiv=refresh" in page for page in pages[:2])
    for page in pages:
        assert "<meta http-equiv=refresh" not in page


def test_names_from_a_card_are_shown_as_text(app, client, make_user):
    from test_trust import SpyGateway, card_data

    make_user(email="bor@example.si")
    app.extensions["idp_card_gateway"] = SpyGateway()
    person = Person(client, "bor@example.si")
    person.follow(person.login())
    response = person.post("/trust/card", **card_data(given_name="<b>Bor</b>",
                                                      family_name=EVIL))
    assert response.status_code == 302
    for url in ("/", "/trust", response.headers["Location"]):
        page = client.get(url).get_data(as_text=True)
        assert "<meta http-equiv=refresh" not in page and "<b>Bor</b>" not in page


def test_lazy_messages_are_escaped_in_html_and_plain_in_text(app):
    from markupsafe import Markup, escape

    from idp.i18n import lazy_gettext

    message = lazy_gettext("Added: %(name)s.", name=EVIL)
    with app.test_request_context():
        assert str(message).endswith(f": {EVIL}.")  # as it is, for plain-text mail
        assert "&lt;meta http-equiv=refresh" in Markup(escape(message))
        assert "<meta" not in Markup(escape(message))


# -- 8. strangers cannot take a person's recovery away -----------------------------------

@pytest.mark.parametrize("failures, seconds", [(4, 0), (5, 900), (6, 1800), (7, 3600),
                                               (11, 57600), (12, 86400), (40, 86400)])
def test_the_puk_lock_grows_and_is_bounded(failures, seconds):
    from idp.accounts.service import puk_lock_seconds

    assert puk_lock_seconds(failures, 5, 900, 86400) == seconds


def test_a_puk_lock_ends_by_itself_and_tells_the_owner(app, client, make_user, smtp_sink):
    user = make_user(email="ana@example.si")
    puk, user.puk_hash = issue_puk()
    db.session.commit()

    def recover(typed):
        page = client.get("/recover").get_data(as_text=True)
        return client.post("/recover", data={"csrf_token": csrf_token(page),
                                             "email": "ana@example.si", "puk": typed})

    for _ in range(app.config["PUK_MAX_FAILURES"]):
        recover("AAAAAAAA")
    assert recover(puk).status_code == 429
    notice = smtp_sink.to("ana@example.si")[-1].get_body(("plain",)).get_content()
    assert "začasno zaklenjena" in notice
    # 15 minutes later the right PUK works again (the lock was not for ever).
    db.session.expire_all()
    locked = db.session.get(User, user.id)
    locked.puk_locked_at = utcnow().replace(microsecond=0) - __import__("datetime").timedelta(
        seconds=app.config["PUK_LOCK_SECONDS"] + 1)
    db.session.commit()
    assert recover(puk).status_code == 302
    assert db.session.get(User, user.id).puk_failures == 0


def test_a_wrong_puk_after_a_lock_locks_for_twice_as_long(app, client, make_user):
    user = make_user(email="ana@example.si")
    puk, user.puk_hash = issue_puk()
    user.puk_failures = app.config["PUK_MAX_FAILURES"]
    user.puk_locked_at = utcnow() - __import__("datetime").timedelta(seconds=901)
    db.session.commit()
    page = client.get("/recover").get_data(as_text=True)
    response = client.post("/recover", data={"csrf_token": csrf_token(page),
                                             "email": "ana@example.si", "puk": "AAAAAAAA"})
    assert response.status_code == 429
    assert events("puk_locked")[-1].details["seconds"] == 1800


# -- 9. max_age=0 is prompt=login --------------------------------------------------------------

def test_max_age_zero_asks_for_a_new_login_even_in_the_same_second(client, flow, rp, ana):
    f = flow(rp)
    f.code("ana@example.si")
    params, _ = f.follow_to_rp(f.start(prompt="none", max_age="0"))
    assert params["error"] == "login_required"
    response = f.start(max_age="0")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# -- 10. the demo e-bank's pages cannot be framed ----------------------------------------------

def test_the_ebank_sends_frame_protection_and_a_referrer_policy():
    from clients.ebank import create_app as create_ebank

    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True).as_dict(private=True)
    bank = create_ebank({"ISSUER": "http://localhost:5000", "URL": "http://localhost:5001",
                         "CLIENT_ID": "ebank", "CLIENT_KEY": key, "SECRET_KEY": "t"})
    response = bank.test_client().get("/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- 11. undecodable Basic credentials are a 401 with a challenge ----------------------------

def test_basic_credentials_that_are_not_utf8_get_401(client):
    garbage = base64.b64encode(b"\xff\xfe:\xff").decode()
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic " + garbage})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


# -- the classes: every POST behind a limit or exempt for a stated reason ----------------------

def test_every_post_endpoint_is_limited_or_exempt_for_a_reason(app):
    from idp import ratelimits

    posts = {rule.endpoint for rule in app.url_map.iter_rules()
             if "POST" in rule.methods and rule.endpoint != "static"}
    unknown = posts - set(ratelimits.TYPED_ENDPOINTS) - set(ratelimits.UNLIMITED_ENDPOINTS)
    assert not unknown, f"POST endpoints with no limit and no stated reason: {sorted(unknown)}"
    assert not set(ratelimits.TYPED_ENDPOINTS) & set(ratelimits.UNLIMITED_ENDPOINTS)


@pytest.mark.parametrize("address, key", [
    ("192.0.2.7", "ip:192.0.2.7"),
    ("::ffff:192.0.2.7", "ip:192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"),
    ("fe80::1%eth0", "ip:fe80::/64"),
])
def test_client_ips_are_counted_by_host_and_ipv6_by_64(address, key):
    from idp.ratelimits import ip_key

    assert ip_key(address) == key


def test_an_outage_at_sending_charges_no_send(app, client, smtp_sink):
    app.config["SENDS_PER_ADDRESS_PER_HOUR"] = 1
    smtp_sink.refuse = True  # the mail server is down: nothing is sent, nothing counted
    page = client.get("/register").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "email": "nova@example.si",
            "password": "Modra-Lipa-42", "password_repeat": "Modra-Lipa-42",
            "phone_region": "SI", "phone": "041 555 123", "terms": "y"}
    assert client.post("/register", data=data).status_code == 302
    assert not smtp_sink.to("nova@example.si")
    smtp_sink.refuse = False
    assert client.post("/register", data=data).status_code == 302
    assert len(smtp_sink.to("nova@example.si")) == 1
    assert client.post("/register", data=data).status_code == 429


# -- a deleted client's tokens die with it ---------------------------------------------------

def test_the_tokens_of_a_deleted_client_stop_working(client, flow, rp, make_client, ana):
    from idp.oauth.clients import delete_client
    from idp.oauth.models import OAuthClient

    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    other, other_secret = make_client(name="Davčna")
    delete_client(db.session.get(OAuthClient, rp.id))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    for kind in ("access_token", "refresh_token"):
        record = client.post("/introspect", data={"token": tokens[kind]},
                             auth=(other.client_id, other_secret)).get_json()
        assert record == {"active": False}, kind


# -- parallel requests cannot pass a send limit together --------------------------------------

def test_parallel_registrations_send_no_more_than_the_limit(live_idp, smtp_sink):
    """Each send is counted before it goes out, atomically: 12 parallel
    registrations for one address deliver exactly the hourly limit of mails."""
    import threading

    import requests as http

    live_idp.app.config.update(SENDS_PER_ADDRESS_PER_HOUR=3, LOGIN_RATE_LIMIT="1000 per minute")
    smtp_sink.clear()
    sessions = []
    for _ in range(12):
        browser = http.Session()
        page = browser.get(live_idp.url + "/register", timeout=10).text
        sessions.append((browser, csrf_token(page)))
    start = threading.Barrier(len(sessions))
    answers = []

    def register(browser, token):
        start.wait()
        answers.append(browser.post(live_idp.url + "/register", timeout=30, data={
            "csrf_token": token, "email": "zrtev@example.si", "password": "Modra-Lipa-42",
            "password_repeat": "Modra-Lipa-42", "phone_region": "SI",
            "phone": "041 555 123", "terms": "y"}, allow_redirects=False).status_code)

    threads = [threading.Thread(target=register, args=pair) for pair in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 12
    assert len(smtp_sink.to("zrtev@example.si")) == 3


# -- what a stranger sends is never quoted into an error Authlib cannot build -----------------

def test_repeated_parameters_with_odd_names_get_a_clear_page(client, rp):
    response = client.get("/authorize?response_type=code&client_id=" + rp.client_id
                          + "&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid"
                          + '&x%22%5C=1&x%22%5C=2')
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


@pytest.mark.parametrize("field, value", [
    ("scope", 'openid "evil\\'), ("scope", "openid \x7f"), ("grant_types", ['"x\\']),
    ("jwks", None), ("jwks", {}), ("jwks", {"keys": None}), ("client_name", "a\x00b"),
])
def test_odd_registration_metadata_is_refused_not_a_500(client, field, value):
    from idp.oauth.registration import issue_initial_access_token
    from test_registration_endpoint import GOOD, register

    token = issue_initial_access_token(uses=5, actor="test")[0]
    body = dict(GOOD, **{field: value})
    if field == "jwks":
        body["token_endpoint_auth_method"] = "private_key_jwt"
    response = register(client, token, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"


# -- a stranger's wrong passwords cannot shut the owner out of a passkey login ----------------

def test_a_lock_from_wrong_passwords_leaves_the_passkey_login_open(app, client, make_user):
    from softauthn import SoftAuthenticator

    make_user(email="ana@example.si")
    person = Person(client, "ana@example.si")
    person.follow(person.login())
    key = SoftAuthenticator(uv=True)
    assert person.add_passkey(key).status_code == 302
    client.post("/logout", data={"csrf_token": person.token("/")})
    stranger = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        Person(stranger, "ana@example.si").login(password="Napacno-Geslo-1")
    assert person.login().status_code == 429  # the password route is locked ...
    start = client.get("/login/passkey")
    done = person.follow(person.answer_passkey(start.headers["Location"], key))
    assert done.status_code == 200 and "ana@example.si" in done.get_data(as_text=True)


def test_a_refused_reservation_gives_back_what_it_took(app):
    """Over the per-IP limit, the address's count taken a moment before is
    given back: another IP can still send to it."""
    from idp.codes import release_send, reserve_send

    app.config.update(SENDS_PER_ADDRESS_PER_HOUR=2, SENDS_PER_IP_PER_HOUR=1)
    with app.test_request_context():
        assert reserve_send("192.0.2.1", "ana@example.si")
        assert not reserve_send("192.0.2.1", "ana@example.si")  # the IP is used up
        assert reserve_send("192.0.2.2", "ana@example.si")      # the address was not charged
        assert not reserve_send("192.0.2.3", "ana@example.si")  # now the address is used up
        release_send("192.0.2.2", "ana@example.si")             # that one did not go out
        assert reserve_send("192.0.2.3", "ana@example.si")
