"""OpenID Connect Back-Channel Logout 1.0: every way a login session ends sends
exactly one logout token to each client that had tokens in it, to real HTTP
endpoints on loopback ports; down and slow RPs do not hold the logout up."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from helpers import csrf_token
from sinks import free_port

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class RelyingParty:
    """A back-channel logout endpoint: keeps every logout token POSTed to it,
    answers ``status`` after ``delay`` seconds."""

    def __init__(self, status=200, delay=0.0):
        self.tokens, self.status, self.delay = [], status, delay
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                rp.tokens.append((self.headers.get("Content-Type"), parse_qs(body)))
                time.sleep(rp.delay)
                self.send_response(rp.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def logout_tokens(self):
        assert all(ctype == "application/x-www-form-urlencoded" for ctype, _ in self.tokens)
        assert all(list(form) == ["logout_token"] for _, form in self.tokens)
        return [form["logout_token"][0] for _, form in self.tokens]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bcl_app(app):
    """Short waits for the tests; every delivery finished before the next test."""
    app.config.update(BACKCHANNEL_LOGOUT_TIMEOUT=1, BACKCHANNEL_LOGOUT_ATTEMPTS=3,
                      BACKCHANNEL_LOGOUT_RETRY_DELAY=0.05)
    yield app
    assert app.extensions["idp_backchannel"].wait(30)


@pytest.fixture
def rps():
    made = []

    def make(**kwargs):
        made.append(RelyingParty(**kwargs))
        return made[-1]

    yield make
    for rp in made:
        rp.stop()


def deliveries(app):
    assert app.extensions["idp_backchannel"].wait(30)


def audit_events(name):
    from idp.audit import AuditEvent
    from idp.extensions import db

    db.session.expire_all()
    return db.session.execute(db.select(AuditEvent).filter_by(event=name)
                              .order_by(AuditEvent.id)).scalars().all()


def sign_in(flow, oauth_client, secret, email=None):
    """Get tokens for ``oauth_client`` in this browser's session (logging in
    first when there is none); returns the token response."""
    f = flow(oauth_client)
    response = f.start()
    location = response.headers["Location"]
    if location.startswith("/login") or location.startswith("http://localhost/login"):
        params, _ = f.follow_to_rp(f.login(response, email))
    else:
        params, _ = f.follow_to_rp(response)
    tokens = f.exchange(params["code"], secret=secret)
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    return tokens.get_json()


def check_logout_token(client, raw, oauth_client, user, sid):
    """Validate a logout token as an RP must (Back-Channel Logout 2.6)."""
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(raw, keys, algorithms=["RS256", "ES256"])
    assert token.header["typ"] == "logout+jwt"
    assert token.header["alg"] == oauth_client.id_token_signed_response_alg
    claims = token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "http://localhost:5000"},
        aud={"essential": True, "value": oauth_client.client_id},
        sub={"essential": True, "value": user.sub}, sid={"essential": True, "value": sid},
        iat={"essential": True}, exp={"essential": True}, jti={"essential": True},
    ).validate(claims)
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] == 120 and abs(claims["iat"] - time.time()) < 10
    return claims


@pytest.fixture
def two_rps(make_client, rps):
    """Two clients with back-channel logout URIs (RS256 and ES256), one without."""
    bank_rp, tax_rp = rps(), rps()
    bank, bank_secret = make_client(name="E-banka", backchannel_logout_uri=bank_rp.url,
                                    backchannel_logout_session_required=True)
    tax, tax_secret = make_client(name="eDavki", backchannel_logout_uri=tax_rp.url,
                                  id_token_alg="ES256",
                                  redirect_uris=["https://edavki.example/cb"])
    plain, plain_secret = make_client(name="Trgovina",
                                      redirect_uris=["https://shop.example/cb"])
    return {"bank": (bank, bank_secret, bank_rp), "tax": (tax, tax_secret, tax_rp),
            "plain": (plain, plain_secret)}


def session_with_everyone(flow, two_rps, user):
    """Ana signs in to all three clients in one session; returns the sid."""
    bank, bank_secret, _ = two_rps["bank"]
    tax, tax_secret, _ = two_rps["tax"]
    plain, plain_secret = two_rps["plain"]
    tokens = sign_in(flow, bank, bank_secret, user.email)
    sign_in(flow, tax, tax_secret)
    sign_in(flow, plain, plain_secret)
    return _unverified(tokens["id_token"])["sid"], tokens


def _unverified(id_token):
    import base64
    import json

    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_one_token_each(client, two_rps, user, sid):
    for name in ("bank", "tax"):
        oauth_client, _, rp = two_rps[name]
        tokens = rp.logout_tokens()
        assert len(tokens) == 1, (name, tokens)
        check_logout_token(client, tokens[0], oauth_client, user, sid)


def test_discovery_advertises_back_channel_logout(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_rp_initiated_logout_tells_every_client_of_the_session(bcl_app, client, flow, two_rps,
                                                              ana):
    sid, tokens = session_with_everyone(flow, two_rps, ana)
    # A refresh in the same session is still one client, one logout token.
    bank, bank_secret, _ = two_rps["bank"]
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(bank.client_id, bank_secret))
    assert refreshed.status_code == 200
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200  # the "logged out" page
    deliveries(bcl_app)
    assert_one_token_each(client, two_rps, ana, sid)
    delivered = audit_events("backchannel_logout_delivered")
    assert sorted(e.details["client_id"] for e in delivered) == sorted(
        [two_rps["bank"][0].client_id, two_rps["tax"][0].client_id])
    assert {(e.user_id, e.details["sid"], e.details["attempts"], e.details["status"])
            for e in delivered} == {(ana.id, sid, 1, 200)}


def test_logout_on_the_dashboard(bcl_app, client, flow, two_rps, ana):
    sid, _ = session_with_everyone(flow, two_rps, ana)
    home = client.get("/")
    response = client.post("/logout", data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    assert response.status_code == 200
    deliveries(bcl_app)
    assert_one_token_each(client, two_rps, ana, sid)


def test_ending_a_session_from_another_browser(bcl_app, app, client, flow, two_rps, ana):
    from people import Person

    sid, _ = session_with_everyone(flow, two_rps, ana)
    other = Person(app.test_client(), ana.email)
    other.follow(other.login())
    page = other.http.get("/account/sessions").get_data(as_text=True)
    response = other.http.post(f"/account/sessions/{sid}/end",
                               data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    deliveries(bcl_app)
    assert_one_token_each(client, two_rps, ana, sid)


def test_log_out_everywhere_else(bcl_app, app, client, flow, two_rps, ana):
    from people import Person

    sid, _ = session_with_everyone(flow, two_rps, ana)
    other = Person(app.test_client(), ana.email)
    other.follow(other.login())
    page = other.http.get("/account/sessions").get_data(as_text=True)
    response = other.http.post("/account/sessions/end-others",
                               data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    deliveries(bcl_app)
    assert_one_token_each(client, two_rps, ana, sid)


def _reset_with_puk(user):
    from idp.account_changes import reset_password_with_puk

    reset_password_with_puk(user, "Novo-Geslo-2026!x")


def _delete(user):
    from idp.account_changes import delete_account

    delete_account(user)


def _officer_revoked(user):
    from idp.trust.officers import set_officer

    set_officer(user, True, actor="operator:test")
    set_officer(user, False, actor="operator:test")


@pytest.mark.parametrize("end", [_reset_with_puk, _delete, _officer_revoked],
                         ids=["password-reset-with-puk", "account-deleted", "officer-revoked"])
def test_account_events_end_every_session(bcl_app, client, flow, two_rps, ana, end):
    sid, _ = session_with_everyone(flow, two_rps, ana)
    sub, user_id = ana.sub, ana.id
    end(ana)
    deliveries(bcl_app)

    class Former:  # the account may be gone; its sub is what the tokens carry
        pass
    former = Former()
    former.sub = sub
    assert_one_token_each(client, two_rps, former, sid)
    delivered = audit_events("backchannel_logout_delivered")
    assert len(delivered) == 2
    expected_user = None if end is _delete else user_id
    assert {e.user_id for e in delivered} == {expected_user}


def test_the_same_person_logging_in_again_is_no_logout(bcl_app, client, flow, two_rps, ana):
    from people import Person

    old_sid, _ = session_with_everyone(flow, two_rps, ana)
    person = Person(client, ana.email)
    person.follow(person.login())  # a new session replaces the old one, tokens kept
    deliveries(bcl_app)
    assert two_rps["bank"][2].tokens == [] and two_rps["tax"][2].tokens == []
    # The clients of the old session hear of the new one's logout, with the sid
    # they know; a client of both sessions hears of each.
    tax, tax_secret, _ = two_rps["tax"]
    new_sid = _unverified(sign_in(flow, tax, tax_secret)["id_token"])["sid"]
    assert new_sid != old_sid
    home = client.get("/")
    client.post("/logout", data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    deliveries(bcl_app)
    bank, _, bank_rp = two_rps["bank"]
    [token] = bank_rp.logout_tokens()
    check_logout_token(client, token, bank, ana, old_sid)
    sids = []
    for raw in two_rps["tax"][2].logout_tokens():
        sids.append(_unverified(raw)["sid"])
        check_logout_token(client, raw, tax, ana, sids[-1])
    assert sorted(sids) == sorted([old_sid, new_sid])


def test_clients_of_other_sessions_hear_nothing(bcl_app, app, client, flow, two_rps, ana):
    bank, bank_secret, bank_rp = two_rps["bank"]
    tax, tax_secret, tax_rp = two_rps["tax"]
    tokens = sign_in(flow, bank, bank_secret, ana.email)
    other_flow = type(flow(bank))(app.test_client(), tax)  # another browser
    response = other_flow.start()
    params, _ = other_flow.follow_to_rp(other_flow.login(response, ana.email))
    assert other_flow.exchange(params["code"], secret=tax_secret).status_code == 200
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    deliveries(bcl_app)
    assert len(bank_rp.logout_tokens()) == 1 and tax_rp.tokens == []


def test_an_rp_that_is_down(bcl_app, client, flow, make_client, ana):
    down_url = f"http://127.0.0.1:{free_port()}/logout"  # nothing listens there
    oauth_client, secret = make_client(backchannel_logout_uri=down_url)
    tokens = sign_in(flow, oauth_client, secret, ana.email)
    started = time.monotonic()
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200 and time.monotonic() - started < 1
    assert client.get("/").status_code == 302  # logged out all the same
    deliveries(bcl_app)
    [failed] = audit_events("backchannel_logout_failed")
    assert failed.details["client_id"] == oauth_client.client_id
    assert failed.details["attempts"] == 3 and failed.details["reason"] == "ConnectionError"
    assert failed.user_id == ana.id
    assert audit_events("backchannel_logout_delivered") == []


def test_an_rp_that_answers_slowly(bcl_app, client, flow, make_client, rps, ana):
    slow = rps(delay=0.8)
    oauth_client, secret = make_client(backchannel_logout_uri=slow.url)
    tokens = sign_in(flow, oauth_client, secret, ana.email)
    started = time.monotonic()
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5  # the page did not wait for the RP
    deliveries(bcl_app)
    assert len(slow.logout_tokens()) == 1
    [delivered] = audit_events("backchannel_logout_delivered")
    assert delivered.details["attempts"] == 1


def test_an_rp_slower_than_the_timeout_is_retried_then_given_up(bcl_app, client, flow,
                                                                make_client, rps, ana):
    bcl_app.config.update(BACKCHANNEL_LOGOUT_TIMEOUT=0.2, BACKCHANNEL_LOGOUT_ATTEMPTS=2)
    stuck = rps(delay=1.0)
    oauth_client, secret = make_client(backchannel_logout_uri=stuck.url)
    tokens = sign_in(flow, oauth_client, secret, ana.email)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    deliveries(bcl_app)
    [failed] = audit_events("backchannel_logout_failed")
    assert failed.details["reason"] == "timeout" and failed.details["attempts"] == 2
    assert len(stuck.tokens) == 2  # the same token, sent twice


def test_an_rp_refusing_the_token_is_not_retried(bcl_app, client, flow, make_client, rps, ana):
    refusing = rps(status=400)
    oauth_client, secret = make_client(backchannel_logout_uri=refusing.url)
    tokens = sign_in(flow, oauth_client, secret, ana.email)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    deliveries(bcl_app)
    [failed] = audit_events("backchannel_logout_failed")
    assert failed.details["reason"] == "HTTP 400" and failed.details["attempts"] == 1
    assert len(refusing.tokens) == 1


def test_an_rp_answering_500_is_retried(bcl_app, client, flow, make_client, rps, ana):
    broken = rps(status=500)
    oauth_client, secret = make_client(backchannel_logout_uri=broken.url)
    tokens = sign_in(flow, oauth_client, secret, ana.email)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    deliveries(bcl_app)
    [failed] = audit_events("backchannel_logout_failed")
    assert failed.details["reason"] == "HTTP 500" and failed.details["attempts"] == 3
    assert len(broken.tokens) == 3


def test_a_token_that_cannot_be_signed_does_not_stop_the_logout(bcl_app, client, flow,
                                                                  two_rps, ana):
    from idp.extensions import db

    sid, tokens = session_with_everyone(flow, two_rps, ana)
    tax = two_rps["tax"][0]
    tax.id_token_signed_response_alg = "PS512"  # no key of ours signs this
    db.session.commit()
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    deliveries(bcl_app)
    assert len(two_rps["bank"][2].logout_tokens()) == 1 and two_rps["tax"][2].tokens == []
    [failed] = audit_events("backchannel_logout_failed")
    assert failed.details == {"reason": "not signed", "client_id": tax.client_id, "sid": sid,
                              "attempts": 0}


def test_a_job_left_by_a_dead_worker_is_taken_up(bcl_app, backend, client, flow, make_client,
                                                 rps, ana):
    """With Redis the queue is the cluster's: what a process left behind (it
    died after queuing, or during a try, and the lease ran out) is sent by the
    workers that the next logout, anywhere, starts."""
    if backend["BACKEND"] != "postgres":
        pytest.skip("the shared queue needs Redis (the postgres run has it)")
    from idp.oauth import backchannel

    orphan_rp, other_rp = rps(), rps()
    orphan, _ = make_client(name="Staro", backchannel_logout_uri=orphan_rp.url)
    job = {"client_id": orphan.client_id, "uri": orphan_rp.url, "user_id": ana.id,
           "token": backchannel.logout_token(orphan, ana.sub, "sid-of-the-dead"),
           "sid": "sid-of-the-dead", "tries": 1, "attempts": 3, "timeout": 1, "delay": 0.05,
           "public_only": False}  # the test IdP runs on loopback
    dispatcher = bcl_app.extensions["idp_backchannel"]
    assert isinstance(dispatcher, backchannel.RedisDispatcher)
    dispatcher._put("orphan", job, time.time() - 1)  # its lease is over
    other, secret = make_client(name="Novo", backchannel_logout_uri=other_rp.url,
                                redirect_uris=["https://novo.example/cb"])
    tokens = sign_in(flow, other, secret, ana.email)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    deliveries(bcl_app)
    [raw] = orphan_rp.logout_tokens()
    check_logout_token(client, raw, orphan, ana, "sid-of-the-dead")
    assert len(other_rp.logout_tokens()) == 1
    attempts = {e.details["client_id"]: e.details["attempts"]
                for e in audit_events("backchannel_logout_delivered")}
    assert attempts == {orphan.client_id: 2, other.client_id: 1}


def test_the_dispatcher_follows_the_store(app, backend):
    from idp.oauth import backchannel

    expected = {"sqlite": backchannel.LocalDispatcher, "postgres": backchannel.RedisDispatcher}
    assert type(app.extensions["idp_backchannel"]) is expected[backend["BACKEND"]]


def test_cli_registers_a_back_channel_logout_uri(runner):
    import json

    result = runner.invoke(args=["clients", "create", "--name", "E-banka",
                                 "--redirect-uri", "https://rp.example/cb",
                                 "--backchannel-logout-uri", "https://rp.example/bcl",
                                 "--backchannel-logout-session-required", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["backchannel_logout_uri"] == "https://rp.example/bcl"
    assert data["backchannel_logout_session_required"] is True
    result = runner.invoke(args=["clients", "create", "--name", "X",
                                 "--redirect-uri", "https://rp.example/cb",
                                 "--backchannel-logout-uri", "http://rp.example/bcl"])
    assert result.exit_code == 1
    assert "plain http is only allowed on loopback hosts" in result.output


# -- never into the IdP's own network ----------------------------------------------------------

def test_a_production_idp_sends_no_logout_token_into_its_own_network(bcl_app, app, client,
                                                                     flow, two_rps, ana):
    """A back-channel URI that resolves to a loopback or private address gets
    nothing from an IdP on a public issuer (SSRF); the refusal is audited."""
    session_with_everyone(flow, two_rps, ana)
    app.config["ISSUER"] = "https://idp.example"  # the RPs listen on 127.0.0.1
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(
        as_text=True))})
    deliveries(bcl_app)
    assert two_rps["bank"][2].tokens == [] and two_rps["tax"][2].tokens == []
    reasons = {e.details["reason"] for e in audit_events("backchannel_logout_failed")}
    assert reasons == {"not a public address"}


@pytest.mark.parametrize("uri", ["https://10.0.0.1/logout", "https://169.254.169.254/latest",
                                 "https://[::1]/logout", "http://127.0.0.1:8080/logout"])
def test_registration_refuses_back_channel_uris_in_our_own_network(app, client, uri):
    from idp.oauth.registration import issue_initial_access_token
    from test_registration_endpoint import GOOD, register

    app.config["ISSUER"] = "https://idp.example"
    token = issue_initial_access_token(uses=1, actor="test")[0]
    response = register(client, token, dict(GOOD, backchannel_logout_uri=uri))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"
