"""Login methods as strategies: TOTP, SMS and passkeys as second factors, a
passkey alone, what each login reports in ``amr``/``acr``, and lock-out."""

import json

import pyotp
import pytest

from helpers import T0, query_of
from idp.audit import AuditEvent
from idp.authn.methods import KNOWLEDGE, POSSESSION, VERIFIED, Proof, combine
from idp.authn.methods import totp as totp_module
from idp.authn.methods.models import LoginMethod
from idp.extensions import db
from people import Person
from softauthn import SoftAuthenticator
from test_token import decode_id_token




def pwd():
    return Proof(("pwd",), frozenset({KNOWLEDGE}))


@pytest.mark.parametrize("proofs, amr, strength", [
    ([pwd()], ["pwd"], "low"),
    ([pwd(), Proof(("otp",), frozenset({POSSESSION}), "substantial")], ["pwd", "otp", "mfa"],
     "substantial"),
    ([pwd(), Proof(("sms",), frozenset({POSSESSION}), "substantial")], ["pwd", "sms", "mfa"],
     "substantial"),
    # a key without user verification: two factors, not phishing-resistant enough for high
    ([pwd(), Proof(("hwk", "user"), frozenset({POSSESSION}), "substantial")],
     ["pwd", "hwk", "user", "mfa"],
     "substantial"),
    ([Proof(("hwk", "user"), frozenset({POSSESSION, VERIFIED}), "high")], ["hwk", "user", "mfa"],
     "high"),
    # a passkey that did not verify the person is one factor: low on its own
    ([Proof(("swk", "user"), frozenset({POSSESSION}), "substantial")], ["swk", "user"], "low"),
    ([pwd(), Proof(("hwk", "user"), frozenset({POSSESSION, VERIFIED}), "high")],
     ["pwd", "hwk", "user", "mfa"], "high"),
])
def test_combine_gives_amr_and_strength(proofs, amr, strength):
    assert combine(proofs) == (amr, strength)


# -- TOTP, with a fixed clock ---------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize("offset_steps, accepted", [(0, True), (-1, True), (1, True),
                                                     (-2, False), (2, False)])
def test_totp_accepts_one_step_of_drift(offset_steps, accepted):
    code = pyotp.TOTP(SECRET).at(T0 + 30 * offset_steps)
    step = totp_module.matching_step(SECRET, code, T0)
    assert (step is not None) is accepted
    if accepted:
        assert step == pyotp.TOTP(SECRET).timecode(T0) + offset_steps


def test_totp_code_is_refused_once_its_step_was_used():
    code = pyotp.TOTP(SECRET).at(T0)
    step = totp_module.matching_step(SECRET, code, T0)
    assert totp_module.matching_step(SECRET, code, T0, last_step=step) is None
    assert totp_module.matching_step(SECRET, "12345x", T0) is None


def test_totp_secret_is_stored_encrypted(app):
    sealed = totp_module.seal(SECRET)
    assert SECRET.encode() not in sealed
    assert totp_module.unseal(sealed) == SECRET


def test_totp_enrolment_needs_a_right_first_code(ana_person, clock, client):
    url = ana_person.enrol_url("totp")
    html = client.get(url).get_data(as_text=True)
    assert "<svg" in html  # the QR code, rendered on the server
    response = ana_person.post(url, code="000000", name="Telefon")
    assert response.status_code == 400
    assert db.session.execute(db.select(LoginMethod)).first() is None
    assert ana_person.add_totp(T0).status_code == 302
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    assert (row.kind, row.name) == ("totp", "Telefon")


def test_password_then_totp_login_reports_otp_and_mfa(client, flow, rp, ana_person, clock):
    ana_person.add_totp(T0)
    clock["now"] = T0 + 60
    f = flow(rp)
    response = f.login(f.start(prompt="login"), "ana@example.si")
    assert "/verify" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "aplikacij" in page  # the authenticator app is offered (the only method)
    reply, _ = f.follow_to_rp(ana_person.answer_totp(response.headers["Location"], T0 + 60))
    tokens = f.exchange(reply["code"], secret=rp.secret).get_json()
    claims = decode_id_token(client, tokens["id_token"]).claims
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "http://eidas.europa.eu/LoA/low"  # identity level low caps it


def test_replayed_and_old_totp_codes_are_refused(client, ana_person, clock):
    ana_person.add_totp(T0)
    # The enrolment's own code (step of T0) cannot log in again.
    url = ana_person.login().headers["Location"]
    response = ana_person.answer_totp(url, T0)
    assert response.status_code == 400
    assert "že uporabljena" in response.get_data(as_text=True)
    # A code two steps old is refused, a current one works, and works once.
    clock["now"] = T0 + 120
    assert ana_person.answer_totp(url, T0 + 60).status_code == 400
    assert ana_person.answer_totp(url, T0 + 120).status_code == 302
    url = ana_person.login().headers["Location"]
    assert ana_person.answer_totp(url, T0 + 120).status_code == 400


def test_wrong_second_factor_codes_lock_the_account(app, client, ana_person, clock):
    ana_person.add_totp(T0)
    url = ana_person.login().headers["Location"]
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert ana_person.answer_totp(url.split("?")[0], T0 - 3000).status_code == 400
    response = ana_person.answer_totp(url, T0 - 3000)
    assert response.status_code == 429
    # Locked: even the right password is refused now.
    assert ana_person.login().status_code == 429
    events = [e.event for e in db.session.execute(db.select(AuditEvent)).scalars()]
    assert "account_locked" in events and events.count("login_failed") >= 5


def test_second_factor_step_cannot_be_skipped(app, ana_person, clock):
    ana_person.add_totp(T0)
    browser = app.test_client()
    response = Person(browser, "ana@example.si").login()
    assert "/verify" in response.headers["Location"]
    # Without the second factor there is no session: the dashboard sends to login.
    assert browser.get("/").headers["Location"].startswith("/login")


# -- SMS as a second factor -----------------------------------------------------------------

def test_sms_second_factor(client, flow, rp, ana_person, sms_sink):
    assert ana_person.add_sms(sms_sink).status_code == 302
    f = flow(rp)
    response = f.login(f.start(prompt="login"), "ana@example.si")
    url = response.headers["Location"]
    client.get(url)
    code = sms_sink.last_code("+38641123123")
    wrong = ana_person.post(url, method="sms", code="000000" if code != "000000" else "111111")
    assert wrong.status_code == 400
    reply, _ = f.follow_to_rp(ana_person.post(url, method="sms", code=code))
    claims = decode_id_token(client, f.exchange(reply["code"], secret=rp.secret)
                             .get_json()["id_token"]).claims
    assert claims["amr"] == ["pwd", "sms", "mfa"]


def test_the_last_used_method_is_offered_first(client, ana_person, sms_sink, clock):
    ana_person.add_sms(sms_sink)
    ana_person.add_totp(T0)
    # Nothing used yet: passkeys, then apps, then SMS; here the app comes first.
    url = ana_person.login().headers["Location"]
    first = client.get(url).get_data(as_text=True).split("Drug način")[0]
    assert 'name="method" value="totp"' in first
    ana_person.answer_totp(url, T0 + 60)
    sms_row = db.session.execute(db.select(LoginMethod).filter_by(kind="sms")).scalar_one()
    sms_row.last_used_at = sms_row.created_at.replace(year=2030)  # used after the app
    db.session.commit()
    url = ana_person.login().headers["Location"]
    first = client.get(url).get_data(as_text=True).split("Drug način")[0]
    assert 'name="method" value="sms"' in first


# -- passkeys ---------------------------------------------------------------------------

def test_passkey_enrolment_and_second_factor(client, flow, rp, ana_person):
    key = SoftAuthenticator(uv=True)
    assert ana_person.add_passkey(key, name="YubiKey").status_code == 302
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    assert (row.kind, row.name, row.user_verified, row.counter) == ("passkey", "YubiKey",
                                                                    True, 0)
    f = flow(rp)
    url = f.login(f.start(prompt="login"), "ana@example.si").headers["Location"]
    reply, _ = f.follow_to_rp(ana_person.answer_passkey(url, key))
    claims = decode_id_token(client, f.exchange(reply["code"], secret=rp.secret)
                             .get_json()["id_token"]).claims
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
    db.session.refresh(row)
    assert row.counter == 1 and row.last_used_at is not None


def test_passkey_alone_logs_in_at_high_strength(client, flow, make_client, make_user):
    from idp.accounts.models import User

    vid = make_user(email="vid@example.si")
    person = Person(client, "vid@example.si")
    person.follow(person.login())
    key = SoftAuthenticator(uv=True)
    person.add_passkey(key)
    client.post("/logout", data={"csrf_token": person.token("/")})
    db.session.get(User, vid.id).trust_level = "high"
    db.session.commit()
    strict, secret = make_client(min_acr="http://eidas.europa.eu/LoA/high")
    f = flow(strict)
    start = f.start()
    iid = query_of(start.headers["Location"])["interaction"]
    response = client.get(f"/login/passkey?interaction={iid}")
    reply, _ = f.follow_to_rp(person.answer_passkey(response.headers["Location"], key))
    claims = decode_id_token(client, f.exchange(reply["code"], secret=secret)
                             .get_json()["id_token"]).claims
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["sub"] == db.session.execute(
        db.select(User.sub).filter_by(email="vid@example.si")).scalar_one()


def test_passwordless_login_requires_user_verification(client, ana_person):
    key = SoftAuthenticator(uv=False)
    ana_person.add_passkey(key)
    response = client.get("/login/passkey")
    response = ana_person.answer_passkey(response.headers["Location"], key)
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still Ana's first session, nothing new


def test_synced_passkey_is_a_software_key(client, flow, rp, ana_person):
    key = SoftAuthenticator(uv=True, backup_eligible=True, backed_up=True)
    ana_person.add_passkey(key)
    f = flow(rp)
    url = f.login(f.start(prompt="login"), "ana@example.si").headers["Location"]
    reply, _ = f.follow_to_rp(ana_person.answer_passkey(url, key))
    claims = decode_id_token(client, f.exchange(reply["code"], secret=rp.secret)
                             .get_json()["id_token"]).claims
    assert "swk" in claims["amr"] and "hwk" not in claims["amr"]


@pytest.mark.parametrize("origin, rp_id", [("https://evil.example", None),
                                           ("http://localhost:5000", "evil.example")])
def test_passkey_enrolment_from_another_origin_or_rp_is_refused(ana_person, origin, rp_id):
    response = ana_person.add_passkey(SoftAuthenticator(), origin=origin, rp_id=rp_id)
    assert response.status_code == 400
    assert db.session.execute(db.select(LoginMethod)).first() is None


@pytest.mark.parametrize("origin, rp_id", [("https://evil.example", None),
                                           ("http://localhost:5000", "evil.example")])
def test_passkey_assertion_for_another_origin_or_rp_is_refused(client, ana_person, origin,
                                                               rp_id):
    key = SoftAuthenticator()
    ana_person.add_passkey(key)
    url = ana_person.login().headers["Location"]
    response = ana_person.answer_passkey(url, key, origin=origin, rp_id=rp_id)
    assert response.status_code == 400


def test_replayed_passkey_assertion_is_refused(client, ana_person):
    key = SoftAuthenticator()
    ana_person.add_passkey(key)
    url = ana_person.login().headers["Location"]
    html = client.get(url.split("?")[0] + "?method=passkey").get_data(as_text=True)
    from people import csrf_token, options_on

    assertion = json.dumps(key.get(options_on(html), origin="http://localhost:5000"))
    data = {"csrf_token": csrf_token(html), "method": "passkey", "credential": assertion}
    assert client.post(url, data=data).status_code == 302
    # The same bytes again, in a new login: its challenge is another one.
    url = ana_person.login().headers["Location"]
    client.get(url.split("?")[0] + "?method=passkey")
    data["csrf_token"] = ana_person.token("/")
    assert client.post(url.split("?")[0], data=data).status_code == 400


def test_sign_counter_going_backwards_is_refused_and_audited(client, ana_person):
    key = SoftAuthenticator()
    key.initial_sign_count = 10
    ana_person.add_passkey(key)
    url = ana_person.login().headers["Location"]
    response = ana_person.answer_passkey(url, key, sign_count=5)
    assert response.status_code == 400
    events = [e.event for e in db.session.execute(db.select(AuditEvent)).scalars()]
    assert "passkey_counter_regressed" in events


def test_passwordless_login_needs_the_user_handle(client, ana_person):
    key = SoftAuthenticator(uv=True)
    ana_person.add_passkey(key)
    url = client.get("/login/passkey").headers["Location"]
    html = client.get(url).get_data(as_text=True)
    from people import csrf_token, options_on

    assertion = key.get(options_on(html), origin="http://localhost:5000")
    assertion["response"]["userHandle"] = None
    response = client.post(url, data={"csrf_token": csrf_token(html), "method": "passkey",
                                      "credential": json.dumps(assertion)})
    assert response.status_code == 400


def test_unknown_key_gets_a_clear_message(client):
    response = client.get("/login/passkey")
    url = response.headers["Location"]
    person = Person(client, "nobody@example.si")
    key = SoftAuthenticator()
    key.create({"rp": {"id": "localhost", "name": "x"}, "user": {"id": "dXNlcg", "name": "u",
                "displayName": "u"}, "challenge": "Y2hhbGxlbmdl",
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}]},
               origin="http://localhost:5000")
    response = person.answer_passkey(url, key)
    assert response.status_code == 400
    assert "ni registriran" in response.get_data(as_text=True)


def test_malformed_credential_is_a_clear_error_not_a_500(client, ana_person):
    key = SoftAuthenticator()
    ana_person.add_passkey(key)
    raw_id = json.loads(json.dumps(key.get({"allowCredentials": [], "challenge": "eA",
                                            "rpId": "localhost"},
                                           origin="http://localhost:5000")))["rawId"]
    url = ana_person.login().headers["Location"].split("?")[0] + "?method=passkey"
    for junk in ("{", "[]", json.dumps({"rawId": "!!"}), json.dumps({"rawId": "AAAA"}),
                 json.dumps({"rawId": raw_id, "response": "x"}),
                 json.dumps({"rawId": raw_id, "response": []})):
        response = ana_person.post(url, method="passkey", credential=junk)
        assert response.status_code == 400, junk
        # a failed answer is never put back into the page for the next try
        assert 'name="credential" value=""' in response.get_data(as_text=True)


def test_factor_page_of_another_browser_is_refused(app, client, ana_person, clock):
    ana_person.add_totp(T0)
    url = ana_person.login().headers["Location"]
    other = app.test_client()
    assert other.get(url).status_code == 400


def test_password_is_still_checked_first(client, ana_person, clock):
    ana_person.add_totp(T0)
    response = ana_person.login(password="Wrong-Geslo-1")
    assert response.status_code == 400
    assert "/verify" in ana_person.login().headers["Location"]  # the right one goes on
