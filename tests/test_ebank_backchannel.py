"""The demo e-bank's back-channel logout endpoint: it validates logout tokens
as Back-Channel Logout 1.0 (2.6) asks, and a logout at the IdP ends the
person's e-bank session although the e-bank holds no cookie of that call."""

import re
import secrets
import threading
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from werkzeug.serving import make_server

from clients.ebank import create_app as create_ebank
from clients.ebank.backchannel import LoggedOut, LogoutTokenError, validate_logout_token
from helpers import PASSWORD, csrf_token
from sinks import free_port

ISSUER = "https://idp.example"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


class StaticKeys:
    def keyset(self, kid):
        return KeySet([KEY])


def logout_token(key=KEY, header=None, drop=(), **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "ebank", "iat": now, "exp": now + 120,
            "jti": secrets.token_urlsafe(8), "sub": "sub-1", "sid": "sid-1",
            "events": {EVENT: {}}}
    body.update(claims)
    for name in drop:
        body.pop(name)
    head = {"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}
    head.update(header or {})
    return jwt.encode(head, body, key)


def check(raw, logged_out=None):
    return validate_logout_token(raw, ISSUER, "ebank", StaticKeys(), logged_out or LoggedOut())


def test_a_valid_logout_token():
    claims = check(logout_token())
    assert claims["sid"] == "sid-1" and claims["sub"] == "sub-1"
    assert check(logout_token(aud=["other", "ebank"]))["sid"] == "sid-1"
    assert check(logout_token(drop=("sid",)))["sub"] == "sub-1"  # sub alone is enough


@pytest.mark.parametrize("raw, reason", [
    (lambda: None, "logout_token is missing"),
    (lambda: "", "logout_token is missing"),
    (lambda: "not-a-jwt", "logout_token is not a JWT"),
    (lambda: "a.b.c", "logout_token is not a JWT"),
    (lambda: logout_token(header={"typ": "JWT"}), "not a logout token (typ)"),
    (lambda: logout_token(header={"typ": "at+jwt"}), "not a logout token (typ)"),
    (lambda: logout_token(key=OTHER_KEY), "signature"),
    (lambda: logout_token(key=ECKey.generate_key("P-256"), header={"alg": "ES256"}), "signature"),
    (lambda: logout_token(iss="https://evil.example"), "wrong issuer"),
    (lambda: logout_token(aud="someone-else"), "not meant for this client (aud)"),
    (lambda: logout_token(iat=int(time.time()) - 600), "iat is missing or not recent"),
    (lambda: logout_token(iat=int(time.time()) + 600), "iat is missing or not recent"),
    (lambda: logout_token(drop=("iat",)), "iat is missing or not recent"),
    (lambda: logout_token(exp=int(time.time()) - 120), "expired"),
    (lambda: logout_token(drop=("events",)), "no back-channel logout event"),
    (lambda: logout_token(events={"http://example.com/other": {}}), "no back-channel logout event"),
    (lambda: logout_token(events={EVENT: "yes"}), "no back-channel logout event"),
    (lambda: logout_token(nonce="n-1"), "a logout token must not have a nonce"),
    (lambda: logout_token(drop=("sid", "sub")), "neither sid nor sub"),
    (lambda: logout_token(drop=("jti",)), "no jti"),
])
def test_invalid_logout_tokens_are_refused(raw, reason):
    # Each token is made when its test runs: made at collection, minutes before
    # a long suite reaches it, every one would be refused for its old iat.
    with pytest.raises(LogoutTokenError) as refused:
        check(raw())
    assert str(refused.value).startswith(reason)


def test_a_replayed_logout_token_is_refused():
    logged_out = LoggedOut()
    raw = logout_token()
    check(raw, logged_out)
    with pytest.raises(LogoutTokenError, match="already used"):
        check(raw, logged_out)


def test_what_ends_a_login():
    logged_out = LoggedOut()
    before = {"claims": {"sid": "s1", "sub": "p1"}, "at": time.time() - 5}
    assert not logged_out.ended(before)
    logged_out.end(sid="s1", sub="p1")
    assert logged_out.ended(before)
    assert not logged_out.ended({"claims": {"sid": "s2", "sub": "p1"}, "at": 0})
    logged_out.end(sub="p2")  # no sid: every login of the person until now
    assert logged_out.ended({"claims": {"sid": "s3", "sub": "p2"}, "at": time.time() - 1})
    assert not logged_out.ended({"claims": {"sid": "s4", "sub": "p2"}, "at": time.time() + 1})


# -- over HTTP, against the real IdP -------------------------------------------------------

class Bank:
    def __init__(self, issuer, port, credentials):
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_ebank({"ISSUER": issuer, "URL": self.url, "CLIENT_ID": "ebank",
                                 "SECRET_KEY": "test", "TESTING": True, **credentials})
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bank(live_idp):
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The e-bank as make run registers it: a FAPI 2.0 client with a key pair,
    # asking for its payment API (RFC 8707), with its back-channel logout URI.
    key = ECKey.generate_key("P-256", {"alg": "ES256", "kid": "ebank-1"}, private=True)
    live_idp.app.config["RESOURCES"] = [url + "/api"]
    with live_idp.app.app_context():
        create_user("ana@example.si", PASSWORD, "041 123 123", given_name="Ana")
        create_client("E-banka", [url + "/callback"], [url + "/"], first_party=True,
                      client_id="ebank", profile="fapi2", auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]}, id_token_alg="ES256",
                      backchannel_logout_uri=url + "/backchannel-logout",
                      backchannel_logout_session_required=True)
    bank = Bank(live_idp.url, port, {"CLIENT_KEY": key.as_dict(private=True)})
    yield bank
    assert live_idp.app.extensions["idp_backchannel"].wait(30)
    bank.stop()


def logged_in_at_the_bank(bank):
    browser = requests.Session()  # one browser for the IdP and the e-bank
    page = browser.get(bank.url + "/login", timeout=10)
    form = dict(re.findall(r'name="(csrf_token|interaction)"[^>]*value="([^"]*)"', page.text))
    home = browser.post(page.url.split("?")[0], timeout=10,
                        data={**form, "email": "ana@example.si", "password": PASSWORD})
    assert home.url == bank.url + "/" and 'id="acr"' in home.text, home.text[home.text.find("<main"):][:600]
    return browser


def test_logging_out_at_the_idp_ends_the_e_bank_session(live_idp, bank):
    browser = logged_in_at_the_bank(bank)
    cookie = browser.cookies.get("ebank_session")
    # The person logs out on the IdP's dashboard; the e-bank is not involved.
    dashboard = browser.get(live_idp.url + "/", timeout=10)
    response = browser.post(live_idp.url + "/logout", timeout=10,
                            data={"csrf_token": csrf_token(dashboard.text)})
    assert response.status_code == 200
    assert live_idp.app.extensions["idp_backchannel"].wait(30)
    assert browser.cookies.get("ebank_session") == cookie  # the same e-bank cookie …
    home = browser.get(bank.url + "/", timeout=10)
    assert 'id="acr"' not in home.text  # … but its session is over
    with live_idp.app.app_context():
        from idp.audit import AuditEvent
        from idp.extensions import db

        [delivered] = db.session.execute(db.select(AuditEvent).filter_by(
            event="backchannel_logout_delivered")).scalars().all()
        assert delivered.details["client_id"] == "ebank" and delivered.details["status"] == 200


def test_the_endpoint_refuses_what_is_no_logout_token(bank):
    response = requests.post(bank.url + "/backchannel-logout", data={"logout_token": "x.y.z"},
                             timeout=10)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request",
                               "error_description": "logout_token is not a JWT"}
    assert response.headers["Cache-Control"] == "no-store"
    response = requests.post(bank.url + "/backchannel-logout", timeout=10)
    assert response.status_code == 400
    assert response.json()["error_description"] == "logout_token is missing"
    assert requests.get(bank.url + "/backchannel-logout", timeout=10).status_code == 405


def test_a_token_signed_by_someone_else_ends_nothing(live_idp, bank):
    browser = logged_in_at_the_bank(bank)
    forged = logout_token(iss=live_idp.url, key=RSAKey.generate_key(2048,
                                                                     parameters={"kid": "x"}))
    response = requests.post(bank.url + "/backchannel-logout", data={"logout_token": forged},
                             timeout=10)
    assert response.status_code == 400
    assert response.json()["error_description"].startswith("signature")
    assert 'id="acr"' in browser.get(bank.url + "/", timeout=10).text
