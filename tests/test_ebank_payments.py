"""The demo e-bank's payments and their step-up (RFC 9470).

The payment API against a fake IdP (a real HTTP server answering discovery and
RFC 7662 introspection as told); the ``WWW-Authenticate`` reader as a table;
the payment pages with the API served over real HTTP; and the whole journey
against the real IdP, whose password logins cannot reach ``high``."""

import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from werkzeug.serving import make_server

from clients.ebank import create_app as create_ebank
from clients.ebank.challenge import (Challenge, format_challenge, parse_www_authenticate,
                                     step_up_request)
from clients.ebank.fapi import ASSERTION_TYPE, new_client_key
from helpers import PASSWORD
from sinks import free_port

LOW = "http://eidas.europa.eu/LoA/low"
SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
HIGH = "http://eidas.europa.eu/LoA/high"
CLIENT_ID = "ebank"
BANK_KEY, BANK_JWKS = new_client_key()  # the e-bank's private_key_jwt key pair
# The DPoP key of every e-bank in these tests, so the fake IdP can bind its tokens to it.
DPOP_KEY = ECKey.generate_key("P-256", private=True)
MISSING_CHALLENGE = 'DPoP realm="ebank", algs="ES256 PS256 Ed25519 EdDSA"'
IBAN = "SI56 1910 0000 0123 438"

ACR_CHALLENGE = ('DPoP error="insufficient_user_authentication", '
                 'error_description="A payment needs a high level of assurance", '
                 'acr_values="http://eidas.europa.eu/LoA/high"')
MAX_AGE_CHALLENGE = ('DPoP error="insufficient_user_authentication", '
                     'error_description="A payment needs a recent authentication", '
                     'max_age="600"')


# -- a fake IdP ------------------------------------------------------------------------

class FakeIdp:
    """Discovery and introspection at ``.url``. ``issue(**answer)`` makes a token
    the introspection endpoint reports as active with those claims; ``.mode``:
    "ok", "error" (500), "not_json", "slow" (waits ``.delay`` seconds)."""

    def __init__(self):
        self.tokens, self.calls, self.pushed = {}, [], []
        self.mode, self.delay = "ok", 2
        self.audience = None  # the API of the last e-bank made (``make_bank``)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _idp_handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def issue(self, **claims):
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        self.tokens[token] = {"active": True, "sub": "sub-ana", "acr": HIGH, "auth_time": now,
                              "scope": "openid profile email phone", "client_id": CLIENT_ID,
                              "token_type": "DPoP", "cnf": {"jkt": DPOP_KEY.thumbprint()},
                              "iat": now, "exp": now + 3600, **claims}
        return token

    def introspections(self):
        return [call for call in self.calls if call["path"] == "/introspect"]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def _idp_handler(idp):
    bank_keys = KeySet.import_key_set(BANK_JWKS)

    def authenticated(form):
        """private_key_jwt with the e-bank's registered key (RFC 7523)."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return False
        try:
            claims = jwt.decode(form.get("client_assertion", ""), bank_keys).claims
        except (JoseError, ValueError):
            return False
        return (claims.get("iss") == claims.get("sub") == CLIENT_ID
                and claims.get("aud") == idp.url and claims.get("exp", 0) > time.time())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status, body):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            idp.calls.append({"path": self.path})
            if self.path != "/.well-known/openid-configuration":
                return self._answer(404, {"error": "not_found"})
            self._answer(200, {
                "issuer": idp.url, "authorization_endpoint": idp.url + "/authorize",
                "token_endpoint": idp.url + "/token", "jwks_uri": idp.url + "/jwks.json",
                "introspection_endpoint": idp.url + "/introspect",
                "pushed_authorization_request_endpoint": idp.url + "/par",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]})

        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            form = {k: v[0] for k, v in form.items()}
            auth = self.headers.get("Authorization")
            idp.calls.append({"path": self.path, "form": form, "auth": auth})
            if self.path == "/par":
                if not authenticated(form):
                    return self._answer(401, {"error": "invalid_client"})
                idp.pushed.append(form)
                return self._answer(201, {"expires_in": 60, "request_uri":
                                          f"urn:ietf:params:oauth:request_uri:{len(idp.pushed)}"})
            if self.path != "/introspect":
                return self._answer(404, {"error": "not_found"})
            if idp.mode == "slow":
                time.sleep(idp.delay)
            if idp.mode == "error":
                return self._answer(500, {"error": "server_error"})
            if idp.mode == "not_json":
                return self._answer(200, "<html>maintenance</html>")
            if not authenticated(form):
                return self._answer(401, {"error": "invalid_client"})
            answer = idp.tokens.get(form.get("token"), {"active": False})
            if answer.get("active") and "aud" not in answer:
                answer = {**answer, "aud": idp.audience}
            self._answer(200, {k: v for k, v in answer.items() if v is not None or k != "aud"})

    return Handler


@pytest.fixture
def fake_idp():
    idp = FakeIdp()
    yield idp
    idp.stop()


class Bank:
    """The e-bank served over real HTTP at ``.url`` (so its pages reach its API)."""

    def __init__(self, issuer, port=None, **config):
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_ebank({"ISSUER": issuer, "URL": self.url, "CLIENT_ID": CLIENT_ID,
                                 "CLIENT_KEY": BANK_KEY, "SECRET_KEY": "test",
                                 "TESTING": True, **config})
        self.fapi = self.app.extensions["ebank_fapi"]
        self.fapi.dpop_key = DPOP_KEY
        self.ledger = self.app.extensions["ebank_ledger"]
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_bank(fake_idp):
    banks = []

    def make(issuer, port=None, **config):
        banks.append(Bank(issuer, port, **config))
        fake_idp.audience = banks[-1].app.config["API_URL"]
        return banks[-1]

    yield make
    for bank in banks:
        bank.stop()


@pytest.fixture
def bank(make_bank, fake_idp):
    return make_bank(fake_idp.url)


def pay(bank, token=None, body=None, authorization=None, proof=None, **kwargs):
    """POST a payment as the e-bank's pages do: the token with a DPoP proof."""
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = "DPoP " + token
        headers["DPoP"] = proof or bank.fapi.dpop_proof("POST", bank.url + "/api/payments",
                                                        token)
    if body is None and "data" not in kwargs:
        body = {"amount": "12.50", "to": IBAN}
    return requests.post(bank.url + "/api/payments", json=body, headers=headers, timeout=10,
                         **kwargs)


# -- (a) the payment API ---------------------------------------------------------------

def test_a_payment_without_a_token_is_asked_for_one(bank, fake_idp):
    response = pay(bank)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == MISSING_CHALLENGE
    assert response.json()["error"] == "missing_token"
    assert fake_idp.introspections() == []


@pytest.mark.parametrize("authorization", [
    "", "Bearer", "Bearer ", "bearer", "Basic ZWJhbms6czNjcmV0", "Token abc", "Bearer a b",
    "Bearer abc,def", "Bearer \"abc\"", "BearerABC", "Bearer ab=c",
])
def test_a_malformed_authorization_header_is_asked_for_a_token(bank, fake_idp, authorization):
    response = pay(bank, authorization=authorization)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == MISSING_CHALLENGE
    assert fake_idp.introspections() == []


@pytest.mark.parametrize("answer", [
    None,  # unknown to the IdP: {"active": false}
    {"active": False},
    {"token_type": "refresh_token"},  # a refresh token is introspected as active too
    {"client_id": "another-rp"},
    {"sub": None},  # a client's own token, no person's
])
def test_a_token_that_is_not_an_active_access_token_of_a_person_is_invalid(bank, fake_idp,
                                                                           answer):
    token = "unknown-token" if answer is None else fake_idp.issue(**answer)
    response = pay(bank, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'
    assert response.json()["error"] == "invalid_token"
    assert len(bank.ledger) == 0


@pytest.mark.parametrize("acr", [SUBSTANTIAL, LOW, None, "urn:other:high"])
def test_a_token_below_high_gets_the_step_up_challenge(bank, fake_idp, acr):
    response = pay(bank, fake_idp.issue(acr=acr))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == ACR_CHALLENGE
    assert response.json() == {"error": "insufficient_user_authentication",
                               "error_description": "A payment needs a high level of assurance"}
    assert response.headers["Cache-Control"] == "no-store"
    assert step_up_request(response.headers["WWW-Authenticate"]) == {"acr_values": HIGH}
    assert len(bank.ledger) == 0


def test_a_high_token_makes_the_payment(bank, fake_idp):
    token = fake_idp.issue()
    response = pay(bank, token, {"amount": "12.5", "to": "  SI56 1910  0000 0123 438 "})
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["amount"] == "12.50" and payment["to"] == IBAN
    assert payment["sub"] == "sub-ana" and payment["id"]
    assert bank.ledger.of("sub-ana") == [payment]
    # The token was checked at the IdP's introspection endpoint, found by discovery,
    # the e-bank authenticating with its key (private_key_jwt).
    (call,) = fake_idp.introspections()
    assert call["form"]["token"] == token and call["form"]["token_type_hint"] == "access_token"
    assert call["form"]["client_assertion_type"] == ASSERTION_TYPE and call["auth"] is None
    pay(bank, token)
    discoveries = [c for c in fake_idp.calls if c["path"].startswith("/.well-known")]
    assert len(discoveries) == 1  # the discovery document is read once


def test_a_stale_login_gets_a_max_age_challenge(bank, fake_idp):
    response = pay(bank, fake_idp.issue(auth_time=int(time.time()) - 601))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == MAX_AGE_CHALLENGE
    assert step_up_request(response.headers["WWW-Authenticate"]) == {"max_age": "600"}
    assert pay(bank, fake_idp.issue(auth_time=int(time.time()) - 590)).status_code == 201


def test_a_stale_login_below_high_is_asked_for_both(bank, fake_idp):
    response = pay(bank, fake_idp.issue(acr=LOW, auth_time=int(time.time()) - 3600))
    assert response.headers["WWW-Authenticate"] == (
        'DPoP error="insufficient_user_authentication", error_description="A payment needs '
        'a recent authentication at a high level of assurance", '
        'acr_values="http://eidas.europa.eu/LoA/high", max_age="600"')


@pytest.mark.parametrize("auth_time", [None, "yesterday", True])
def test_a_token_without_a_login_time_gets_a_max_age_challenge(bank, fake_idp, auth_time):
    response = pay(bank, fake_idp.issue(auth_time=auth_time))
    assert response.headers["WWW-Authenticate"] == MAX_AGE_CHALLENGE


def test_the_max_age_is_configurable_and_may_be_switched_off(make_bank, fake_idp):
    strict = make_bank(fake_idp.url, PAYMENT_MAX_AGE=60)
    response = pay(strict, fake_idp.issue(auth_time=int(time.time()) - 61))
    assert step_up_request(response.headers["WWW-Authenticate"]) == {"max_age": "60"}
    lenient = make_bank(fake_idp.url, PAYMENT_MAX_AGE=None)
    assert pay(lenient, fake_idp.issue(auth_time=0)).status_code == 201


@pytest.mark.parametrize("amount, expected", [
    ("12.50", "12.50"), ("0.01", "0.01"), ("10000", "10000.00"), ("10000.00", "10000.00"),
    (12, "12.00"), (12.5, "12.50"), ("7.1", "7.10"),
])
def test_good_amounts(bank, fake_idp, amount, expected):
    response = pay(bank, fake_idp.issue(), {"amount": amount, "to": IBAN})
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == expected


@pytest.mark.parametrize("amount", [
    "0", "0.00", "-1", "-0.01", "12.505", "10000.01", "10001", "1e3", "abc", "", " 12", "12 ",
    "12,50", "+12", "012", "12.", ".5", "NaN", "Infinity", "١٢", None, True, [], {}, 0, -5,
    12.345, 1e20,
])
def test_bad_amounts_are_refused(bank, fake_idp, amount):
    response = pay(bank, fake_idp.issue(), {"amount": amount, "to": IBAN})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["field"] == "amount"
    assert len(bank.ledger) == 0


@pytest.mark.parametrize("body", [
    {"amount": "12.50"}, {"amount": "12.50", "to": ""}, {"amount": "12.50", "to": "   "},
    {"amount": "12.50", "to": 56}, {"amount": "12.50", "to": None},
    {"amount": "12.50", "to": "SI56\x001910"}, {"amount": "12.50", "to": "S" * 43},
])
def test_a_missing_or_odd_recipient_is_refused(bank, fake_idp, body):
    response = pay(bank, fake_idp.issue(), body)
    assert response.status_code == 400
    assert response.json()["field"] == "to"


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"), ('["12.50", "SI56"]', "application/json"),
    ('"12.50"', "application/json"), ("amount=12.50&to=SI56", "application/x-www-form-urlencoded"),
    ("", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_refused(bank, fake_idp, data, content_type):
    token = fake_idp.issue()
    response = requests.post(bank.url + "/api/payments", data=data, timeout=10, headers={
        "Authorization": "DPoP " + token, "Content-Type": content_type,
        "DPoP": bank.fapi.dpop_proof("POST", bank.url + "/api/payments", token)})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_token_is_checked_before_the_body(bank, fake_idp):
    response = requests.post(bank.url + "/api/payments", data="{not json", timeout=10,
                             headers={"Authorization": "DPoP nope",
                                      "Content-Type": "application/json"})
    assert response.status_code == 401


def test_an_unreachable_idp_makes_the_api_unavailable(make_bank):
    bank = make_bank(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    response = pay(bank, "some-token")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


@pytest.mark.parametrize("mode", ["error", "not_json", "slow"])
def test_an_idp_that_answers_badly_makes_the_api_unavailable(make_bank, fake_idp, mode):
    bank = make_bank(fake_idp.url, HTTP_TIMEOUT=0.5)
    token = fake_idp.issue()
    fake_idp.mode = mode
    response = pay(bank, token)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    fake_idp.mode = "ok"
    assert pay(bank, token).status_code == 201  # and works again once the IdP does


def test_refused_client_credentials_make_the_api_unavailable(make_bank, fake_idp):
    bank = make_bank(fake_idp.url, CLIENT_KEY=new_client_key()[0])  # not the registered key
    assert pay(bank, fake_idp.issue()).status_code == 503


# -- (b) reading WWW-Authenticate --------------------------------------------------------

@pytest.mark.parametrize("header, expected", [
    # RFC 9470 section 3's two examples
    ('Bearer error="insufficient_user_authentication", error_description="A different '
     'authentication level is required", acr_values="myACR"',
     [("bearer", {"error": "insufficient_user_authentication", "acr_values": "myACR",
                  "error_description": "A different authentication level is required"})]),
    ('Bearer error="insufficient_user_authentication",\r\n  error_description="More recent '
     'authentication is required", max_age="5"',
     [("bearer", {"error": "insufficient_user_authentication", "max_age": "5",
                  "error_description": "More recent authentication is required"})]),
    ('Bearer realm="ebank"', [("bearer", {"realm": "ebank"})]),
    ("Bearer", [("bearer", {})]),
    ("BEARER Error=invalid_token", [("bearer", {"error": "invalid_token"})]),
    ('Basic realm="a, b", Bearer realm="ebank", error="invalid_token"',
     [("basic", {"realm": "a, b"}), ("bearer", {"realm": "ebank", "error": "invalid_token"})]),
    ('Negotiate abc+/==, Bearer realm="x"', [("negotiate", "abc+/=="), ("bearer", {"realm": "x"})]),
    ('Basic, Bearer realm="x"', [("basic", {}), ("bearer", {"realm": "x"})]),
    (r'Bearer error_description="say \"hi\" \\ bye", error="x"',
     [("bearer", {"error_description": 'say "hi" \\ bye', "error": "x"})]),
    (' ,Bearer   realm = "x" ,, error="y" , ', [("bearer", {"realm": "x", "error": "y"})]),
    ('Bearer realm="first", realm="second"', [("bearer", {"realm": "first"})]),
    ('Bearer error="x", acr_values="unterminated', [("bearer", {"error": "x"})]),
    ("Bearer error=x, acr_values=http://eidas.europa.eu/LoA/high", [("bearer", {"error": "x"})]),
    ('Bearer error=, realm="x"', [("bearer", {})]),
    ('"quoted" Bearer realm="x"', []),
    ("", []),
    (None, []),
])
def test_reading_challenges(header, expected):
    def shape(challenge):
        return (challenge.scheme, challenge.token68 if challenge.token68 else challenge.params)

    assert [shape(c) for c in parse_www_authenticate(header)] == expected


@pytest.mark.parametrize("header, expected", [
    (ACR_CHALLENGE, {"acr_values": HIGH}),
    (MAX_AGE_CHALLENGE, {"max_age": "600"}),
    ('Bearer error="insufficient_user_authentication", acr_values="  a   b ", max_age="0"',
     {"acr_values": "a b", "max_age": "0"}),
    ('Bearer error="insufficient_user_authentication", max_age="ten"', {}),
    ('Bearer error="insufficient_user_authentication", max_age="-5"', {}),
    ('Basic realm="x", Bearer error="insufficient_user_authentication", acr_values="h"',
     {"acr_values": "h"}),
    ('Bearer error="invalid_token"', None),
    ('Bearer realm="ebank"', None),
    ('DPoP error="insufficient_user_authentication", acr_values="h"', {"acr_values": "h"}),
    ('Basic error="insufficient_user_authentication", acr_values="h"', None),
    ("", None),
])
def test_what_a_step_up_challenge_asks_for(header, expected):
    assert step_up_request(header) == expected


def test_a_challenge_is_written_so_it_reads_back():
    params = {"error": "x", "error_description": 'say "hi" \\ bye, then go', "max_age": 5}
    header = format_challenge("Bearer", params)
    assert parse_www_authenticate(header) == [
        Challenge("bearer", {k: str(v) for k, v in params.items()})]
    with pytest.raises(ValueError):
        format_challenge("Bearer", {"error": "x\r\nSet-Cookie: a=b"})


# -- (c) the payment pages -------------------------------------------------------------

def log_in(browser, token, sub="sub-ana", acr=HIGH):
    """What /callback would have stored after a login that gave ``token`` (a
    waiting payment stays, as /callback keeps it)."""
    with browser.session_transaction() as session:
        session["login"] = {"id_token": "id-token", "access_token": token, "at": 0,
                            "claims": {"sub": sub, "acr": acr, "amr": ["pwd"]},
                            "userinfo": {"sub": sub, "name": "Ana Novak"}}


def form_token(browser):
    page = browser.get("/payment")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def submit(browser, amount="12.50", to=IBAN, csrf=None):
    data = {"amount": amount, "to": to}
    data["csrf_token"] = form_token(browser) if csrf is None else csrf
    return browser.post("/payment", data=data)


def query(location):
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def browser(bank):
    return bank.app.test_client()


def test_the_payment_page_needs_a_login(browser):
    response = browser.get("/payment")
    assert response.status_code == 302
    assert query(response.headers["Location"]) == {"next": "/payment"}


def test_the_payment_form(browser, fake_idp):
    log_in(browser, fake_idp.issue(), acr=LOW)
    html = browser.get("/payment").get_data(as_text=True)
    assert 'name="amount"' in html and 'name="to"' in html
    assert "visoko raven zaupanja" in html  # said before the person types anything
    assert "Prijava z visoko ravnjo / Log in at high level" in html


@pytest.mark.parametrize("csrf", ["", "forged"])
def test_a_payment_without_the_form_token_is_refused(browser, bank, fake_idp, csrf):
    log_in(browser, fake_idp.issue())
    form_token(browser)  # the session has a token; the post does not carry it
    response = submit(browser, csrf=csrf)
    assert response.status_code == 400
    assert 'id="payment-error"' in response.get_data(as_text=True)
    assert len(bank.ledger) == 0 and fake_idp.introspections() == []


def test_a_payment_with_a_high_token_is_made_at_once(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue())
    response = submit(browser, amount="12,50")  # as typed in Slovenia
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="payment-done"' in html
    assert "12,50 €" in html and "€12.50" in html and IBAN in html
    assert [p["amount"] for p in bank.ledger.of("sub-ana")] == ["12.50"]


def test_a_low_login_is_sent_to_step_up_and_the_payment_waits(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    response = submit(browser)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login?")
    assert query(location) == {"acr": HIGH, "next": "/payment/confirm"}
    with browser.session_transaction() as session:
        pending_id = session["pending_payment"]
    # The order waits in the e-bank, not in the cookie: the cookie holds its id.
    pending = bank.app.extensions["ebank_pending_orders"][pending_id]
    assert (pending["amount"], pending["to"], pending["sub"]) == ("12.50", IBAN, "sub-ana")
    assert len(bank.ledger) == 0

    # /login asks the IdP for exactly that, in a pushed request.
    authorize = browser.get(location)
    assert authorize.status_code == 302
    assert authorize.headers["Location"] == (fake_idp.url + "/authorize?client_id=ebank&"
                                             "request_uri=urn%3Aietf%3Aparams%3Aoauth%3A"
                                             "request_uri%3A1")
    params = fake_idp.pushed[-1]
    assert params["acr_values"] == HIGH and "max_age" not in params
    assert params["code_challenge_method"] == "S256" and params["nonce"]
    assert params["resource"] == bank.url + "/api"

    # Back with a high login (what /callback stores), the payment goes through once.
    log_in(browser, fake_idp.issue())
    done = browser.get("/payment/confirm")
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="payment-done"' in html and "12,50 €" in html
    assert len(bank.ledger) == 1
    again = browser.get("/payment/confirm")
    assert again.status_code == 302 and again.headers["Location"] == "/payment"
    assert len(bank.ledger) == 1


def test_a_stale_login_is_sent_to_log_in_again_with_max_age(browser, fake_idp):
    log_in(browser, fake_idp.issue(auth_time=int(time.time()) - 700))
    response = submit(browser)
    assert query(response.headers["Location"]) == {"max_age": "600", "next": "/payment/confirm"}
    assert browser.get(response.headers["Location"]).status_code == 302  # pushed, then off
    assert fake_idp.pushed[-1]["max_age"] == "600"


def test_an_expired_token_is_sent_to_log_in_again(browser, fake_idp):
    log_in(browser, "expired-token")
    response = submit(browser)
    assert query(response.headers["Location"]) == {"next": "/payment/confirm"}


def test_a_step_up_that_still_falls_short_does_not_loop(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    submit(browser)
    response = browser.get("/payment/confirm")  # the new login was low again
    assert response.status_code == 403
    assert 'data-problem="not_enough"' in response.get_data(as_text=True)
    with browser.session_transaction() as session:
        assert "pending_payment" not in session
    assert len(bank.ledger) == 0


def test_a_waiting_payment_is_not_made_for_another_person(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    submit(browser)
    log_in(browser, fake_idp.issue(sub="sub-bojan"), sub="sub-bojan")
    response = browser.get("/payment/confirm")
    assert response.status_code == 403
    assert 'data-problem="other_person"' in response.get_data(as_text=True)
    assert len(bank.ledger) == 0


def test_a_waiting_payment_is_sent_once_even_with_a_replayed_cookie(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    submit(browser)
    log_in(browser, fake_idp.issue())
    with browser.session_transaction() as session:
        saved = dict(session)
    assert 'id="payment-done"' in browser.get("/payment/confirm").get_data(as_text=True)
    with browser.session_transaction() as session:  # the old cookie again
        session.update(saved)
    again = browser.get("/payment/confirm")
    assert again.status_code == 302 and len(bank.ledger) == 1


def test_a_waiting_payment_expires(browser, bank, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    submit(browser)
    with browser.session_transaction() as session:
        pending_id = session["pending_payment"]
    bank.app.extensions["ebank_pending_orders"][pending_id]["expires"] = int(time.time()) - 1
    log_in(browser, fake_idp.issue())
    response = browser.get("/payment/confirm")
    assert response.status_code == 302 and len(bank.ledger) == 0


@pytest.mark.parametrize("amount, to, field", [("0", IBAN, "amount"), ("12.50", "", "to")])
def test_a_bad_order_is_shown_on_the_form(browser, fake_idp, amount, to, field):
    log_in(browser, fake_idp.issue())
    response = submit(browser, amount=amount, to=to)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'data-problem="invalid"' in html
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', html.replace("\n", " "))


def test_an_unreachable_api_is_shown_as_unavailable(make_bank, fake_idp):
    bank = make_bank(fake_idp.url, API_URL=f"http://127.0.0.1:{free_port()}/api")
    browser = bank.app.test_client()
    log_in(browser, fake_idp.issue())
    response = submit(browser)
    assert response.status_code == 503
    assert 'data-problem="unavailable"' in response.get_data(as_text=True)


@pytest.mark.parametrize("error, text", [
    ("unmet_authentication_requirements", "ne more potrditi"),
    ("interaction_required", "interaction_required"),
    ("access_denied", "preklicali"),
])
def test_an_idp_error_ends_the_waiting_payment(browser, fake_idp, error, text):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    submit(browser)
    response = browser.get(f"/callback?error={error}&state=x")
    assert response.status_code == 400 and text in response.get_data(as_text=True)
    with browser.session_transaction() as session:
        assert "pending_payment" not in session


@pytest.mark.parametrize("target, kept", [
    ("/payment/confirm", "/payment/confirm"), ("//evil.example/", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"),
])
def test_login_only_returns_to_the_e_bank(browser, target, kept):
    browser.get("/login", query_string={"next": target})
    with browser.session_transaction() as session:
        assert session["after_login"] == kept


# -- against the real IdP ------------------------------------------------------------------

@pytest.fixture
def idp_bank(live_idp, make_bank):
    """The e-bank registered at the live IdP as client "ebank", with Ana to log in."""
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    live_idp.app.config["RESOURCES"] = [url + "/api"]
    with live_idp.app.app_context():
        create_user("ana@example.si", PASSWORD, "041 123 123", given_name="Ana",
                    family_name="Novak")
        create_client("E-banka", [url + "/callback"], [url + "/"], first_party=True,
                      client_id=CLIENT_ID, profile="fapi2", jwks=BANK_JWKS,
                      id_token_alg="ES256")
    return make_bank(live_idp.url, port)


def log_in_at_the_idp(browser, page, email="ana@example.si"):
    """On the IdP's login page (a ``requests`` response), log in; follow on."""
    assert page.status_code == 200 and "E-naslov" in page.text, page.text[:300]
    form = dict(re.findall(r'name="(csrf_token|interaction)"[^>]*value="([^"]*)"', page.text))
    return browser.post(page.url.split("?")[0], timeout=10,
                        data={**form, "email": email, "password": PASSWORD})


def test_a_low_login_is_sent_to_the_real_idp_for_high(idp_bank, live_idp):
    browser = requests.Session()  # one browser for the IdP and the e-bank
    home = log_in_at_the_idp(browser, browser.get(idp_bank.url + "/login", timeout=10))
    assert home.url == idp_bank.url + "/"
    assert re.search(r'id="acr">([^<]+)<', home.text).group(1) == LOW

    page = browser.get(idp_bank.url + "/payment", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = browser.post(idp_bank.url + "/payment", allow_redirects=False, timeout=10,
                            data={"csrf_token": csrf, "amount": "12,50", "to": IBAN})
    # The API asked the IdP about the token, found it low, and challenged.
    assert response.status_code == 302
    assert query(response.headers["Location"]) == {"acr": HIGH, "next": "/payment/confirm"}
    authorize = browser.get(idp_bank.url + response.headers["Location"], allow_redirects=False,
                            timeout=10).headers["Location"]
    # The request (with acr_values) was pushed: the browser carries only its reference.
    assert authorize.startswith(live_idp.url + "/authorize?")
    assert set(query(authorize)) == {"client_id", "request_uri"}
    # Whatever the IdP does next (step up, raise the trust level, refuse), it
    # must not answer at once with a code for this low login.
    answer = browser.get(authorize, allow_redirects=False, timeout=10)
    assert "code=" not in answer.headers.get("Location", "")
    assert len(idp_bank.ledger) == 0


class TwoSites:
    """A person's browser across the IdP and the e-bank, each a Flask test client
    (so the IdP's pages can be answered with the people.py helpers), while the
    e-bank talks to the IdP, and to its own API, over real HTTP."""

    def __init__(self, idp_url, idp_client, bank_url, bank_client):
        self.sites = {idp_url: idp_client, bank_url: bank_client}
        self.idp_url, self.bank_url = idp_url, bank_url
        self.at = None  # the site of the last response

    def get(self, url):
        for origin, http in self.sites.items():
            if url.startswith(origin + "/"):
                self.at = origin
                return http.get(url[len(origin):])
        assert url.startswith("/"), url
        return self.sites[self.at].get(url)

    def follow(self, response):
        """Follow redirects, across the sites, to the next page."""
        for _ in range(10):
            if response.status_code not in (302, 303):
                return response
            response = self.get(response.headers["Location"])
        raise AssertionError("too many redirects")


def test_a_payment_after_a_real_step_up_to_high(idp_bank, live_idp):
    from people import Person
    from softauthn import SoftAuthenticator

    from idp.accounts.models import User
    from idp.accounts.service import create_user
    from idp.extensions import db

    with live_idp.app.app_context():
        user_id = create_user("eva@example.si", PASSWORD, "041 123 124", given_name="Eva",
                              family_name="Kralj").id
    # The test client's requests carry the issuer's host (not "localhost").
    live_idp.app.config["SERVER_NAME"] = live_idp.url.split("//", 1)[1]
    idp_http = live_idp.app.test_client()
    eva = Person(idp_http, "eva@example.si")
    eva.follow(eva.login())
    key = SoftAuthenticator(uv=True)
    eva.add_passkey(key, origin=live_idp.url)  # her session stays a password login
    with live_idp.app.app_context():  # then her identity is verified at a branch
        db.session.get(User, user_id).trust_level = "high"
        db.session.commit()
        db.session.remove()

    browser = TwoSites(live_idp.url, idp_http, idp_bank.url, idp_bank.app.test_client())
    home = browser.follow(browser.get(idp_bank.url + "/login"))
    assert browser.at == idp_bank.url and home.status_code == 200
    assert re.search(r'id="acr">([^<]+)<', home.get_data(as_text=True)).group(1) == LOW

    page = browser.get(idp_bank.url + "/payment").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    challenged = browser.sites[idp_bank.url].post("/payment", data={
        "csrf_token": csrf, "amount": "99,90", "to": IBAN})
    assert query(challenged.headers["Location"]) == {"acr": HIGH, "next": "/payment/confirm"}

    # The IdP steps the session up with her passkey...
    step_up = browser.follow(challenged)
    assert browser.at == live_idp.url and step_up.status_code == 200
    path = step_up.request.path
    done = browser.follow(eva.answer_passkey(path, key, origin=live_idp.url))
    # ... and back at the e-bank the waiting payment is made with the new token.
    html = done.get_data(as_text=True)
    assert browser.at == idp_bank.url and done.request.path == "/payment/confirm"
    assert done.status_code == 200 and 'id="payment-done"' in html and "99,90 €" in html
    with browser.sites[idp_bank.url].session_transaction() as session:
        sub = session["login"]["claims"]["sub"]
    assert len(idp_bank.ledger) == 1
    (payment,) = idp_bank.ledger.of(sub)
    assert payment["amount"] == "99.90" and payment["to"] == IBAN
    home = browser.get(idp_bank.url + "/").get_data(as_text=True)
    assert re.search(r'id="acr">([^<]+)<', home).group(1) == HIGH
    # The session cookie, now with the access token too, still fits a browser's limit.
    assert len(browser.sites[idp_bank.url].get_cookie("ebank_session").value) < 4000


def test_the_api_with_real_tokens(idp_bank, live_idp):
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    fapi = idp_bank.fapi
    verifier, redirect_uri = secrets.token_urlsafe(48), idp_bank.url + "/callback"
    url = fapi.push({"response_type": "code", "redirect_uri": redirect_uri, "scope": "openid",
                     "state": "s", "nonce": "n-1", "code_challenge_method": "S256",
                     "code_challenge": create_s256_code_challenge(verifier),
                     "resource": idp_bank.url + "/api"})
    browser = requests.Session()
    callback = log_in_at_the_idp(browser, browser.get(url, timeout=10)).url
    assert callback.startswith(redirect_uri)  # the e-bank refuses it: not its state
    token = fapi.exchange(query(callback)["code"], redirect_uri, verifier,
                          resource=idp_bank.url + "/api")
    assert token["token_type"] == "DPoP"

    response = pay(idp_bank, token["access_token"])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == ACR_CHALLENGE

    # As a bearer token, with another key's proof, or replayed: refused.
    access_token = token["access_token"]
    as_bearer = pay(idp_bank, authorization="Bearer " + access_token)
    assert as_bearer.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'
    stranger = ECKey.generate_key("P-256", private=True)
    idp_bank.fapi.dpop_key = stranger
    other_key = pay(idp_bank, access_token, proof=idp_bank.fapi.dpop_proof(
        "POST", idp_bank.url + "/api/payments", access_token))
    idp_bank.fapi.dpop_key = DPOP_KEY
    assert other_key.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'
    assert other_key.json()["error_description"] == "The access token is bound to another key"

    for not_an_access_token in (token["refresh_token"], "made-up"):
        response = pay(idp_bank, not_an_access_token)
        assert response.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'

    revoked = requests.post(live_idp.url + "/revoke", timeout=10, data={
        "token": token["refresh_token"], "token_type_hint": "refresh_token",
        **fapi.client_assertion()})
    assert revoked.status_code == 200
    response = pay(idp_bank, token["access_token"])
    assert response.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'


def test_a_token_for_another_service_is_refused(bank, fake_idp):
    response = pay(bank, fake_idp.issue(aud="https://another.example/api"))
    assert response.status_code == 401
    assert response.json()["error_description"] == "The access token is meant for another service"


def test_an_unbound_token_is_refused(bank, fake_idp):
    response = pay(bank, fake_idp.issue(token_type="Bearer", cnf=None))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'DPoP error="invalid_token"'


@pytest.mark.parametrize("proof, why", [
    (None, "A DPoP proof is required"),
    ("not-a-jwt", "The DPoP proof does not verify"),
    ("htu", "The DPoP proof is for another request"),
    ("htm", "The DPoP proof is for another request"),
    ("ath", "The DPoP proof is not over this access token"),
    ("old", "The DPoP proof is too old"),
])
def test_a_wrong_proof_is_refused_before_the_idp_is_asked(bank, fake_idp, proof, why):
    token = fake_idp.issue()
    url = bank.url + "/api/payments"
    made = {
        "htu": lambda: bank.fapi.dpop_proof("POST", bank.url + "/api/other", token),
        "htm": lambda: bank.fapi.dpop_proof("GET", url, token),
        "ath": lambda: bank.fapi.dpop_proof("POST", url, "another-token"),
        "old": lambda: jwt.encode({"typ": "dpop+jwt", "alg": "ES256",
                                   "jwk": DPOP_KEY.as_dict(private=False)},
                                  {"jti": "j", "htm": "POST", "htu": url,
                                   "iat": int(time.time()) - 300,
                                   "ath": bank.fapi.dpop_proof and _ath(token)},
                                  DPOP_KEY, algorithms=["ES256"]),
    }
    headers = {"Authorization": "DPoP " + token}
    if proof is not None:
        headers["DPoP"] = made[proof]() if proof in made else proof
    response = requests.post(url, json={"amount": "1", "to": IBAN}, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_dpop_proof", "error_description": why}
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert fake_idp.introspections() == []


def _ath(token):
    from clients.ebank.fapi import access_token_hash

    return access_token_hash(token)


def test_a_replayed_proof_is_refused(bank, fake_idp):
    token = fake_idp.issue()
    proof = bank.fapi.dpop_proof("POST", bank.url + "/api/payments", token)
    assert pay(bank, token, proof=proof).status_code == 201
    again = pay(bank, token, proof=proof)
    assert again.status_code == 401
    assert again.json()["error_description"] == "The DPoP proof was already used"

def test_every_problem_of_an_order_at_once_before_any_step_up(browser, fake_idp):
    log_in(browser, fake_idp.issue(acr=LOW), acr=LOW)
    response = submit(browser, amount="-1", to=" ")
    html = response.get_data(as_text=True).replace("\n", " ")
    # Not sent to a login at high for an order that cannot go through.
    assert response.status_code == 400 and 'data-problem="invalid"' in html
    assert re.findall(r'<li><a href="#(\w+)">', html) == ["amount", "to"]
    for field in ("amount", "to"):
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true" '
                         rf'aria-describedby="{field}-error"', html)
        assert f'id="{field}-error"' in html
    assert 'value="-1"' in html
    with browser.session_transaction() as session:
        assert "pending_payment" not in session
