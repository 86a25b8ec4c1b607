"""acr end to end: every row of DESIGN.md's table through real logins, what
RPs ask for (acr_values, essential claims, client minimum), and step-up in
the same session when a login falls short."""

import json

import pytest

from helpers import T0, query_of
from idp.accounts.models import User
from idp.audit import AuditEvent
from idp.extensions import db
from people import Person
from softauthn import SoftAuthenticator
from test_token import decode_id_token

LOA = "http://eidas.europa.eu/LoA/"
LOW, SUB, HIGH = LOA + "low", LOA + "substantial", LOA + "high"


@pytest.fixture
def prepare(client, make_user, clock):
    """An account at ``trust`` with a TOTP app and a passkey, logged out."""
    def make(trust="low", email="eva@example.si", methods=("totp", "passkey")):
        user = make_user(email=email)
        person = Person(client, email)
        person.follow(person.login())
        person.key = SoftAuthenticator(uv=True)
        if "totp" in methods:
            person.add_totp(T0)
        if "passkey" in methods:
            person.add_passkey(person.key)
        client.post("/logout", data={"csrf_token": person.token("/")})
        db.session.get(User, user.id).trust_level = trust
        db.session.commit()
        return person
    return make


def log_in(person, how, clock, interaction=""):
    """Log in the way ``how`` says; returns the response after the last step."""
    if how == "passkey":
        response = person.http.get(f"/login/passkey?interaction={interaction}")
        return person.answer_passkey(response.headers["Location"], person.key)
    response = person.login(interaction=interaction)
    if how == "password":
        return response
    clock["now"] += 30
    return person.answer_totp(response.headers["Location"], clock["now"])


def id_token(client, f, reply, secret=None):
    body = f.exchange(reply["code"], secret=secret or f.oauth_client.secret).get_json()
    assert "id_token" in body, body
    return decode_id_token(client, body["id_token"]).claims, body


def totp_code(f, person, clock, **params):
    """A code for ``f`` after a password + TOTP login (a substantial session)."""
    response = f.login(f.start(**params), person.email)
    clock["now"] += 30
    reply, _ = f.follow_to_rp(person.answer_totp(response.headers["Location"], clock["now"]))
    return reply


STRENGTH = {"password": "low", "totp": "substantial", "passkey": "high"}


# DESIGN.md's table, row by row, through real logins: the acr is the lower of
# the account's trust level and this login's strength.
@pytest.mark.parametrize("trust", ["low", "substantial", "high"])
@pytest.mark.parametrize("how", ["password", "totp", "passkey"])
def test_every_row_of_the_acr_table(client, flow, rp, prepare, clock, trust, how):
    person = prepare(trust, methods=() if how == "password" else ("totp", "passkey"))
    f = flow(rp)
    start = f.start()
    iid = query_of(start.headers["Location"])["interaction"]
    reply, _ = f.follow_to_rp(log_in(person, how, clock, iid))
    claims, _ = id_token(client, f, reply)
    ranks = ["low", "substantial", "high"]
    expected = min(trust, STRENGTH[how], key=ranks.index)
    assert claims["acr"] == LOA + expected
    assert claims["trust_level"] == trust
    assert ("mfa" in claims["amr"]) == (how != "password")


def test_userinfo_carries_trust_level(client, flow, rp, prepare, clock):
    prepare("substantial", methods=())
    f = flow(rp)
    _, body = id_token(client, f, f.code("eva@example.si"))
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.get_json()["trust_level"] == "substantial"


def test_discovery_lists_acr_values_and_the_claims_parameter(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["acr_values_supported"] == [LOW, SUB, HIGH]
    assert meta["claims_parameter_supported"] is True
    assert "trust_level" in meta["claims_supported"]


def test_a_session_strong_enough_is_reused(client, flow, rp, prepare, clock):
    person = prepare("high")
    f = flow(rp)
    start = f.start(acr_values=HIGH)
    iid = query_of(start.headers["Location"])["interaction"]
    reply, _ = f.follow_to_rp(log_in(person, "passkey", clock, iid))
    first, _ = id_token(client, f, reply)
    # The next request at the same level is answered at once.
    again = flow(rp)
    response = again.start(acr_values=f"{SUB} {HIGH}")
    assert response.status_code == 302 and "code=" in response.headers["Location"]
    claims, _ = id_token(client, again, query_of(response.headers["Location"]))
    assert claims["acr"] == HIGH and claims["sid"] == first["sid"]


def test_step_up_to_high_keeps_the_session(client, flow, rp, prepare, clock):
    person = prepare("high")
    f = flow(rp)
    first, _ = id_token(client, f, totp_code(f, person, clock))
    assert first["acr"] == SUB

    g = flow(rp)
    path, html = g.follow_to_page(g.start(acr_values=HIGH))
    assert path.startswith("/login/") and 'id="webauthn-options"' in html
    assert "Aplikacija za preverjanje" not in html  # only factors that reach high
    clock["now"] += 60
    reply, _ = g.follow_to_rp(person.answer_passkey(path, person.key))
    claims, _ = id_token(client, g, reply)
    assert claims["acr"] == HIGH
    assert claims["sid"] == first["sid"]  # not logged out
    assert claims["auth_time"] >= first["auth_time"]
    assert set(claims["amr"]) >= {"pwd", "otp", "hwk", "user", "mfa"}
    assert db.session.execute(db.select(AuditEvent).filter_by(event="stepped_up")).scalars().all()


def test_step_up_to_substantial_with_a_second_factor(client, flow, rp, make_user, clock):
    user = make_user(email="eva@example.si")
    person = Person(client, "eva@example.si")
    f = flow(rp)
    first, _ = id_token(client, f, f.code("eva@example.si"))  # password alone: low
    person.add_totp(T0)  # the session stays a password login
    db.session.get(User, user.id).trust_level = "substantial"
    db.session.commit()
    g = flow(rp)
    path, html = g.follow_to_page(g.start(acr_values=SUB))
    assert path.startswith("/login/") and 'name="code"' in html
    clock["now"] += 30
    reply, _ = g.follow_to_rp(person.answer_totp(path, clock["now"]))
    claims, _ = id_token(client, g, reply)
    assert claims["acr"] == SUB and claims["sid"] == first["sid"]
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_cookie_captured_before_a_step_up_is_dead(app, client, flow, rp, make_user, clock):
    """The session gets a new secret when it steps up: a cookie captured while
    it was a password login cannot carry the stronger one (finding 5)."""
    from conftest import Flow

    user = make_user(email="eva@example.si")
    person = Person(client, "eva@example.si")
    f = flow(rp)
    f.code("eva@example.si")  # password alone: low
    person.add_totp(T0)
    db.session.get(User, user.id).trust_level = "substantial"
    db.session.commit()
    stolen = client.get_cookie("idp_session").value
    g = flow(rp)
    path, _ = g.follow_to_page(g.start(acr_values=SUB))
    clock["now"] += 30
    reply, _ = g.follow_to_rp(person.answer_totp(path, clock["now"]))
    assert "code" in reply
    assert client.get_cookie("idp_session").value != stolen
    thief = app.test_client()
    thief.set_cookie("idp_session", stolen)
    t = Flow(thief, rp)
    params, _ = t.follow_to_rp(t.start(prompt="none", acr_values=SUB))
    assert params["error"] == "login_required"
    # The person's own, renewed session goes on at substantial without a prompt.
    params, _ = g.follow_to_rp(g.start(prompt="none", acr_values=SUB))
    assert "code" in params


def test_essential_acr_in_claims_steps_up(client, flow, rp, prepare, clock):
    person = prepare("high")
    totp_code(flow(rp), person, clock)  # a substantial session
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "values": [HIGH]}}})
    g = flow(rp)
    path, _ = g.follow_to_page(g.start(claims=claims_param))
    reply, _ = g.follow_to_rp(person.answer_passkey(path, person.key))
    claims, _ = id_token(client, g, reply)
    assert claims["acr"] == HIGH


@pytest.mark.parametrize("acr", [{"essential": True, "value": HIGH},
                                 {"essential": True, "values": ["urn:unknown", HIGH]}])
def test_essential_acr_value_forms(client, flow, rp, prepare, clock, acr):
    prepare("substantial", methods=())
    f = flow(rp)
    path, html = f.follow_to_page(f.login(f.start(claims=json.dumps({"id_token": {"acr": acr}})),
                                          "eva@example.si"))
    assert path.startswith("/trust?")  # identity substantial < high: ways to raise it
    reply, _ = f.give_up(html)
    assert reply["error"] == "unmet_authentication_requirements"


def test_unknown_essential_acr_fails_at_the_rp(client, flow, rp):
    claims_param = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:x"]}}})
    reply, _ = flow(rp).follow_to_rp(flow(rp).start(claims=claims_param))
    assert reply["error"] == "unmet_authentication_requirements"


def test_several_acr_values_take_the_lowest_acceptable(client, flow, rp, prepare, clock):
    person = prepare("substantial", methods=("totp",))
    f = flow(rp)
    claims, _ = id_token(client, f, totp_code(f, person, clock, acr_values=f"{HIGH} {SUB}"))
    assert claims["acr"] == SUB


def test_client_minimum_steps_up_and_cannot_be_lowered(client, flow, make_client, prepare,
                                                       clock):
    person = prepare("high")
    strict, secret = make_client(min_acr="high")
    f = flow(strict)  # the RP asks for low in the URL; its registration wins
    path, html = f.follow_to_page(f.login(f.start(acr_values=LOW), "eva@example.si"))
    # password alone on an account with second factors: the second step first
    clock["now"] += 30
    response = person.answer_totp(path, clock["now"])
    path, html = f.follow_to_page(response)
    assert path.startswith("/login/")  # then the step-up to a passkey
    reply, _ = f.follow_to_rp(person.answer_passkey(path, person.key))
    strict.secret = secret
    claims, _ = id_token(client, f, reply)
    assert claims["acr"] == HIGH


@pytest.mark.parametrize("trust", ["low", "high"])
def test_prompt_none_never_steps_up(client, flow, rp, prepare, clock, trust):
    person = prepare(trust)
    totp_code(flow(rp), person, clock)  # a substantial session
    reply, _ = flow(rp).follow_to_rp(flow(rp).start(acr_values=HIGH, prompt="none"))
    assert reply["error"] == "interaction_required" and "code" not in reply


def test_max_age_logs_in_again_then_steps_up(client, flow, rp, prepare, clock):
    from datetime import timedelta

    from idp.authn.sessions import LoginSession

    person = prepare("high")
    totp_code(flow(rp), person, clock)
    for login in db.session.execute(db.select(LoginSession)).scalars():
        login.auth_time -= timedelta(seconds=120)
    db.session.commit()
    f = flow(rp)
    path, html = f.follow_to_page(f.start(acr_values=HIGH, max_age="60"))
    assert path.startswith("/login?")  # too old: a whole new login first
    response = f.login(f.start(acr_values=HIGH, max_age="60"), "eva@example.si")
    clock["now"] += 30
    path, _ = f.follow_to_page(person.answer_totp(response.headers["Location"], clock["now"]))
    assert path.startswith("/login/")  # then the step-up
    reply, _ = f.follow_to_rp(person.answer_passkey(path, person.key))
    claims, _ = id_token(client, f, reply)
    assert claims["acr"] == HIGH


def test_cancelled_step_up_tells_the_rp(client, flow, rp, prepare, clock):
    person = prepare("high")
    totp_code(flow(rp), person, clock)
    f = flow(rp)
    path, html = f.follow_to_page(f.start(acr_values=HIGH))
    # "Cancel" on the factor page leads to the step-up page's give-up button.
    cancel = html.split('href="/login/step-up?')[1].split('"')[0].replace("&amp;", "&")
    page = client.get("/login/step-up?" + cancel)
    assert page.status_code == 200
    reply, _ = f.give_up(page.get_data(as_text=True))
    assert reply["error"] == "unmet_authentication_requirements"


def test_key_without_user_verification_is_not_enough_for_high(client, flow, rp, prepare,
                                                              clock):
    person = prepare("high", methods=("totp",))
    weak = SoftAuthenticator(uv=False)
    person.follow(person.login())
    clock["now"] += 30
    # add it while the login is strong: password + TOTP
    response = person.login()
    person.follow(person.answer_totp(response.headers["Location"], clock["now"]))
    person.add_passkey(weak)
    f = flow(rp)
    path, _ = f.follow_to_page(f.start(acr_values=HIGH))
    response = person.answer_passkey(path, weak)
    assert response.status_code == 400
    assert db.session.execute(db.select(AuditEvent).filter_by(event="stepped_up")).first() \
        is None


def test_step_up_rechecks_the_strength_of_the_proof(client, flow, rp, prepare, clock,
                                                  monkeypatch):
    """The step-up checks what the proof reached, not only what its method can
    reach: were the key's own demand for user verification lost, a key without
    it still would not lift the login to high."""
    from idp.authn.methods import passkey as passkey_module

    person = prepare("high", methods=("totp",))
    weak = SoftAuthenticator(uv=False)
    person.follow(person.login())
    clock["now"] += 30
    response = person.login()
    person.follow(person.answer_totp(response.headers["Location"], clock["now"]))
    person.add_passkey(weak)
    monkeypatch.setattr(passkey_module, "_must_verify", lambda flow, user: False)
    f = flow(rp)
    path, _ = f.follow_to_page(f.start(acr_values=HIGH))
    response = person.answer_passkey(path, weak)
    assert response.status_code == 400
    assert "Ta potrditev za storitev ni dovolj močna." in response.get_data(as_text=True)
    assert db.session.execute(db.select(AuditEvent).filter_by(event="stepped_up")).first() \
        is None


def test_no_factor_for_high_offers_a_passkey(client, flow, rp, prepare, clock):
    prepare("high", methods=())
    f = flow(rp)
    path, html = f.follow_to_page(f.login(f.start(acr_values=HIGH), "eva@example.si"))
    assert path.startswith("/login/step-up") and 'id="add-passkey"' in html
    # A verified account's password alone may not add a factor that reaches high.
    response = client.get("/methods/add/passkey")
    assert response.status_code == 302 and response.headers["Location"].startswith("/methods")
    reply, _ = f.give_up(html)
    assert reply["error"] == "unmet_authentication_requirements"


def test_step_up_page_needs_a_live_interaction(client, prepare, clock):
    person = prepare("high", methods=())
    person.follow(person.login())
    assert client.get("/login/step-up?interaction=nope").status_code == 400


def test_the_step_up_page_only_serves_a_step_up_the_policy_asked_for(client, flow, rp, prepare,
                                                                      clock):
    # prompt=login wants a whole new login: opening the step-up page instead
    # leads back to the request, which sends the person to the login page.
    person = prepare("high")
    totp_code(flow(rp), person, clock)
    f = flow(rp)
    start = f.start(prompt="login")
    iid = query_of(start.headers["Location"])["interaction"]
    response = client.get(f"/login/step-up?interaction={iid}")
    assert response.headers["Location"] == f"/authorize/resume/{iid}"
    assert client.get(response.headers["Location"]).headers["Location"].startswith("/login?")


def test_a_step_up_keeps_the_logins_auth_time(client, flow, rp, prepare, clock):
    from idp.authn.sessions import LoginSession

    person = prepare("high")
    f = flow(rp)
    first, _ = id_token(client, f, totp_code(f, person, clock))
    g = flow(rp)
    path, _ = g.follow_to_page(g.start(acr_values=HIGH))
    reply, _ = g.follow_to_rp(person.answer_passkey(path, person.key))
    claims, _ = id_token(client, g, reply)
    assert claims["acr"] == HIGH and claims["auth_time"] == first["auth_time"]
    assert db.session.execute(db.select(LoginSession.strength).filter_by(
        ended_at=None)).scalar_one() == "high"


def test_a_verified_account_cannot_add_a_factor_on_a_password_alone(client, prepare, clock):
    person = prepare("substantial", methods=())
    person.follow(person.login())
    for kind in ("passkey", "totp"):
        response = client.get(f"/methods/add/{kind}")
        assert response.headers["Location"].startswith("/methods"), kind
    assert client.get("/methods/add/sms").headers["Location"].startswith("/methods/enrol/")
