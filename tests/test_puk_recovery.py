"""A forgotten password reset with the PUK: e-mail + PUK → SMS one-time
password → new password twice → new PUK; everything issued before is revoked."""

import re

import pytest
from sqlalchemy.orm.attributes import set_committed_value

from helpers import PASSWORD, csrf_token
from idp.accounts import passwords
from idp.accounts.models import User
from idp.accounts.puk import issue_puk, normalise_puk, verify_puk, ALPHABET
from idp.audit import AuditEvent
from idp.authn.sessions import LoginSession
from idp.extensions import db
from idp.oauth.models import RefreshToken

NEW_PASSWORD = "Zelena-Miza-Kava-7"
PHONE = "+38641123123"


@pytest.fixture
def owner(make_user):
    """An account with a known PUK (``owner.puk``)."""
    user = make_user(email="pozabljivka@example.si")
    puk, user.puk_hash = issue_puk()
    db.session.commit()
    user.puk = puk
    return user


def post_form(client, url, page=None, **data):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def start(client, email, puk):
    return post_form(client, "/recover", email=email, puk=puk)


def fid_of(response):
    return re.search(r"/recover/([^/]+)/", response.headers["Location"]).group(1)


def recover(client, owner, sms_sink, puk=None):
    """The whole recovery; returns the page that shows the new PUK."""
    response = start(client, owner.email, puk or owner.puk)
    assert response.status_code == 302, response.get_data(as_text=True)
    fid = fid_of(response)
    response = post_form(client, f"/recover/{fid}/sms", code=sms_sink.last_code(PHONE))
    assert response.headers["Location"].endswith(f"/recover/{fid}/password")
    response = post_form(client, f"/recover/{fid}/password", password=NEW_PASSWORD,
                         password_repeat=NEW_PASSWORD)
    assert response.headers["Location"].endswith(f"/recover/{fid}/puk")
    return fid, client.get(f"/recover/{fid}/puk").get_data(as_text=True)


def test_login_page_links_to_recovery(client):
    html = client.get("/login").get_data(as_text=True)
    assert "Pozabljeno geslo?" in html and 'href="/recover"' in html


def test_recovery_resets_password_issues_new_puk_and_revokes_everything(
        client, app, flow, rp, owner, sms_sink, smtp_sink):
    f = flow(rp)
    tokens = f.exchange(f.code(owner.email)["code"], secret=rp.secret).get_json()
    assert client.post("/introspect", data={"token": tokens["access_token"]},
                       auth=(rp.client_id, rp.secret)).get_json()["active"]
    other_browser = app.test_client()
    other_browser.post("/login", data={"csrf_token": csrf_token(
        other_browser.get("/login").get_data(as_text=True)), "email": owner.email,
        "password": PASSWORD})

    fresh = app.test_client()
    fid, page = recover(fresh, owner, sms_sink)
    new_puk = re.search(r'id="puk">([A-Z0-9]{8})<', page).group(1)
    assert new_puk != owner.puk and set(new_puk) <= set(ALPHABET)

    db.session.expire_all()
    user = db.session.get(User, owner.id)
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert verify_puk(user.puk_hash, new_puk) and not verify_puk(user.puk_hash, owner.puk)
    assert db.session.execute(db.select(LoginSession).filter_by(
        user_id=owner.id, ended_at=None)).first() is None
    assert db.session.execute(db.select(RefreshToken).filter_by(
        user_id=owner.id, revoked_at=None)).first() is None
    assert not client.post("/introspect", data={"token": tokens["access_token"]},
                           auth=(rp.client_id, rp.secret)).get_json()["active"]
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(rp.client_id, rp.secret))
    assert refreshed.status_code == 400
    assert "Geslo Rekono" in smtp_sink.to(owner.email)[-1]["Subject"] or \
        "ponastavljeno" in smtp_sink.to(owner.email)[-1]["Subject"]
    events = [e.event for e in db.session.execute(
        db.select(AuditEvent).filter_by(user_id=owner.id)).scalars()]
    assert "password_reset" in events and "puk_issued" in events

    # The new PUK must be acknowledged; then the login page, e-mail filled in.
    assert post_form(fresh, f"/recover/{fid}/puk").status_code == 400
    done = post_form(fresh, f"/recover/{fid}/puk", stored="y")
    assert done.headers["Location"].startswith("/login")
    login = fresh.get(done.headers["Location"]).get_data(as_text=True)
    assert "Geslo je spremenjeno" in login and owner.email in login
    assert f.login(f.start(), owner.email, PASSWORD).status_code == 400
    assert f.login(f.start(), owner.email, NEW_PASSWORD).status_code == 302

    # The old PUK is spent.
    again = start(app.test_client(), owner.email, owner.puk)
    assert again.status_code == 400


def test_puk_is_read_as_printed(client, owner, sms_sink):
    typed = owner.puk.lower()[:4] + " " + owner.puk.lower()[4:]
    assert normalise_puk(typed) == owner.puk
    assert start(client, owner.email, typed).status_code == 302


def test_wrong_puk_and_unknown_email_get_the_same_answer(client, owner, sms_sink):
    wrong = start(client, owner.email, "AAAAAAAA")
    unknown = start(client, "nihce@example.si", "AAAAAAAA")
    assert wrong.status_code == unknown.status_code == 400
    message = "E-naslov ali koda PUK ni pravilna"
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert sms_sink.messages == []


def test_puk_route_locks_after_a_few_wrong_puks(app, client, owner, sms_sink):
    limit = app.config["PUK_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert start(client, owner.email, "AAAAAAAA").status_code == 400
    locked = start(client, owner.email, "AAAAAAAA")
    assert locked.status_code == 429 and "začasno zaklenjena" in locked.get_data(as_text=True)
    # Even the right PUK is refused now, from any browser.
    right = start(app.test_client(), owner.email, owner.puk)
    assert right.status_code == 429 and sms_sink.messages == []
    db.session.expire_all()
    assert db.session.get(User, owner.id).puk_locked_at is not None
    assert db.session.execute(db.select(AuditEvent).filter_by(
        user_id=owner.id, event="puk_locked")).first() is not None


def test_unknown_email_locks_the_same_way(app, client):
    for _ in range(app.config["PUK_MAX_FAILURES"] - 1):
        assert start(client, "nihce@example.si", "AAAAAAAA").status_code == 400
    assert start(client, "nihce@example.si", "AAAAAAAA").status_code == 429


def test_right_puk_resets_the_count(app, client, owner, sms_sink):
    for _ in range(app.config["PUK_MAX_FAILURES"] - 1):
        start(client, owner.email, "AAAAAAAA")
    assert start(client, owner.email, owner.puk).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, owner.id).puk_failures == 0


def test_wrong_sms_code_and_new_password_rules(client, owner, sms_sink):
    fid = fid_of(start(client, owner.email, owner.puk))
    right = sms_sink.last_code(PHONE)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    response = post_form(client, f"/recover/{fid}/sms", code=wrong)
    assert response.status_code == 400 and "Koda ni pravilna" in response.get_data(as_text=True)
    assert client.get(f"/recover/{fid}/password").headers["Location"].endswith("/sms")
    post_form(client, f"/recover/{fid}/sms", code=right)

    for bad, repeat, message in [("kratko", "kratko", "vsaj 8 znakov"),
                                 ("Password1!", "Password1!", "preveč pogosto"),
                                 (NEW_PASSWORD, NEW_PASSWORD + "x", "nista enaki")]:
        response = post_form(client, f"/recover/{fid}/password", password=bad,
                             password_repeat=repeat)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, owner.id).password_hash, PASSWORD)


def test_recovery_flow_of_another_browser_or_after_expiry(app, client, owner, sms_sink):
    fid = fid_of(start(client, owner.email, owner.puk))
    stranger = app.test_client()
    response = post_form(stranger, f"/recover/{fid}/sms", page="/recover",
                         code=sms_sink.last_code(PHONE))
    assert response.status_code == 400 and "Začnite znova" in response.get_data(as_text=True)
    app.extensions["idp_store"].delete(f"flow:recover:{fid}")
    assert client.get(f"/recover/{fid}/sms").status_code == 400


def test_a_flow_dies_when_its_puk_is_spent_elsewhere(app, client, owner, sms_sink):
    first = app.test_client()
    fid_first = fid_of(start(first, owner.email, owner.puk))
    code = sms_sink.last_code(PHONE)
    recover(client, owner, sms_sink)  # the PUK is spent by another recovery
    response = post_form(first, f"/recover/{fid_first}/sms", page="/recover", code=code)
    assert response.status_code == 400


def test_cancel_recovery_goes_back_to_login(client, owner, sms_sink):
    fid = fid_of(start(client, owner.email, owner.puk))
    response = post_form(client, f"/recover/{fid}/cancel", page=f"/recover/{fid}/sms")
    assert response.headers["Location"] == "/login"
    assert client.get(f"/recover/{fid}/sms").status_code == 400


def test_sms_gateway_down_says_try_again(client, owner, sms_sink):
    sms_sink.mode = "error"
    fid = fid_of(start(client, owner.email, owner.puk))
    page = client.get(f"/recover/{fid}/sms").get_data(as_text=True)
    assert "SMS-a nismo mogli poslati" in page
    sms_sink.mode = "ok"
    assert post_form(client, f"/recover/{fid}/resend", page=f"/recover/{fid}/sms") \
        .status_code == 302
    response = post_form(client, f"/recover/{fid}/sms", code=sms_sink.last_code(PHONE))
    assert response.headers["Location"].endswith("/password")


def test_recovery_inside_an_authorization_request_returns_to_the_rp(client, flow, rp, owner,
                                                                     sms_sink):
    f = flow(rp)
    iid = re.search(r"interaction=([^&]+)", f.start().headers["Location"]).group(1)
    assert f"/recover?interaction={iid}" in client.get(f"/login?interaction={iid}") \
        .get_data(as_text=True)
    response = post_form(client, "/recover", page=f"/recover?interaction={iid}",
                         email=owner.email, puk=owner.puk, interaction=iid)
    fid = fid_of(response)
    post_form(client, f"/recover/{fid}/sms", code=sms_sink.last_code(PHONE))
    post_form(client, f"/recover/{fid}/password", password=NEW_PASSWORD,
              password_repeat=NEW_PASSWORD)
    done = post_form(client, f"/recover/{fid}/puk", stored="y")
    assert f"interaction={iid}" in done.headers["Location"]
    assert f'value="{owner.email}"' in client.get(done.headers["Location"]).get_data(as_text=True)
    login = post_form(client, "/login", page=done.headers["Location"], email=owner.email,
                      password=NEW_PASSWORD, interaction=iid)
    params, _ = f.follow_to_rp(login)
    assert "code" in params, params


def test_spelling_variants_of_an_address_count_together(app, client, owner):
    """Counted under the normalised address, known or unknown alike: a variant
    spelling must not lock one sooner than the other."""
    limit = app.config["PUK_MAX_FAILURES"]
    for email in ("nihce@example.si", owner.email):
        answers = [start(client, email, "AAAAAAAA").status_code for _ in range(limit - 1)]
        variant = email.replace("example", "ｅxample")  # a full-width e
        answers.append(start(client, variant, "AAAAAAAA").status_code)
        assert answers == [400] * (limit - 1) + [429], email


def test_one_puk_resets_the_password_only_once(owner):
    from idp.account_changes import reset_password_with_puk
    from idp.accounts.service import AccountError

    stale = db.session.get(User, owner.id).puk_hash
    reset_password_with_puk(owner, NEW_PASSWORD)
    # A parallel submit that read the row before the first one committed.
    set_committed_value(owner, "puk_hash", stale)
    with pytest.raises(AccountError):
        reset_password_with_puk(owner, "Druga-Pot-Vedno-9")
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, owner.id).password_hash, NEW_PASSWORD)
