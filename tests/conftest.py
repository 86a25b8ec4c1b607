"""Fixtures: every storage-dependent test runs twice, on SQLite with the
in-process store and on PostgreSQL with Redis (the machine's real services).
Each test run makes and drops its own database and uses its own Redis prefix."""

import os
import re
import secrets
import threading

import flask
import flask_babel
import pytest

from idp import create_app
from idp.authn.methods import totp as totp_module
from idp.extensions import db
# Re-exported: many tests still import these from conftest; new ones use helpers.
from helpers import PASSWORD, T0, csrf_token, pkce_pair, query_of
from sinks import free_port

PG_ADMIN_URL = os.environ.get("IDP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _postgres_problem():
    """Why the PostgreSQL + Redis backend cannot run here, or None."""
    import psycopg
    import redis

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({error.__class__.__name__})"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis at {REDIS_URL} is not reachable ({error.__class__.__name__})"
    return None


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def smtp_sink():
    """A real SMTP server (aiosmtpd) that keeps every message the IdP sends."""
    from sinks import SmtpSink

    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def sms_sink():
    """A real HTTP server standing in for the SMS gateway."""
    from sinks import SmsSink

    sink = SmsSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request, tmp_path_factory, keys_dir, smtp_sink, sms_sink):
    """Settings of one storage backend, with a migrated, empty database; mail
    and SMS go to the test sinks."""
    if request.param == "postgres":
        problem = _postgres_problem()
        if problem and os.environ.get("IDP_TEST_REQUIRE_POSTGRES"):
            pytest.fail(f"{problem}, and IDP_TEST_REQUIRE_POSTGRES is set (as in CI)")
        if problem:
            pytest.skip(f"{problem}: the PostgreSQL + Redis half of the suite is skipped")
    tag = secrets.token_hex(4)
    instance = tmp_path_factory.mktemp(f"instance-{request.param}")
    config = {"KEYS_DIR": keys_dir, "SECRET_KEY": "test-" + tag, "TESTING": True,
              "KEY_ENCRYPTION_KEYS": [f"test-key-encryption-key-{tag}-0123456789"],
              "SMTP_HOST": smtp_sink.host, "SMTP_PORT": smtp_sink.port,
              "SMS_GATEWAY_URL": sms_sink.url}
    if request.param == "sqlite":
        config["DATABASE_URL"] = f"sqlite:///{instance}/idp.sqlite3"
    else:
        name = f"idp_test_{tag}"
        _pg_admin(f"CREATE DATABASE {name}")
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        config.update(DATABASE_URL=f"{base}/{name}", REDIS_URL=REDIS_URL,
                      REDIS_PREFIX=f"idptest:{tag}:")
    os.environ["IDP_INSTANCE_PATH"] = str(instance)
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    config["BACKEND"] = request.param
    yield config
    if request.param == "postgres":
        app.extensions["idp_store"].clear()
        redis_client = app.extensions["idp_store"].client
        for key in redis_client.scan_iter(f"*{tag}*"):  # rate-limit counters
            redis_client.delete(key)
        _pg_admin(f"DROP DATABASE IF EXISTS {config['DATABASE_URL'].rsplit('/', 1)[1]} "
                  "WITH (FORCE)")


@pytest.fixture
def clock(monkeypatch):
    """The TOTP clock, at ``T0`` until the test moves it (``clock["now"] += 30``)."""
    state = {"now": float(T0)}
    monkeypatch.setattr(totp_module, "now", lambda: state["now"])
    return state


@pytest.fixture
def app(backend, smtp_sink, sms_sink):
    smtp_sink.clear()
    sms_sink.clear()
    app = create_app({**backend, "RATELIMIT_KEY_PREFIX": backend.get("REDIS_PREFIX", "")
                      + "rl" + secrets.token_hex(3)})
    app.before_request(_fresh_request_state)
    with app.app_context():
        yield app
        db.session.remove()
    reset(app)


def _fresh_request_state():
    """Requests of the test clients share the test's app context, hence ``g``:
    forget what Flask-Babel and Flask-WTF keep there, as a new request would."""
    flask_babel.refresh()
    flask.g.pop("csrf_token", None)


def reset(app):
    """Empty every table (children first) and the store, for the next test. The
    signing keys stay: generating them for every test would cost seconds."""
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "signing_keys":
                db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()
        app.extensions["idp_store"].clear()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    from idp.accounts.service import create_user

    def make(**overrides):
        data = {"email": f"oseba-{secrets.token_hex(3)}@example.si", "password": PASSWORD,
                "phone": "041 123 123"}
        data.update(overrides)
        return create_user(**data)

    return make


@pytest.fixture
def make_client(app):
    from idp.oauth.clients import create_client

    def make(**overrides):
        data = {"name": "E-banka", "redirect_uris": ["https://rp.example/cb"],
                "post_logout_redirect_uris": ["https://rp.example/bye"], "first_party": True}
        data.update(overrides)
        return create_client(**data)

    return make


@pytest.fixture
def rp(make_client):
    """A confidential first-party client; its one-time secret kept as ``rp.secret``."""
    oauth_client, secret = make_client()
    oauth_client.secret = secret
    return oauth_client


@pytest.fixture
def ana(make_user):
    return make_user(email="ana@example.si", given_name="Ana", family_name="Novak")


@pytest.fixture
def ana_person(client, ana):
    """Ana, logged in with her password at the test client's browser."""
    from people import Person

    person = Person(client, "ana@example.si")
    person.follow(person.login())
    return person


# -- helpers used by the protocol tests --------------------------------------------

class Flow:
    """Drives /authorize → login → back to the RP with the Flask test client."""

    def __init__(self, client, oauth_client):
        self.http = client
        self.oauth_client = oauth_client
        self.verifier, self.challenge = pkce_pair()

    def params(self, **extra):
        params = {"response_type": "code", "client_id": self.oauth_client.client_id,
                  "redirect_uri": self.oauth_client.redirect_uris[0],
                  "scope": "openid profile email phone", "state": "st-" + secrets.token_hex(4),
                  "nonce": "n-" + secrets.token_hex(4), "code_challenge": self.challenge,
                  "code_challenge_method": "S256"}
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def start(self, **extra):
        return self.http.get("/authorize", query_string=self.params(**extra))

    def login(self, response, email, password=PASSWORD):
        """From a redirect to the login page, log in; returns the response after it."""
        assert response.status_code == 302, response.data
        page = self.http.get(response.headers["Location"])
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        iid = re.search(r'name="interaction"[^>]*value="([^"]*)"', html)
        return self.http.post("/login", data={
            "csrf_token": csrf_token(html), "email": email, "password": password,
            "interaction": iid.group(1) if iid else ""})

    def follow_to_rp(self, response):
        """Follow our own redirects until one leaves for the RP."""
        for _ in range(5):
            assert response.status_code == 302, response.get_data(as_text=True)[:500]
            location = response.headers["Location"]
            if not location.startswith("/") and not location.startswith("http://localhost/"):
                return query_of(location), location
            response = self.http.get(location)
        raise AssertionError("too many redirects")

    def follow_to_page(self, response):
        """Follow our own redirects to the page where the person is needed;
        returns its path and HTML."""
        for _ in range(5):
            if response.status_code != 302:
                return None, response
            location = response.headers["Location"]
            assert location.startswith("/"), location
            response = self.http.get(location)
            if response.status_code == 200:
                return location, response.get_data(as_text=True)
        raise AssertionError("too many redirects")

    def give_up(self, html):
        """Press "cancel and return to the service" on a step-up or raise page."""
        action = re.search(r'action="(/authorize/give-up/[^"]+)"', html).group(1)
        return self.follow_to_rp(self.http.post(action, data={"csrf_token": csrf_token(html)}))

    def code(self, email, **extra):
        params, _ = self.follow_to_rp(self.login(self.start(**extra), email))
        assert "code" in params, params
        return params

    def exchange(self, code, secret=None, verifier=None, **extra):
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.oauth_client.redirect_uris[0],
                "code_verifier": verifier or self.verifier}
        data.update(extra)
        auth = (self.oauth_client.client_id, secret) if secret else None
        if auth is None:
            data["client_id"] = self.oauth_client.client_id
        return self.http.post("/token", data={k: v for k, v in data.items() if v is not None},
                              auth=auth)


@pytest.fixture
def flow(client):
    return lambda oauth_client: Flow(client, oauth_client)


class LiveServer:
    def __init__(self, wsgi_app, port):
        from werkzeug.serving import make_server

        self.url = f"http://127.0.0.1:{port}"
        self.server = make_server("127.0.0.1", port, wsgi_app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def live_idp(backend):
    """The IdP served over real HTTP on a free loopback port (its own issuer)."""
    port = free_port()
    app = create_app({**backend, "ISSUER": f"http://127.0.0.1:{port}"})
    server = LiveServer(app, port)
    server.app = app
    yield server
    server.stop()
    reset(app)


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright, for the browser journeys."""
    from playwright.sync_api import sync_playwright

    from helpers import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
