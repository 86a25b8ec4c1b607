"""Discovery, JWKS, userinfo, revocation (RFC 7009), introspection (RFC 7662),
RP-initiated logout."""

import pytest

from helpers import csrf_token, query_of

ISSUER = "http://localhost:5000"


@pytest.fixture
def tokens(client, flow, rp, make_user):
    make_user(email="ana@example.si", given_name="Ana", family_name="Novak")
    f = flow(rp)
    return f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()


def test_discovery_has_what_a_standard_rp_needs(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.get_json()
    assert meta["issuer"] == ISSUER
    for name in ("authorization", "token", "userinfo", "revocation", "introspection",
                 "end_session"):
        assert meta[f"{name}_endpoint"].startswith(ISSUER + "/")
    assert meta["jwks_uri"] == ISSUER + "/jwks.json"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["acr_values_supported"] == [
        "http://eidas.europa.eu/LoA/low", "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high"]
    assert {"acr", "amr", "auth_time", "sid", "trust_level"} <= set(meta["claims_supported"])
    assert meta["claims_parameter_supported"] is True
    assert set(meta["scopes_supported"]) == {"openid", "profile", "email", "phone"}
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["subject_types_supported"] == ["public"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_jwks_publishes_public_keys_only(client):
    keys = client.get("/jwks.json").get_json()["keys"]
    assert {k["alg"] for k in keys} >= {"RS256", "ES256"}
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# -- userinfo -----------------------------------------------------------------------------

def test_userinfo_get_and_post(client, tokens):
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    got = client.get("/userinfo", headers=headers)
    posted = client.post("/userinfo", headers=headers)
    assert got.status_code == posted.status_code == 200
    claims = got.get_json()
    assert claims == posted.get_json()
    assert claims["email"] == "ana@example.si" and claims["email_verified"] is True
    assert claims["name"] == "Ana Novak" and claims["phone_number"] == "+38641123123"
    assert claims["trust_level"] == "low"


def test_userinfo_releases_only_the_granted_scopes(client, flow, rp, make_user):
    make_user(email="bor@example.si")
    f = flow(rp)
    tokens = f.exchange(f.code("bor@example.si", scope="openid email")["code"],
                        secret=rp.secret).get_json()
    claims = client.get("/userinfo", headers={
        "Authorization": "Bearer " + tokens["access_token"]}).get_json()
    assert "email" in claims and "phone_number" not in claims and "name" not in claims


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"},
                                     {"Authorization": "Basic YTpi"}])
def test_userinfo_without_a_bearer_token(client, headers):
    # RFC 6750 3.1: no token (or another scheme) gets a challenge without an error code.
    response = client.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="http://localhost:5000"'
    assert response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize("value", ["Bearer not-a-token", "Bearer a b c"])
def test_userinfo_with_a_bad_token(client, value):
    response = client.get("/userinfo", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.get_json()["error"] == "invalid_token"
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_needs_the_openid_scope(client, make_client):
    machine, secret = make_client(grant_types=["client_credentials"], redirect_uris=[],
                                  scope="profile")
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        auth=(machine.client_id, secret)).get_json()["access_token"]
    response = client.get("/userinfo", headers={"Authorization": "Bearer " + token})
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


# -- revocation and introspection --------------------------------------------------------

def introspect(client, rp, token, **extra):
    return client.post("/introspect", data={"token": token, **extra},
                       auth=(rp.client_id, rp.secret))


def test_introspection_of_active_tokens(client, rp, tokens):
    record = introspect(client, rp, tokens["access_token"]).get_json()
    assert record["active"] is True
    assert record["client_id"] == rp.client_id and record["iss"] == ISSUER
    assert record["scope"] == "openid profile email phone"
    assert record["acr"] == "http://eidas.europa.eu/LoA/low"
    record = introspect(client, rp, tokens["refresh_token"],
                        token_type_hint="refresh_token").get_json()
    assert record["active"] is True and record["token_type"] == "refresh_token"


def test_introspection_of_unknown_or_foreign_tokens_is_inactive(client, rp, tokens,
                                                                 make_client):
    assert introspect(client, rp, "garbage").get_json() == {"active": False}
    other, other_secret = make_client(name="Druga")
    response = client.post("/introspect", data={"token": tokens["access_token"]},
                           auth=(other.client_id, other_secret))
    assert response.get_json() == {"active": False}


def test_introspection_needs_client_authentication(client, tokens):
    response = client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_introspection_bad_requests(client, rp):
    assert client.post("/introspect", data={}, auth=(rp.client_id, rp.secret)).get_json()[
        "error"] == "invalid_request"
    assert introspect(client, rp, "x", token_type_hint="id_token").get_json()[
        "error"] == "unsupported_token_type"


def test_revoking_an_access_token(client, rp, tokens):
    response = client.post("/revoke", data={"token": tokens["access_token"]},
                           auth=(rp.client_id, rp.secret))
    assert response.status_code == 200
    assert introspect(client, rp, tokens["access_token"]).get_json() == {"active": False}
    assert client.get("/userinfo", headers={
        "Authorization": "Bearer " + tokens["access_token"]}).status_code == 401


def test_revoking_a_refresh_token_revokes_its_grant(client, rp, tokens):
    client.post("/revoke", data={"token": tokens["refresh_token"],
                                 "token_type_hint": "refresh_token"},
                auth=(rp.client_id, rp.secret))
    assert introspect(client, rp, tokens["refresh_token"]).get_json() == {"active": False}
    assert introspect(client, rp, tokens["access_token"]).get_json() == {"active": False}


def test_revoking_an_unknown_token_is_ok(client, rp):
    # RFC 7009 2.2: invalid tokens do not cause an error
    response = client.post("/revoke", data={"token": "nope"}, auth=(rp.client_id, rp.secret))
    assert response.status_code == 200


def test_revoking_another_clients_token_is_refused(client, rp, tokens, make_client):
    other, other_secret = make_client(name="Druga")
    response = client.post("/revoke", data={"token": tokens["access_token"]},
                           auth=(other.client_id, other_secret))
    assert response.status_code == 400
    assert introspect(client, rp, tokens["access_token"]).get_json()["active"] is True


# -- logout -----------------------------------------------------------------------------

def test_logout_with_id_token_hint_redirects_to_the_registered_uri(client, rp, tokens):
    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://rp.example/bye",
        "state": "s1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example/bye?state=s1"
    # the session is gone and its tokens with it
    assert client.get("/").status_code == 302
    assert introspect(client, rp, tokens["refresh_token"]).get_json() == {"active": False}


def test_logout_never_redirects_to_an_unregistered_uri(client, rp, tokens):
    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_without_hint_asks_for_confirmation(client, rp, tokens):
    page = client.get("/logout", query_string={"client_id": rp.client_id,
                                                "post_logout_redirect_uri": "https://rp.example/bye"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Se želite odjaviti?" in html
    assert client.get("/").status_code == 200  # still logged in
    response = client.post("/logout", data={"csrf_token": csrf_token(html),
                                            "client_id": rp.client_id,
                                            "post_logout_redirect_uri": "https://rp.example/bye"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example/bye"
    assert client.get("/").status_code == 302


def test_logout_by_a_third_party_post_without_csrf_only_asks(client, rp, tokens):
    page = client.post("/logout", data={"client_id": rp.client_id})
    assert page.status_code == 200 and "Se želite odjaviti?" in page.get_data(as_text=True)
    assert client.get("/").status_code == 200


def test_logout_with_a_forged_hint(client):
    response = client.get("/logout", query_string={"id_token_hint": "a.b.c"})
    assert response.status_code == 400


def test_prompt_none_after_logout_is_login_required(client, flow, rp, tokens):
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    response = flow(rp).start(prompt="none")
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_individual_claims_requested_with_the_claims_parameter(client, flow, rp, ana):
    import json

    from test_token import decode_id_token

    f = flow(rp)
    claims = json.dumps({"id_token": {"email": {"essential": True}},
                         "userinfo": {"phone_number": None, "unknown_claim": None}})
    tokens = f.exchange(f.code("ana@example.si", scope="openid", claims=claims)["code"],
                        secret=rp.secret).get_json()
    id_claims = decode_id_token(client, tokens["id_token"], audience=rp.client_id).claims
    assert id_claims["email"] == "ana@example.si" and "phone_number" not in id_claims
    info = client.get("/userinfo", headers={
        "Authorization": "Bearer " + tokens["access_token"]}).get_json()
    assert info["phone_number"] == "+38641123123"
    assert "email" not in info and "unknown_claim" not in info


def test_logout_confirmation_with_a_forged_csrf_token(client, rp, tokens):
    response = client.post("/logout", data={"csrf_token": "forged", "client_id": rp.client_id})
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still logged in
