"""Real receivers for outgoing messages: an SMTP server (aiosmtpd) and an HTTP SMS
gateway, each on a free loopback port, keeping what arrives for tests to read.

Plain classes, so fixtures (or a manual run) decide their lifetime."""

import email
import email.policy
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

CODE = re.compile(r"\b\d{6}\b")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _last_code(text, who):
    codes = CODE.findall(text)
    assert codes, f"no 6-digit code in the last message to {who}: {text!r}"
    return codes[-1]


class SmtpSink:
    """An SMTP server collecting ``EmailMessage`` objects in ``.messages``.

    ``.refuse = True`` makes it answer 550 to RCPT and DATA (a failing server);
    ``credentials=("user", "password")`` makes it offer AUTH (without TLS) and
    accept only that pair."""

    def __init__(self, credentials=None):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages = []
        self.refuse = False
        self.logins = []  # usernames that logged in
        self._lock = threading.Lock()
        kwargs = {}
        if credentials:
            kwargs = {"authenticator": self._authenticator(credentials),
                      "auth_require_tls": False}
        self._controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port,
                                      **kwargs)
        self._controller.start()

    def _authenticator(self, credentials):
        user, password = (value.encode() for value in credentials)

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = (getattr(auth_data, "login", None) == user
                  and getattr(auth_data, "password", None) == password)
            if ok:
                with self._lock:
                    self.logins.append(user.decode())
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        return authenticate

    def _keep(self, message):
        with self._lock:
            self.messages.append(message)

    def clear(self):
        with self._lock:
            self.messages.clear()
            self.logins.clear()
        self.refuse = False

    def stop(self):
        self._controller.stop()

    def to(self, address):
        """Messages whose To header names ``address`` (case-insensitive)."""
        address = address.lower()
        with self._lock:
            messages = list(self.messages)
        return [m for m in messages
                if any(a.addr_spec.lower() == address for a in m["To"].addresses)]

    def last_code(self, address):
        messages = self.to(address)
        assert messages, f"no e-mail to {address}"
        return _last_code(messages[-1].get_body(("plain",)).get_content(), address)


class _SmtpHandler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.refuse:
            return "550 5.7.1 Message refused"
        self.sink._keep(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


class SmsSink:
    """An HTTP SMS gateway at ``.url`` collecting ``{"to", "text", "authorization"}``.

    ``.mode``: "ok" answers 200 ``{"status": "queued"}``, "error" answers 500 (and
    keeps nothing), "slow" keeps the message, then waits ``.delay`` seconds before
    answering 200 (as a real gateway would have queued it anyway)."""

    def __init__(self):
        self.messages = []
        self.mode = "ok"
        self.delay = 2
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _gateway_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/sms"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _keep(self, message):
        with self._lock:
            self.messages.append(message)

    def clear(self):
        with self._lock:
            self.messages.clear()
        self.mode = "ok"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def to(self, number):
        with self._lock:
            return [m for m in self.messages if m.get("to") == number]

    def last_code(self, number):
        messages = self.to(number)
        assert messages, f"no SMS to {number}"
        return _last_code(messages[-1].get("text", ""), number)


def _gateway_handler(sink):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if sink.mode == "error":
                return self._answer(500, {"error": "gateway failure"})
            try:
                message = dict(json.loads(body))
            except (ValueError, TypeError):
                return self._answer(400, {"error": "body is not a JSON object"})
            message["authorization"] = self.headers.get("Authorization")
            sink._keep(message)
            if sink.mode == "slow":
                time.sleep(sink.delay)
            self._answer(200, {"status": "queued"})

        def _answer(self, status, data):
            payload = json.dumps(data).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting ("slow")
                pass

        def log_message(self, format, *args):  # keep test output clean
            pass

    return Handler
