"""The authorization endpoint: validation, the policy, interactions, consent."""

import json

import pytest

from helpers import PASSWORD, csrf_token, query_of
from idp.extensions import db

HIGH = "http://eidas.europa.eu/LoA/high"
LOW = "http://eidas.europa.eu/LoA/low"


def logged_in(client, email="ana@example.si"):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"csrf_token": token, "email": email,
                                       "password": PASSWORD}).status_code == 302


# -- requests that cannot be trusted never redirect -----------------------------------

def test_unknown_client_shows_a_page_and_never_redirects(client, flow, rp):
    response = client.get("/authorize", query_string=flow(rp).params(client_id="nobody"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_client" in response.get_data(as_text=True)


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/cb", "https://rp.example/cb/",
                                          "https://rp.example/cb?x=1", "HTTPS://rp.example/cb"])
def test_redirect_uri_must_match_exactly(client, flow, rp, redirect_uri):
    response = client.get("/authorize", query_string=flow(rp).params(redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers


# -- errors the RP is told about at its redirect URI ------------------------------------

@pytest.mark.parametrize("override, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"max_age": "-5"}, "invalid_request"),
    ({"claims": "{broken"}, "invalid_request"),
    ({"claims": json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:x"]}}})},
     "unmet_authentication_requirements"),
    ({"prompt": "none"}, "login_required"),
])
def test_errors_are_returned_to_the_rp(client, flow, rp, override, error):
    params = flow(rp).params(**override)
    response = client.get("/authorize", query_string=params)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://rp.example/cb?")
    reply = query_of(location)
    assert reply["error"] == error
    assert reply["state"] == params["state"]
    assert reply["iss"] == "http://localhost:5000"  # RFC 9207


def test_public_client_must_use_pkce(client, flow, make_client):
    public, _ = make_client(public=True)
    response = client.get("/authorize", query_string=flow(public).params(
        code_challenge=None, code_challenge_method=None))
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_duplicate_parameters_are_refused(client, flow, rp):
    query = "&".join(f"{k}={v}" for k, v in flow(rp).params().items()) + "&scope=openid"
    response = client.get("/authorize?" + query)
    # Authlib refuses repeated core parameters before it trusts the redirect URI.
    assert response.status_code == 400 and "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)


# -- the happy path and the policy --------------------------------------------------------

def test_code_flow_returns_code_state_and_iss(client, flow, rp, ana):
    f = flow(rp)
    reply = f.code("ana@example.si")
    assert set(reply) == {"code", "state", "iss"}
    assert reply["iss"] == "http://localhost:5000"


def test_existing_session_is_reused_without_asking(client, flow, rp, ana):
    logged_in(client)
    reply, _ = flow(rp).follow_to_rp(flow(rp).start())
    assert "code" in reply


def test_prompt_none_with_a_session_issues_a_code(client, flow, rp, ana):
    logged_in(client)
    response = flow(rp).start(prompt="none")
    assert "code" in query_of(response.headers["Location"])


def test_prompt_login_asks_again_even_with_a_session(client, flow, rp, ana):
    logged_in(client)
    f = flow(rp)
    response = f.start(prompt="login")
    assert response.headers["Location"].startswith("/login?interaction=")
    reply, _ = f.follow_to_rp(f.login(response, "ana@example.si"))
    assert "code" in reply


def test_max_age_exceeded_asks_to_log_in_again(app, client, flow, rp, ana):
    logged_in(client)
    from idp.authn.sessions import LoginSession
    from datetime import timedelta

    login = db.session.execute(db.select(LoginSession)).scalar_one()
    login.auth_time = login.auth_time - timedelta(seconds=600)
    db.session.commit()
    assert flow(rp).start(max_age="60").headers["Location"].startswith("/login?")
    assert query_of(flow(rp).start(max_age="60", prompt="none").headers["Location"])[
        "error"] == "login_required"
    assert "code" in query_of(flow(rp).start(max_age="3600").headers["Location"])


def test_acr_values_low_is_satisfied_by_a_password(client, flow, rp, ana):
    reply = flow(rp).code("ana@example.si", acr_values=LOW)
    assert "code" in reply


def test_acr_values_high_is_not_met_by_a_password_login(client, flow, rp, ana):
    # A low account is shown the ways to raise its level; giving up tells the
    # RP, which never gets a code.
    f = flow(rp)
    path, html = f.follow_to_page(f.login(f.start(acr_values=HIGH), "ana@example.si"))
    assert path.startswith("/trust?interaction=")
    reply, _ = f.give_up(html)
    assert reply["error"] == "unmet_authentication_requirements"
    assert "code" not in reply


def test_client_minimum_level_cannot_be_lowered_in_the_url(client, flow, make_client, ana):
    strict, _ = make_client(min_acr="high")
    f = flow(strict)
    path, html = f.follow_to_page(f.login(f.start(acr_values=LOW), "ana@example.si"))
    assert path.startswith("/trust?interaction=")
    reply, _ = f.give_up(html)
    assert reply["error"] == "unmet_authentication_requirements"


def test_login_hint_prefills_the_email(client, flow, rp):
    response = flow(rp).start(login_hint="ana@example.si")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="ana@example.si"' in html


def test_ui_locales_switches_the_login_page_to_english(client, flow, rp):
    response = flow(rp).start(ui_locales="en-GB sl")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en">' in html and "to continue to E-banka" in html


def test_cancel_on_the_login_page_returns_access_denied(client, flow, rp):
    response = flow(rp).start()
    page = client.get(response.headers["Location"])
    iid = query_of(response.headers["Location"])["interaction"]
    html = page.get_data(as_text=True)
    assert "Prekliči" in html
    response = client.post(f"/authorize/abort/{iid}", data={"csrf_token": csrf_token(html)})
    reply, _ = flow(rp).follow_to_rp(response)
    assert reply["error"] == "access_denied"


def test_interaction_from_another_browser_is_refused(app, client, flow, rp, ana):
    response = flow(rp).start()
    iid = query_of(response.headers["Location"])["interaction"]
    other = app.test_client()
    page = other.get(f"/login?interaction={iid}")
    assert page.status_code == 400
    assert "potekla" in page.get_data(as_text=True)
    assert other.get(f"/authorize/resume/{iid}").status_code == 400


def test_expired_interaction_says_start_again(client, flow, rp):
    response = flow(rp).start()
    iid = query_of(response.headers["Location"])["interaction"]
    from idp.extensions import store

    store().delete("ia:" + iid)
    page = client.get(response.headers["Location"])
    assert page.status_code == 400 and "Začnite znova" in page.get_data(as_text=True)


def test_reused_nonce_is_refused(client, flow, rp, ana):
    f = flow(rp)
    f.code("ana@example.si", nonce="same-nonce")
    response = f.start(nonce="same-nonce")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_id_token_hint_of_another_person_with_prompt_none(client, flow, rp, ana, make_user):
    make_user(email="bor@example.si")
    f = flow(rp)
    tokens = f.exchange(f.code("bor@example.si")["code"], secret=rp.secret).get_json()
    logged_in(client, "ana@example.si")
    response = f.start(prompt="none", id_token_hint=tokens["id_token"])
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_forged_id_token_hint_is_invalid_request(client, flow, rp, ana):
    logged_in(client)
    response = flow(rp).start(id_token_hint="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


# -- consent for third-party clients -----------------------------------------------------

def test_third_party_client_asks_for_consent_once(client, flow, make_client, ana):
    third, _ = make_client(first_party=False, name="Trgovina")
    f = flow(third)
    response = f.login(f.start(), "ana@example.si")
    assert response.headers["Location"].startswith("/authorize/resume/")
    response = client.get(response.headers["Location"])
    assert "/authorize/consent/" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Trgovina" in html and "vaš e-naslov" in html
    response = client.post(response.headers["Location"],
                           data={"csrf_token": csrf_token(html), "allow": "Dovoli"})
    reply, _ = f.follow_to_rp(response)
    assert "code" in reply
    # the second time the consent is remembered, even with prompt=none
    assert "code" in query_of(f.start(prompt="none").headers["Location"])
    # prompt=consent asks again
    assert "/authorize/consent/" in f.start(prompt="consent").headers["Location"]


def test_denied_consent_returns_access_denied(client, flow, make_client, ana):
    third, _ = make_client(first_party=False)
    f = flow(third)
    response = client.get(f.login(f.start(), "ana@example.si").headers["Location"])
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    response = client.post(response.headers["Location"],
                           data={"csrf_token": csrf_token(html), "deny": "Zavrni"})
    reply, _ = f.follow_to_rp(response)
    assert reply["error"] == "access_denied"


def test_consent_required_with_prompt_none(client, flow, make_client, ana):
    third, _ = make_client(first_party=False)
    logged_in(client)
    response = flow(third).start(prompt="none")
    assert query_of(response.headers["Location"])["error"] == "consent_required"
