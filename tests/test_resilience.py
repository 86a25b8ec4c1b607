"""A database or Redis that goes away: a clear 503, never a 500 or a stack trace."""

import pytest

from sinks import free_port
from idp import create_app


@pytest.fixture
def broken_redis_app(backend):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    return create_app({**backend, "REDIS_URL": dead, "RATELIMIT_STORAGE_URI": "memory://"})


@pytest.fixture
def broken_db_app(keys_dir, tmp_path):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    return create_app({"KEYS_DIR": keys_dir, "SECRET_KEY": "x", "DATABASE_URL": dead,
                       "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})


def test_redis_down_gives_503_pages_and_oauth_errors(app, broken_redis_app):
    from idp.oauth.clients import create_client

    http = broken_redis_app.test_client()
    with broken_redis_app.app_context():  # the database still works
        rp, secret = create_client("E-banka", ["https://rp.example/cb"], first_party=True)
        client_id, redirect_uri = rp.client_id, rp.redirect_uris[0]
    response = http.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid", "code_challenge": "a" * 43, "code_challenge_method": "S256"})
    assert response.status_code == 503
    assert "Storitev trenutno ni na voljo" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    token = http.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                      "redirect_uri": redirect_uri, "code_verifier": "a" * 43},
                      auth=(client_id, secret))
    assert token.status_code == 503
    assert token.get_json()["error"] == "temporarily_unavailable"


def test_database_down_gives_503_and_static_endpoints_still_work(broken_db_app):
    http = broken_db_app.test_client()
    html = http.get("/login").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = http.post("/login", data={"csrf_token": csrf, "email": "a@example.si",
                                         "password": "Geslo-Test-1"})
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)
    assert http.get("/.well-known/openid-configuration").status_code == 200
    # The keys live in the database: a node that never reached it has none to publish.
    assert http.get("/jwks.json").status_code == 503
    token = http.post("/token", data={"grant_type": "client_credentials"}, auth=("a", "b"))
    assert token.status_code == 503 and token.get_json()["error"] == "temporarily_unavailable"


def registration_details(http):
    from helpers import csrf_token

    html = http.get("/register").get_data(as_text=True)
    return http.post("/register", data={
        "csrf_token": csrf_token(html), "email": "nova@example.si", "password": "Modra-Lipa-42",
        "password_repeat": "Modra-Lipa-42", "phone_region": "SI", "phone": "041 555 123",
        "terms": "y"})


def test_redis_down_during_registration_and_recovery(app, broken_redis_app, make_user):
    from helpers import csrf_token
    from idp.accounts.models import User
    from idp.accounts.puk import issue_puk
    from idp.extensions import db

    http = broken_redis_app.test_client()
    response = registration_details(http)
    assert response.status_code == 503
    assert "Storitev trenutno ni na voljo" in response.get_data(as_text=True)

    owner = make_user(email="lastnik@example.si")
    puk, owner.puk_hash = issue_puk()
    db.session.commit()
    html = http.get("/recover").get_data(as_text=True)
    response = http.post("/recover", data={"csrf_token": csrf_token(html),
                                           "email": owner.email, "puk": puk})
    assert response.status_code == 503
    # Nothing was made or spent: no new account, the PUK still works.
    db.session.expire_all()
    assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 1
    assert db.session.get(User, owner.id).puk_hash == owner.puk_hash


def test_database_down_during_registration(broken_db_app):
    response = registration_details(broken_db_app.test_client())
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)


def test_redis_down_at_a_second_factor_gives_503_and_no_session(app, broken_redis_app,
                                                                  make_user):
    """Redis is where the second step's flow lives: without it, a person with a
    second factor gets the 503 page, never a login on the password alone."""
    from idp.authn.methods.models import LoginMethod
    from idp.extensions import db
    from people import Person

    user = make_user(email="ana@example.si")
    db.session.add(LoginMethod(user_id=user.id, kind="totp", name="Telefon", secret=b"x"))
    db.session.commit()
    http = broken_redis_app.test_client()
    response = Person(http, "ana@example.si").login()
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)
    assert http.get("/").headers["Location"].startswith("/login")  # no login was made


def test_database_down_on_the_dashboard_and_at_a_passkey_login(broken_db_app):
    from helpers import csrf_token

    http = broken_db_app.test_client()
    with http.session_transaction() as session:
        session["sid"] = "a-session-the-database-would-know"
    for url in ("/", "/methods", "/account/history", "/account/sessions", "/trust",
                "/trust/card", "/officer", "/login/step-up?interaction=x"):
        response = http.get(url)
        assert response.status_code == 503, url
        assert "Traceback" not in response.get_data(as_text=True)
    # The passkey page lives in the store; checking a key needs the database.
    page = http.get(http.get("/login/passkey").headers["Location"])
    assert page.status_code == 200
    response = http.post(page.request.path, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "method": "passkey",
        "credential": '{"rawId": "AAAA", "response": {}}'})
    assert response.status_code == 503


def test_redis_down_at_a_step_up_gives_503_and_no_token(app, broken_redis_app, make_user):
    """A paused request lives in Redis: without it, raising the level or a
    step-up answers 503, and nothing is issued."""
    from idp.authn.sessions import start_session

    user = make_user(email="ana@example.si")
    login = start_session(user, ["pwd"], "low")
    http = broken_redis_app.test_client()
    with http.session_transaction() as session:
        session["sid"] = login.id
    for url in ("/login/step-up?interaction=abc", "/trust?interaction=abc"):
        response = http.get(url)
        assert response.status_code == 503, url
        assert "Traceback" not in response.get_data(as_text=True)
