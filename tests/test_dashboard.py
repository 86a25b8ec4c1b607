"""The dashboard: re-authentication before sensitive changes, managing login
methods, password and PUK, contact data, sessions, connected services, the
security history, and deleting the account."""

import re
import time

import pytest

from helpers import PASSWORD, csrf_token
from idp.accounts.models import User
from idp.accounts.puk import verify_puk
from idp.audit import AuditEvent
from idp.authn.methods.models import LoginMethod
from idp.authn.sessions import LoginSession
from idp.extensions import db
from people import Person
from softauthn import SoftAuthenticator

NEW_PASSWORD = "Zelena-Reka-77x"



def events():
    return [e.event for e in db.session.execute(
        db.select(AuditEvent).order_by(AuditEvent.id)).scalars()]


def make_stale(client):
    """Pretend the last proof of a factor was long ago."""
    with client.session_transaction() as session:
        session["verified_at"] = int(time.time()) - 3600


def test_dashboard_shows_data_trust_level_and_sections(client, ana_person):
    html = client.get("/").get_data(as_text=True)
    assert "Nadzorna plošča" in html and "ana@example.si" in html and "+38641123123" in html
    assert 'id="trust-level">nizek<' in html
    for link in ("/methods", "/account/password", "/account/puk", "/account/sessions",
                 "/account/services", "/account/history", "/account/delete"):
        assert f'href="{link}"' in html


def test_dashboard_needs_a_login(client):
    for url in ("/", "/methods", "/account/sessions", "/account/history", "/account/password"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# -- re-authentication --------------------------------------------------------------------

def test_sensitive_pages_ask_for_a_factor_again_when_the_login_is_old(client, ana_person):
    make_stale(client)
    response = client.get("/account/password")
    assert response.status_code == 302 and "/reauth" in response.headers["Location"]
    factor_url = client.get(response.headers["Location"]).headers["Location"]
    wrong = ana_person.post(factor_url, method="password", password="Wrong-Geslo-1")
    assert wrong.status_code == 400
    right = ana_person.post(factor_url, method="password", password=PASSWORD)
    assert right.headers["Location"] == "/account/password"
    assert client.get("/account/password").status_code == 200
    assert "reauthenticated" in events()


def test_a_late_post_changes_nothing(client, ana_person):
    token = ana_person.token("/account/password")
    make_stale(client)
    response = client.post("/account/password", data={
        "csrf_token": token, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD})
    assert "/reauth" in response.headers["Location"]
    user = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    from idp.accounts.passwords import verify_password

    assert verify_password(user.password_hash, PASSWORD)


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/",
                                      "/%09/evil.example/x", "/%5Cevil.example", "/\\evil"])
def test_reauth_next_is_only_a_local_path(client, ana_person, next_url):
    response = client.get("/reauth?next=" + next_url)
    factor_url = response.headers["Location"]
    done = ana_person.post(factor_url, method="password", password=PASSWORD)
    assert done.headers["Location"] == "/"


def test_reauth_keeps_the_query_of_the_page(client, ana_person):
    make_stale(client)
    response = client.get("/methods/add/totp?interaction=abc")
    assert "next=/methods/add/totp?interaction%3Dabc" in response.headers["Location"]


# -- login methods ---------------------------------------------------------------------------

def test_add_rename_remove_a_passkey_with_history_and_notices(client, ana_person, smtp_sink):
    ana_person.add_passkey(SoftAuthenticator(), name="Ključ 1")
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    html = client.get("/methods").get_data(as_text=True)
    assert "Ključ 1" in html
    response = client.post(f"/methods/{row.id}/rename",
                           data={"csrf_token": ana_person.token("/"), "name": "Službeni"})
    assert response.status_code == 302
    db.session.refresh(row)
    assert row.name == "Službeni"
    response = ana_person.post(f"/methods/{row.id}/remove")
    assert response.status_code == 302
    assert db.session.execute(db.select(LoginMethod)).first() is None
    assert {"method_added", "method_renamed", "method_removed"} <= set(events())
    assert len(smtp_sink.to("ana@example.si")) == 2  # added, removed
    history = client.get("/account/history").get_data(as_text=True)
    for label in ("Način prijave dodan", "Način prijave preimenovan",
                  "Način prijave odstranjen"):
        assert label in history


def test_removing_a_method_needs_a_recent_login(client, ana_person):
    ana_person.add_passkey(SoftAuthenticator())
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    token = ana_person.token("/")
    make_stale(client)
    response = client.post(f"/methods/{row.id}/remove", data={"csrf_token": token})
    assert "/reauth" in response.headers["Location"]
    assert db.session.get(LoginMethod, row.id) is not None


def test_the_last_way_to_log_in_cannot_be_removed(client, ana_person):
    key = SoftAuthenticator(uv=True)
    ana_person.add_passkey(key)
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    # With a passkey that verifies her, Ana may drop the password...
    assert ana_person.post("/methods/password/remove").status_code == 302
    user = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    assert user.password_hash is None
    # ...but then the passkey is her last way in, and stays.
    response = client.get(f"/methods/{row.id}/remove")
    assert response.status_code == 409
    response = client.post(f"/methods/{row.id}/remove",
                           data={"csrf_token": ana_person.token("/")})
    assert response.status_code == 409
    assert db.session.get(LoginMethod, row.id) is not None
    # and the password login is simply wrong now, nor is it offered to re-authenticate
    assert Person(client, "ana@example.si").login().status_code == 400


def test_a_key_that_is_not_discoverable_cannot_replace_the_password(client, ana_person):
    ana_person.add_passkey(SoftAuthenticator(uv=True, resident=False))
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    assert row.user_verified and not row.discoverable
    assert client.get("/methods/password/remove").status_code == 409


def test_passwordless_account_reauthenticates_with_its_key(client, ana_person):
    ana_person.add_passkey(SoftAuthenticator(uv=True))
    ana_person.post("/methods/password/remove")
    make_stale(client)
    factor_url = client.get(client.get("/account/puk").headers["Location"]).headers["Location"]
    html = client.get(factor_url).get_data(as_text=True)
    assert 'name="method" value="password"' not in html and "webauthn-options" in html


def test_removal_problem_is_a_pure_check():
    from idp.account_changes import removal_problem

    verifying = LoginMethod(kind="passkey", user_verified=True, discoverable=True)
    plain = LoginMethod(kind="passkey", user_verified=False, discoverable=True)
    not_discoverable = LoginMethod(kind="passkey", user_verified=True, discoverable=False)
    app_row = LoginMethod(kind="totp")
    assert removal_problem(app_row, [app_row], has_password=True) is None
    assert removal_problem("password", [app_row, plain, not_discoverable],
                           has_password=True) == "last_way"
    assert removal_problem("password", [verifying], has_password=True) is None
    assert removal_problem(verifying, [verifying], has_password=False) == "last_way"
    assert removal_problem(verifying, [verifying, LoginMethod(
        kind="passkey", user_verified=True, discoverable=True)], has_password=False) is None


@pytest.mark.parametrize("url", ["/methods/²/remove", "/methods/99999999999999999999/remove",
                                 "/methods/2147483648/remove"])
def test_odd_method_ids_are_not_found(client, ana_person, url):
    assert client.get(url).status_code == 404


def test_odd_ids_and_names_are_refused_cleanly(client, ana_person):
    token = ana_person.token("/")
    assert client.post("/methods/2147483648/rename",
                       data={"csrf_token": token, "name": "x"}).status_code == 404
    assert client.post("/account/sessions/%00/end", data={"csrf_token": token}
                       ).status_code == 404
    response = ana_person.add_passkey(SoftAuthenticator(), name="a\x00b")
    assert response.status_code == 400
    ana_person.add_passkey(SoftAuthenticator(), name="Ključ")
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    client.post(f"/methods/{row.id}/rename", data={"csrf_token": token, "name": "x\x00y"})
    db.session.refresh(row)
    assert row.name == "Ključ"


def test_methods_of_another_account_are_not_reachable(client, ana_person, make_user):
    other = make_user(email="bor@example.si")
    db.session.add(LoginMethod(user_id=other.id, kind="totp", name="Bor", secret=b"x"))
    db.session.commit()
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    assert client.get(f"/methods/{row.id}/remove").status_code == 404
    response = client.post(f"/methods/{row.id}/rename",
                           data={"csrf_token": ana_person.token("/"), "name": "mine"})
    assert response.status_code == 404


# -- password and PUK -----------------------------------------------------------------------

def test_password_change_ends_other_sessions(app, client, ana_person, smtp_sink):
    laptop = Person(app.test_client(), "ana@example.si")
    laptop.follow(laptop.login())
    response = ana_person.post("/account/password", password=NEW_PASSWORD,
                               password_repeat=NEW_PASSWORD)
    assert response.status_code == 302
    assert laptop.http.get("/").headers["Location"].startswith("/login")  # logged out
    assert client.get("/").status_code == 200  # this one stays
    assert Person(app.test_client(), "ana@example.si", NEW_PASSWORD).login().status_code == 302
    assert "password_changed" in events()
    assert smtp_sink.to("ana@example.si")


def test_password_change_revokes_tokens_of_expired_sessions(app, client, flow, rp, ana_person):
    from datetime import timedelta

    from idp.oauth.models import RefreshToken

    thief = Person(app.test_client(), "ana@example.si")
    thief.follow(thief.login())
    f = flow(rp)
    f.http = thief.http
    reply, _ = f.follow_to_rp(f.start())
    tokens = f.exchange(reply["code"], secret=rp.secret).get_json()
    old = db.session.execute(db.select(LoginSession).order_by(LoginSession.created_at.desc())
                             ).scalars().first()
    old.created_at -= timedelta(hours=9)  # the thief's session has expired, its token lives
    db.session.commit()
    ana_person.post("/account/password", password=NEW_PASSWORD, password_repeat=NEW_PASSWORD)
    token = db.session.execute(db.select(RefreshToken)).scalar_one()
    assert token.revoked_at is not None
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(rp.client_id, rp.secret))
    assert refreshed.status_code == 400


def test_password_change_follows_the_rule(client, ana_person):
    response = ana_person.post("/account/password", password="kratko", password_repeat="kratko")
    assert response.status_code == 400


def test_new_puk_spends_the_old_one(client, ana_person):
    from idp.accounts.puk import issue_puk

    user = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    old, user.puk_hash = issue_puk()
    db.session.commit()
    response = ana_person.post("/account/puk")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    import re

    new = re.search(r'id="puk">([A-Z0-9]+)<', response.get_data(as_text=True)).group(1)
    db.session.refresh(user)
    assert verify_puk(user.puk_hash, new) and not verify_puk(user.puk_hash, old)
    assert "puk_issued" in events()


# -- contact data ------------------------------------------------------------------------------

def test_email_change_is_confirmed_and_announced_to_the_old_address(client, ana_person,
                                                                    smtp_sink):
    response = ana_person.post("/account/email", email="ana.nova@example.si")
    url = response.headers["Location"]
    wrong = ana_person.post(url, code="000000" if smtp_sink.last_code("ana.nova@example.si")
                            != "000000" else "111111")
    assert wrong.status_code == 400
    done = ana_person.post(url, code=smtp_sink.last_code("ana.nova@example.si"))
    assert done.status_code == 302
    user = db.session.execute(db.select(User).filter_by(email="ana.nova@example.si")
                              ).scalar_one()
    assert user is not None
    notice = smtp_sink.to("ana@example.si")[-1].get_body(("plain",)).get_content()
    assert "a***@example.si" in notice
    assert "email_changed" in events()


def test_email_change_to_a_taken_address_tells_its_owner_and_nothing_to_the_asker(
        client, ana_person, make_user, smtp_sink):
    make_user(email="bor@example.si")
    response = ana_person.post("/account/email", email="Bor@example.si")
    # The same answer as for a free address (no oracle of registered ones) ...
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/confirm/")
    # ... but Bor gets a notice, not a code, so the change can never be confirmed.
    notices = smtp_sink.to("bor@example.si")
    assert len(notices) == 1
    assert not re.search(r"\b\d{6}\b", notices[0].get_body(("plain",)).get_content())
    wrong = ana_person.post(response.headers["Location"], code="123456")
    assert wrong.status_code == 400
    assert db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()


def test_phone_change_is_confirmed_by_sms(client, ana_person, sms_sink, smtp_sink):
    response = ana_person.post("/account/phone", phone_region="SI", phone="031 555 666")
    url = response.headers["Location"]
    ana_person.post(url, code=sms_sink.last_code("+38631555666"))
    user = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    assert user.phone == "+38631555666"
    assert smtp_sink.to("ana@example.si")  # announced
    assert ana_person.post("/account/phone", phone_region="SI",
                           phone="01 123 45 67").status_code == 400  # a fixed line
    same = ana_person.post("/account/phone", phone_region="SI", phone="031 555 666")
    assert same.status_code == 400 and "že vaša številka" in same.get_data(as_text=True)


# -- sessions and services -------------------------------------------------------------------

def test_log_out_one_session_and_everywhere_else(app, client, ana_person):
    phone = Person(app.test_client(), "ana@example.si")
    phone.follow(phone.login())
    tablet = Person(app.test_client(), "ana@example.si")
    tablet.follow(tablet.login())
    html = client.get("/account/sessions").get_data(as_text=True)
    assert html.count("Odjavi to napravo") == 3
    phone_session = db.session.execute(
        db.select(LoginSession).order_by(LoginSession.created_at.desc())).scalars().all()[1]
    client.post(f"/account/sessions/{phone_session.public_id}/end",
                data={"csrf_token": ana_person.token("/account/sessions")})
    assert phone.http.get("/").status_code == 302
    assert tablet.http.get("/").status_code == 200
    client.post("/account/sessions/end-others",
                data={"csrf_token": ana_person.token("/account/sessions")})
    assert tablet.http.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_sessions_of_others_cannot_be_ended(app, client, ana_person, make_user):
    make_user(email="bor@example.si")
    bor = Person(app.test_client(), "bor@example.si")
    bor.follow(bor.login())
    bors = db.session.execute(db.select(LoginSession).join(User).filter(
        User.email == "bor@example.si")).scalar_one()
    response = client.post(f"/account/sessions/{bors.public_id}/end",
                           data={"csrf_token": ana_person.token("/account/sessions")})
    assert response.status_code == 404
    assert bor.http.get("/").status_code == 200


def test_disconnecting_a_service_revokes_its_refresh_token(client, flow, rp, ana_person):
    f = flow(rp)
    reply, _ = f.follow_to_rp(f.start())
    tokens = f.exchange(reply["code"], secret=rp.secret).get_json()
    html = client.get("/account/services").get_data(as_text=True)
    assert "E-banka" in html
    response = client.post(f"/account/services/{rp.client_id}/disconnect",
                           data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(rp.client_id, rp.secret))
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    introspected = client.post("/introspect", data={"token": tokens["access_token"]},
                               auth=(rp.client_id, rp.secret)).get_json()
    assert introspected["active"] is False
    assert "service_disconnected" in events()


def test_history_shows_logins_and_failures(client, ana_person):
    Person(client, "ana@example.si").login(password="Wrong-Geslo-1")
    html = client.get("/account/history").get_data(as_text=True)
    assert "<td>Prijava</td>" in html and "Neuspešen poskus prijave" in html


# -- deleting the account ----------------------------------------------------------------------

def test_delete_account_after_an_email_code_revokes_everything(client, flow, rp, ana_person,
                                                               smtp_sink):
    f = flow(rp)
    reply, _ = f.follow_to_rp(f.start())
    tokens = f.exchange(reply["code"], secret=rp.secret).get_json()
    url = ana_person.post("/account/delete").headers["Location"]
    assert db.session.execute(db.select(User)).first() is not None  # not yet
    response = ana_person.post(url, code=smtp_sink.last_code("ana@example.si"))
    assert response.status_code == 200
    assert db.session.execute(db.select(User).filter_by(email="ana@example.si")).first() is None
    assert client.get("/").headers["Location"].startswith("/login")
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(rp.client_id, rp.secret))
    assert refreshed.status_code == 400
    assert client.get("/userinfo", headers={
        "Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    assert "account_deleted" in events()
    assert "izbrisan" in smtp_sink.to("ana@example.si")[-1]["Subject"]


def test_delete_account_with_a_wrong_code_deletes_nothing(client, ana_person, smtp_sink):
    url = ana_person.post("/account/delete").headers["Location"]
    code = smtp_sink.last_code("ana@example.si")
    assert ana_person.post(url, code="000000" if code != "000000" else "111111"
                           ).status_code == 400
    assert db.session.execute(db.select(User)).first() is not None


def test_dashboard_forms_need_csrf(client, ana_person):
    assert client.post("/account/puk").status_code == 400
    user = db.session.execute(db.select(User).filter_by(email="ana@example.si")).scalar_one()
    assert user.puk_hash is None  # nothing issued without the token
    assert client.post("/account/sessions/end-others").status_code == 400
    assert client.get("/").status_code == 200

