"""The login page: labels, wrong passwords, lock-out, CSRF, session renewal, logout."""

import pytest

from helpers import PASSWORD, csrf_token
from idp.accounts.models import User
from idp.audit import AuditEvent
from idp.extensions import db


def post_login(client, email, password, token=None):
    if token is None:
        token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "email": email,
                                       "password": password})


def test_login_page_has_labelled_fields_in_slovenian(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label class="label" for="email">E-naslov</label>' in html
    assert '<label class="label" for="password">Geslo</label>' in html
    # "webauthn": the browser may offer passkeys in the e-mail field
    assert 'autocomplete="username webauthn"' in html
    assert 'autocomplete="current-password"' in html
    assert '<html lang="sl">' in html


def test_login_page_in_english_on_request(client):
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert '<label class="label" for="email">E-mail</label>' in html
    assert '<html lang="en">' in html
    # the choice sticks for the next page
    assert "Password" in client.get("/login").get_data(as_text=True)


def test_login_with_right_password_opens_the_account_page(client, make_user):
    make_user(email="ana@example.si")
    response = post_login(client, "Ana@Example.si ", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "ana@example.si" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("email, password", [
    ("ana@example.si", "Wrong-Pass-1"),
    ("nobody@example.si", PASSWORD),
])
def test_wrong_credentials_get_one_message_that_reveals_nothing(client, make_user, email,
                                                                password):
    make_user(email="ana@example.si")
    response = post_login(client, email, password)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "E-naslov ali geslo ni pravilen." in html
    assert 'href="#password"' in html  # error summary links to the field
    assert f'value="{email}"' in html  # what was typed is kept (not the password)
    assert password not in html


def test_empty_form_says_what_is_missing(client):
    response = post_login(client, "", "")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Vnesite svoj e-naslov." in html and "Vnesite geslo." in html


def test_lockout_after_too_many_wrong_passwords(app, client, make_user):
    user = make_user(email="ana@example.si")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "ana@example.si", "Wrong-Pass-1")
    # now even the right password is refused
    response = post_login(client, "ana@example.si", PASSWORD)
    assert response.status_code == 429
    assert "zaklenjen" in response.get_data(as_text=True)
    events = [e.event for e in db.session.execute(
        db.select(AuditEvent).filter_by(user_id=user.id)).scalars()]
    assert events.count("login_failed") == app.config["LOGIN_MAX_FAILURES"]
    assert "account_locked" in events


def test_unknown_email_locks_out_the_same_way(app, client):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "nobody@example.si", "Wrong-Pass-1")
    assert post_login(client, "nobody@example.si", "Wrong-Pass-1").status_code == 429


def test_missing_csrf_token_is_refused(client, make_user):
    make_user(email="ana@example.si")
    client.get("/login")
    response = client.post("/login", data={"email": "ana@example.si", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not logged in


def test_wrong_csrf_token_is_refused(client, make_user):
    make_user(email="ana@example.si")
    client.get("/login")
    assert post_login(client, "ana@example.si", PASSWORD, token="forged").status_code == 400


def test_session_is_renewed_at_login(app, client, make_user):
    make_user(email="ana@example.si")
    before = csrf_token(client.get("/login").get_data(as_text=True))
    post_login(client, "ana@example.si", PASSWORD, token=before)
    after = csrf_token(client.get("/").get_data(as_text=True))
    assert before != after  # session cleared: new CSRF token, new session id


def test_session_cookie_flags(client):
    response = client.get("/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("idp_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_rate_limit_per_ip(app, client):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    statuses = [post_login(client, f"x{i}@example.si", "Wrong-Pass-1").status_code
                for i in range(4)]
    assert statuses[:3] == [400, 400, 400] and statuses[3] == 429


def test_password_is_rehashed_when_parameters_change(client, make_user):
    from argon2 import PasswordHasher

    user = make_user(email="ana@example.si")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    db.session.commit()
    post_login(client, "ana@example.si", PASSWORD)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash.startswith("$argon2id$v=19$m=19456,t=2")


def test_logout_from_the_account_page_ends_the_session(client, make_user):
    make_user(email="ana@example.si")
    post_login(client, "ana@example.si", PASSWORD)
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 200
    assert "Odjavljeni ste" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_security_headers(client):
    headers = client.get("/login").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "Ta stran ne obstaja." in response.get_data(as_text=True)


def test_login_works_with_rate_limits_switched_off(backend):
    from idp import create_app

    app = create_app({**backend, "RATELIMIT_ENABLED": False})
    assert app.test_client().get("/login").status_code == 200
