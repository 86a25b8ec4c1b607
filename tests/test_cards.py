"""Bank-card checks: the sandbox's documented cards, the form's pure input checks,
and the HTTP gateway against a real local server. No database needed."""

import json
import logging
import socket
import threading
import time
import traceback
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import flask
import pytest

from idp.trust.cards import (
    SANDBOX_CARDS,
    CardCheck,
    CardGatewayError,
    HttpCardGateway,
    SandboxCardGateway,
    _luhn_ok,
    card_gateway,
    card_number_problem,
    expiry_problem,
    names_match,
    normalise_card_number,
)

VERIFIED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
MISMATCH_CARD = "4000000000000010"
TODAY = date(2030, 6, 15)
HOLDER = "Ana Novak"


def luhn(number):
    """An independent Luhn check, so the tests do not trust the code under test."""
    digits = [int(d) for d in reversed(number)]
    doubled = [d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[1::2]]
    return (sum(digits[0::2]) + sum(doubled)) % 10 == 0


def card(number=VERIFIED_CARD, **overrides):
    fields = {"number": number, "expiry_month": 12, "expiry_year": 2031, "cvc": "123",
              "holder_name": HOLDER}
    return {**fields, **overrides}


# --- the sandbox


@pytest.fixture
def sandbox():
    return SandboxCardGateway(today=lambda: TODAY)


def test_documented_test_cards_are_luhn_valid():
    assert set(SANDBOX_CARDS) == {VERIFIED_CARD, DECLINED_CARD, MISMATCH_CARD}
    for number in SANDBOX_CARDS:
        assert luhn(number), number
        assert card_number_problem(number) is None


@pytest.mark.parametrize("number, holder, status", [
    (VERIFIED_CARD, HOLDER, "verified"),
    ("4242 4242 4242 4242", "Žiga Čuk", "verified"),  # echoes any holder name
    (DECLINED_CARD, HOLDER, "declined"),
    (MISMATCH_CARD, HOLDER, "name_mismatch"),
    (MISMATCH_CARD, "Janez Kranjec", "verified"),  # it is Janez's card
    ("4000000000000036", HOLDER, "declined"),  # Luhn-valid, not a test card
    ("4242424242424241", HOLDER, "declined"),  # fails Luhn
])
def test_sandbox_outcomes(sandbox, number, holder, status):
    check = sandbox.verify(**card(number, holder_name=holder))
    assert check.status == status
    assert check.last4 == normalise_card_number(number)[-4:]
    assert check.gateway == "sandbox"
    assert check.reference.startswith("sandbox-") and len(check.reference) > len("sandbox-")
    assert VERIFIED_CARD not in repr(check)


@pytest.mark.parametrize("overrides", [
    {"expiry_month": 5, "expiry_year": 2030},  # last month
    {"expiry_month": 13},
    {"cvc": "12"},
    {"cvc": "1234"},
    {"cvc": "abc"},
])
def test_sandbox_declines_bad_expiry_or_cvc(sandbox, overrides):
    assert sandbox.verify(**card(**overrides)).status == "declined"


def test_sandbox_accepts_the_current_month_and_two_digit_years(sandbox):
    assert sandbox.verify(**card(expiry_month="06", expiry_year="30")).status == "verified"


def test_sandbox_references_are_unique_and_marked(sandbox):
    assert SandboxCardGateway.sandbox and SandboxCardGateway.name == "sandbox"
    refs = {sandbox.verify(**card()).reference for _ in range(5)}
    assert len(refs) == 5


def test_sandbox_never_talks_to_a_network(sandbox, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the sandbox opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert sandbox.verify(**card()).status == "verified"


def test_sandbox_logs_no_card_number(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox.verify(**card())
    assert caplog.records and VERIFIED_CARD not in caplog.text


# --- pure input checks


@pytest.mark.parametrize("text, digits", [
    ("4242 4242 4242 4242", "4242424242424242"),
    ("4242-4242-4242-4242", "4242424242424242"),
    (" 4242\t4242 4242-4242 ", "4242424242424242"),
    ("", ""),
    (None, ""),
])
def test_normalise_card_number(text, digits):
    assert normalise_card_number(text) == digits


@pytest.mark.parametrize("number, problem", [
    ("4242424242424242", None),
    ("4242 4242 4242 4242", None),
    ("4000000000000002", None),
    ("378282246310005", None),  # 15 digits (Amex)
    ("424242424242", None),  # 12 digits
    ("4000000000000000006", None),  # 19 digits
    ("4242424242424241", "checksum"),
    ("4000000000000001", "checksum"),
    ("42424242424", "length"),  # 11 digits
    ("40000000000000000006", "length"),  # 20 digits
    ("", "length"),
    ("4242x42424242424", "length"),
    ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", "length"),  # non-ASCII digits
])
def test_card_number_problem(number, problem):
    assert card_number_problem(number) == problem
    if problem is None:
        assert luhn(normalise_card_number(number))


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005",
                                    "4000000000000010", "79927398713"])
def test_luhn_agrees_with_the_reference(number):
    assert _luhn_ok(number) and luhn(number)
    last = int(number[-1])
    assert not _luhn_ok(number[:-1] + str((last + 1) % 10))


@pytest.mark.parametrize("month, year, today, problem", [
    (6, 2030, date(2030, 6, 30), None),  # the current month is still valid
    (6, 2030, date(2030, 6, 1), None),
    (5, 2030, date(2030, 6, 1), "expired"),  # last month
    (12, 2029, date(2030, 1, 1), "expired"),
    (1, 2031, date(2030, 12, 31), None),
    (12, 2030, date(2030, 6, 15), None),
    ("06", "30", date(2030, 6, 15), None),  # 2-digit year means 20YY
    ("6", "29", date(2030, 6, 15), "expired"),
    (6, 30, date(2030, 6, 15), None),
    ("12", "2031", date(2030, 6, 15), None),
    (13, 2030, date(2030, 6, 15), "format"),
    (0, 2030, date(2030, 6, 15), "format"),
    ("", "2030", date(2030, 6, 15), "format"),
    ("ab", "2030", date(2030, 6, 15), "format"),
    (6, "203", date(2030, 6, 15), "format"),
    (6, "20300", date(2030, 6, 15), "format"),
    (6, 203, date(2030, 6, 15), "format"),
    (6, None, date(2030, 6, 15), "format"),
    (None, 2030, date(2030, 6, 15), "format"),
])
def test_expiry_problem(month, year, today, problem):
    assert expiry_problem(month, year, today) == problem


@pytest.mark.parametrize("a, b, match", [
    ("Ana Novak", "ANA NOVAK", True),
    ("Žiga Čuk", "ZIGA CUK", True),  # accents
    ("NOVAK ANA", "Ana Novak", True),  # family name first
    ("  Ana   Novak ", "Ana Novak", True),  # extra spaces
    ("Ana\tNovak", "ana novak", True),
    ("Ana-Marija Kos", "ANA MARIJA KOS", True),  # embossers print hyphens as spaces
    ("Seán O'Brien", "SEAN OBRIEN", True),
    ("Đorđe Škof", "DORDE SKOF", True),
    ("Ana Novak", "Ana Novakova", False),
    ("Ana Novak", "Janez Kranjec", False),
    ("Ana Novak", "Ana", False),
    ("Ana Novak", "Ana Novak Novak", False),
    ("", "", False),
    ("Ana Novak", "", False),
])
def test_names_match(a, b, match):
    assert names_match(a, b) is match
    assert names_match(b, a) is match


# --- the HTTP gateway against a real local server


class CardGatewayStub:
    """An HTTP card gateway on a free loopback port: keeps each request's JSON and
    Authorization header in ``.requests``, answers ``.status`` with ``.body`` after
    ``.delay`` seconds."""

    def __init__(self):
        self.requests = []
        self.reset()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/verify"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset(self):
        self.requests.clear()
        self.status, self.delay = 200, 0
        self.body = json.dumps({"status": "verified", "reference": "acq-123"}).encode()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def _stub_handler(stub):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stub.requests.append({"json": json.loads(body),
                                  "authorization": self.headers.get("Authorization")})
            time.sleep(stub.delay)
            try:
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)
            except OSError:  # the client stopped waiting
                pass

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def stub_server():
    stub = CardGatewayStub()
    yield stub
    stub.stop()


@pytest.fixture
def stub(stub_server):
    stub_server.reset()
    return stub_server


def test_http_gateway_verified(stub):
    gateway = HttpCardGateway(stub.url)
    check = gateway.verify(**card("4242 4242 4242 4242", expiry_month="6", expiry_year="31"))
    assert check == CardCheck("verified", "acq-123", "4242", "http")
    [request] = stub.requests
    assert request["json"] == {"number": VERIFIED_CARD, "expiry_month": 6, "expiry_year": 2031,
                               "cvc": "123", "holder_name": HOLDER}
    assert request["authorization"] is None
    assert not gateway.sandbox


@pytest.mark.parametrize("answer", [
    {"status": "name_mismatch", "reference": "acq-9"},
    {"status": "declined", "reference": "acq-10"},
    {"status": "declined"},  # a refusal may come without a reference
])
def test_http_gateway_other_outcomes(stub, answer):
    stub.body = json.dumps(answer).encode()
    check = HttpCardGateway(stub.url).verify(**card(MISMATCH_CARD))
    assert (check.status, check.reference, check.last4) == (
        answer["status"], answer.get("reference"), "0010")


def test_http_gateway_sends_the_bearer_token(stub):
    HttpCardGateway(stub.url, token="s3cret").verify(**card())
    assert stub.requests[0]["authorization"] == "Bearer s3cret"


@pytest.mark.parametrize("status, body", [
    (500, b'{"error": "boom"}'),
    (500, b'{"error": "bad card 4242424242424242"}'),  # a gateway echoing the card
    (302, b""),
    (400, b'{"status": "verified", "reference": "x"}'),
    (200, b"not json 4242424242424242"),
    (200, b'["verified"]'),
    (200, b'{"status": "ok", "reference": "x"}'),
    (200, b'{"status": "verified"}'),  # verified without evidence
    (200, b'{"status": "verified", "reference": ""}'),
    (200, b'{"status": "declined", "reference": 42}'),
])
def test_http_gateway_nonsense_is_an_error(stub, caplog, status, body):
    caplog.set_level(logging.DEBUG)
    stub.status, stub.body = status, body
    with pytest.raises(CardGatewayError) as error:
        HttpCardGateway(stub.url).verify(**card())
    assert_card_not_leaked(error.value, caplog)


def test_http_gateway_timeout(stub, caplog):
    caplog.set_level(logging.DEBUG)
    stub.delay = 1
    started = time.monotonic()
    with pytest.raises(CardGatewayError) as error:
        HttpCardGateway(stub.url, timeout=0.2).verify(**card())
    assert time.monotonic() - started < 0.9
    assert_card_not_leaked(error.value, caplog)


def test_http_gateway_unreachable(caplog):
    from sinks import free_port

    caplog.set_level(logging.DEBUG)
    with pytest.raises(CardGatewayError) as error:
        HttpCardGateway(f"http://127.0.0.1:{free_port()}/verify", timeout=1).verify(**card())
    assert_card_not_leaked(error.value, caplog)


def assert_card_not_leaked(error, caplog):
    assert VERIFIED_CARD not in str(error) and "123" not in str(error)
    # Nor in its traceback, which would show a chained requests error.
    assert VERIFIED_CARD not in "".join(traceback.format_exception(error))
    assert caplog.records, "the failure should be logged"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert VERIFIED_CARD not in text


# --- choosing the gateway


def test_card_gateway_defaults_to_the_sandbox_only_in_development():
    app = flask.Flask(__name__)
    app.config["ISSUER"] = "http://localhost:5000"
    gateway = card_gateway(app)
    assert isinstance(gateway, SandboxCardGateway) and gateway.sandbox
    assert card_gateway(app) is gateway
    assert app.extensions["idp_card_gateway"] is gateway


@pytest.mark.parametrize("issuer, sandbox, expected", [
    ("https://login.example.si", None, None),  # production: no test cards by default
    ("https://login.example.si", True, SandboxCardGateway),
    ("http://127.0.0.1:5000", False, None),
])
def test_the_sandbox_is_an_explicit_choice_outside_development(issuer, sandbox, expected):
    app = flask.Flask(__name__)
    app.config.update(ISSUER=issuer, CARD_GATEWAY_SANDBOX=sandbox)
    gateway = card_gateway(app)
    assert (gateway is None) if expected is None else isinstance(gateway, expected)


def test_card_gateway_uses_http_when_configured():
    app = flask.Flask(__name__)
    app.config.update(CARD_GATEWAY_URL="https://acquirer.example/verify",
                      CARD_GATEWAY_TOKEN="tok", CARD_GATEWAY_TIMEOUT=3)
    gateway = card_gateway(app)
    assert isinstance(gateway, HttpCardGateway)
    assert (gateway.url, gateway.token, gateway.timeout) == (
        "https://acquirer.example/verify", "tok", 3.0)
    assert card_gateway(app) is gateway


def test_card_gateway_timeout_defaults_to_ten_seconds():
    app = flask.Flask(__name__)
    app.config["CARD_GATEWAY_URL"] = "https://acquirer.example/verify"
    assert card_gateway(app).timeout == 10.0
