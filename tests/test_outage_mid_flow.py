"""PostgreSQL and Redis stopping in the middle of registration, recovery and a
login (servers of the test's own, stopped and started again; the machine's
services are never touched): the person gets a 503 page, and afterwards
finishes with what they have. No code is spent, no send and no failure is
counted against them by a request that failed."""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from helpers import PASSWORD, csrf_token
from idp import create_app
from idp.accounts.puk import issue_puk
from idp.extensions import db
from pgserver import PostgresServer
from sinks import free_port

pytestmark = pytest.mark.skipif(not (PostgresServer.available and shutil.which("redis-server")),
                                reason="needs Debian's PostgreSQL binaries and redis-server")

NEW_PASSWORD = "Modra-Lipa-42"
PHONE = "+38641555123"


class RedisServer:
    """A redis-server of the test's own that keeps its data across a restart
    (append-only file), on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="idp-redis-")
        self.process = None
        self.start()

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        if self.process is not None and self.process.poll() is None:
            return  # running
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.process.terminate()  # SIGTERM: Redis writes its file and exits
        self.process.wait(10)

    def destroy(self):
        if self.process.poll() is None:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def servers():
    pg, rd = PostgresServer(), RedisServer()
    yield pg, rd
    rd.destroy()
    pg.destroy()


@pytest.fixture
def idp(servers, smtp_sink, sms_sink, tmp_path, monkeypatch):
    pg, rd = servers
    smtp_sink.clear()
    sms_sink.clear()
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path))
    app = create_app({
        "DATABASE_URL": pg.create_database("idp_" + secrets.token_hex(4)),
        "REDIS_URL": rd.url(), "REDIS_PREFIX": f"outage{secrets.token_hex(3)}:",
        "SECRET_KEY": "outage-test", "SMTP_HOST": smtp_sink.host, "SMTP_PORT": smtp_sink.port,
        "SMS_GATEWAY_URL": sms_sink.url, "SENDS_PER_ADDRESS_PER_HOUR": 1,
        "KEY_ENCRYPTION_KEYS": ["outage-test-key-encryption-key-0123456789"]})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=app.extensions["migrate"].directory)
    yield app
    for start in (pg.start, rd.start):
        try:
            start()
        except Exception:
            pass  # it is running
    with app.app_context():
        db.engine.dispose()


def post(http, url, page=None, **data):
    html = http.get(page or url).get_data(as_text=True)
    return http.post(url, data={"csrf_token": csrf_token(html), **data})


def details(http, email):
    return post(http, "/register", email=email, password=NEW_PASSWORD,
                password_repeat=NEW_PASSWORD, phone_region="SI", phone="041 555 123", terms="y")


def test_registration_survives_both_outages_and_loses_nothing(idp, servers, smtp_sink,
                                                              sms_sink):
    pg, rd = servers
    http = idp.test_client()
    # PostgreSQL gone before anything was sent: a 503, and no send is counted
    # (the limit here is one code per address and hour).
    page = http.get("/register").get_data(as_text=True)
    pg.stop("fast")  # a clean stop: what was committed stays
    refused = http.post("/register", data={
        "csrf_token": csrf_token(page), "email": "nova@example.si", "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD, "phone_region": "SI", "phone": "041 555 123",
        "terms": "y"})
    assert refused.status_code == 503
    pg.start()
    response = details(http, "nova@example.si")
    assert response.status_code == 302
    fid = re.search(r"/register/([^/]+)/", response.headers["Location"]).group(1)
    email_code = smtp_sink.last_code("nova@example.si")

    # Redis gone at the e-mail code: a 503; the same code works afterwards.
    page = http.get(f"/register/{fid}/email").get_data(as_text=True)
    rd.stop()
    assert http.post(f"/register/{fid}/email", data={
        "csrf_token": csrf_token(page), "code": email_code}).status_code == 503
    rd.start()
    response = post(http, f"/register/{fid}/email", code=email_code)
    assert response.headers["Location"].endswith(f"/register/{fid}/phone")
    assert len(sms_sink.to(PHONE)) == 1

    # PostgreSQL gone when the account is made: a 503; the same SMS code works
    # afterwards (it was not spent), and no second SMS went out.
    sms_code = sms_sink.last_code(PHONE)
    page = http.get(f"/register/{fid}/phone").get_data(as_text=True)
    pg.stop("fast")  # a clean stop: what was committed stays
    assert http.post(f"/register/{fid}/phone", data={
        "csrf_token": csrf_token(page), "code": sms_code}).status_code == 503
    pg.start()
    response = post(http, f"/register/{fid}/phone", code=sms_code)
    assert response.headers["Location"].endswith(f"/register/{fid}/puk")
    assert len(sms_sink.to(PHONE)) == 1
    assert len(smtp_sink.to("nova@example.si")) == 1


def test_recovery_survives_an_outage_at_the_new_password(idp, servers, sms_sink):
    pg, _ = servers
    with idp.app_context():
        from idp.accounts.service import create_user

        user = create_user("ana@example.si", PASSWORD, phone="041 555 123")
        puk, user.puk_hash = issue_puk()
        db.session.commit()
    http = idp.test_client()
    response = post(http, "/recover", email="ana@example.si", puk=puk)
    fid = re.search(r"/recover/([^/]+)/", response.headers["Location"]).group(1)
    response = post(http, f"/recover/{fid}/sms", code=sms_sink.last_code(PHONE))
    assert response.headers["Location"].endswith(f"/recover/{fid}/password")
    page = http.get(f"/recover/{fid}/password").get_data(as_text=True)
    pg.stop("fast")  # a clean stop: what was committed stays
    assert http.post(f"/recover/{fid}/password", data={
        "csrf_token": csrf_token(page), "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD}).status_code == 503
    pg.start()
    # The PUK was not spent by the failed attempt: the same flow finishes.
    response = post(http, f"/recover/{fid}/password", password=NEW_PASSWORD,
                    password_repeat=NEW_PASSWORD)
    assert response.headers["Location"].endswith(f"/recover/{fid}/puk")


def test_a_login_during_an_outage_counts_no_failure(idp, servers):
    _, rd = servers
    with idp.app_context():
        from idp.accounts.service import create_user

        create_user("ana@example.si", PASSWORD, phone="041 555 123")
    http = idp.test_client()
    limit = idp.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert post(http, "/login", email="ana@example.si",
                    password="Napacno-1").status_code == 400
    page = http.get("/login").get_data(as_text=True)
    rd.stop()
    for _ in range(3):  # the person tries again and again while Redis is away
        reply = http.post("/login", data={"csrf_token": csrf_token(page),
                                          "email": "ana@example.si", "password": "Napacno-1"})
        assert reply.status_code == 503, reply.get_data(as_text=True)
    rd.start()
    # Still one failure short of the lock: the right password logs in.
    response = post(http, "/login", email="ana@example.si", password=PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_the_servers_are_our_own(servers):
    pg, rd = servers
    assert pg.port != 5432 and rd.port != 6379
    assert os.path.isdir(rd.folder)
