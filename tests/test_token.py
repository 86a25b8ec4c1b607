"""The token endpoint: code exchange, PKCE, refresh rotation, client credentials,
client authentication, and the ID token's claims."""

import base64
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.extensions import store

LOW = "http://eidas.europa.eu/LoA/low"


def decode_id_token(client, id_token, audience=None, nonce=None,
                    issuer="http://localhost:5000"):
    """Verify an ID token's signature against the JWKS and its claims with
    joserfc's registry: ``iss``, ``exp``, ``iat`` always, ``aud`` and ``nonce``
    when given."""
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
    expected = {"iss": {"essential": True, "value": issuer}, "exp": {"essential": True},
                "iat": {"essential": True}, "sub": {"essential": True}}
    if audience is not None:
        expected["aud"] = {"essential": True, "value": audience}
    if nonce is not None:
        expected["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(leeway=5, **expected).validate(token.claims)
    return token


def userinfo_status(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_code_exchange_gives_tokens_and_a_valid_id_token(client, flow, rp, ana):
    f = flow(rp)
    reply = f.code("ana@example.si", nonce="n-123")
    response = f.exchange(reply["code"], secret=rp.secret)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    token = decode_id_token(client, tokens["id_token"], audience=rp.client_id, nonce="n-123")
    claims = token.claims
    assert token.header["alg"] == "RS256" and token.header["kid"]
    assert claims["iss"] == "http://localhost:5000"
    assert claims["aud"] == rp.client_id
    assert claims["sub"] == ana.sub
    assert claims["nonce"] == "n-123"
    assert claims["acr"] == LOW
    assert claims["amr"] == ["pwd"]
    assert claims["trust_level"] == "low"
    assert abs(claims["auth_time"] - time.time()) < 60
    assert claims["sid"] and claims["at_hash"]
    assert claims["exp"] > claims["iat"]


def test_es256_id_tokens_for_clients_that_ask(client, flow, make_client, ana):
    es_client, secret = make_client(id_token_alg="ES256")
    f = flow(es_client)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=secret).get_json()
    token = decode_id_token(client, tokens["id_token"])
    assert token.header["alg"] == "ES256"


def test_client_secret_post_works(client, flow, rp, ana):
    f = flow(rp)
    code = f.code("ana@example.si")["code"]
    response = f.exchange(code, client_id=rp.client_id, client_secret=rp.secret)
    assert response.status_code == 200


def test_public_client_with_pkce_and_no_secret(client, flow, make_client, ana):
    public, secret = make_client(public=True)
    assert secret is None
    f = flow(public)
    response = f.exchange(f.code("ana@example.si")["code"])
    assert response.status_code == 200


@pytest.mark.parametrize("verifier, error", [
    ("x" * 43, "invalid_grant"),  # wrong verifier
    ("short", "invalid_request"),  # malformed verifier
])
def test_wrong_pkce_verifier(client, flow, rp, ana, verifier, error):
    f = flow(rp)
    response = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret, verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_missing_pkce_verifier(client, flow, rp, ana):
    f = flow(rp)
    code = f.code("ana@example.si")["code"]
    response = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": rp.redirect_uris[0]},
                           auth=(rp.client_id, rp.secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_verifier_without_challenge_is_refused(client, flow, rp, ana):
    f = flow(rp)
    code = f.code("ana@example.si", code_challenge=None, code_challenge_method=None)["code"]
    response = f.exchange(code, secret=rp.secret)
    assert response.status_code == 400  # RFC 9700 4.8.2


def test_code_reuse_fails_and_revokes_what_it_issued(client, flow, rp, ana):
    f = flow(rp)
    code = f.code("ana@example.si")["code"]
    tokens = f.exchange(code, secret=rp.secret).get_json()
    assert userinfo_status(client, tokens["access_token"]) == 200
    again = f.exchange(code, secret=rp.secret)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert userinfo_status(client, tokens["access_token"]) == 401
    refresh = client.post("/token", data={"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]},
                          auth=(rp.client_id, rp.secret))
    assert refresh.get_json()["error"] == "invalid_grant"


def test_expired_code_is_refused(app, client, flow, rp, ana):
    app.config["CODE_TTL"] = 1
    f = flow(rp)
    code = f.code("ana@example.si")["code"]
    time.sleep(1.1)  # the store's own TTL; 1 s is the smallest Redis allows
    response = f.exchange(code, secret=rp.secret)
    assert response.get_json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(client, flow, rp, make_client, ana):
    other, other_secret = make_client(name="Druga")
    code = flow(rp).code("ana@example.si")["code"]
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": other.redirect_uris[0], "code_verifier": "x" * 43},
        auth=(other.client_id, other_secret))
    assert response.get_json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization_request(client, flow, make_client, ana):
    two, secret = make_client(redirect_uris=["https://rp.example/cb", "https://rp.example/cb2"])
    f = flow(two)
    code = f.code("ana@example.si")["code"]
    response = f.exchange(code, secret=secret, redirect_uri="https://rp.example/cb2")
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic !!!not-base64"},
    {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
    {"Authorization": "Bearer abc"},
    {"Authorization": "Basic"},
    {"Authorization": "Basic " + base64.b64encode(b"unknown:secret").decode()},
])
def test_malformed_or_wrong_client_authentication(client, headers):
    # RFC 6749 5.2: a client that tried the Authorization header gets 401 and a
    # Basic challenge, whatever was wrong with it.
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_bad_client_secret(client, flow, rp, ana):
    f = flow(rp)
    response = f.exchange(f.code("ana@example.si")["code"], secret="wrong-secret")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response.headers


def test_unsupported_grant_type(client, rp):
    response = client.post("/token", data={"grant_type": "password", "username": "a",
                                           "password": "b"}, auth=(rp.client_id, rp.secret))
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_token_endpoint_rejects_get(client):
    assert client.get("/token").status_code == 405


# -- refresh tokens ------------------------------------------------------------------------

def refresh(client, rp, token):
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                       auth=(rp.client_id, rp.secret))


def test_refresh_rotates_and_reuse_revokes_the_family(client, flow, rp, ana):
    f = flow(rp)
    first = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    second = refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert userinfo_status(client, second["access_token"]) == 200
    # an attacker replays the old refresh token: refused, and the whole family dies
    assert refresh(client, rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert refresh(client, rp, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert userinfo_status(client, second["access_token"]) == 401


def test_refresh_keeps_acr_and_auth_time(client, flow, rp, ana):
    f = flow(rp)
    first = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    second = refresh(client, rp, first["refresh_token"]).get_json()
    record = client.post("/introspect", data={"token": second["access_token"]},
                         auth=(rp.client_id, rp.secret)).get_json()
    assert record["acr"] == LOW
    assert record["auth_time"] == decode_id_token(client, first["id_token"]).claims["auth_time"]


def test_refresh_with_another_clients_token(client, flow, rp, make_client, ana):
    other, other_secret = make_client(name="Druga")
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    response = client.post("/token", data={"grant_type": "refresh_token",
                                           "refresh_token": tokens["refresh_token"]},
                           auth=(other.client_id, other_secret))
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si", scope="openid email")["code"],
                        secret=rp.secret).get_json()
    response = client.post("/token", data={"grant_type": "refresh_token", "scope": "openid phone",
                                           "refresh_token": tokens["refresh_token"]},
                           auth=(rp.client_id, rp.secret))
    assert response.get_json()["error"] == "invalid_scope"


def test_unknown_refresh_token(client, rp):
    assert refresh(client, rp, "nope").get_json()["error"] == "invalid_grant"


# -- client credentials ------------------------------------------------------------------

def test_client_credentials(client, make_client):
    machine, secret = make_client(grant_types=["client_credentials"], redirect_uris=[],
                                  scope="profile")
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           auth=(machine.client_id, secret))
    assert response.status_code == 200
    tokens = response.get_json()
    assert "refresh_token" not in tokens and "id_token" not in tokens
    record = client.post("/introspect", data={"token": tokens["access_token"]},
                         auth=(machine.client_id, secret)).get_json()
    assert record["active"] and record["client_id"] == machine.client_id
    assert "sub" not in record


def test_client_credentials_not_allowed_for_rp(client, rp):
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           auth=(rp.client_id, rp.secret))
    assert response.get_json()["error"] == "unauthorized_client"


def test_access_tokens_are_stored_as_digests(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    assert store().get("at:" + tokens["access_token"]) is None
    from idp.oauth.models import digest

    assert store().get("at:" + digest(tokens["access_token"])) is not None


def test_json_body_is_not_a_token_request(client, rp):
    response = client.post("/token", json={"grant_type": "client_credentials"},
                           auth=(rp.client_id, rp.secret))
    assert response.status_code == 400
    assert response.get_json()["error"] in ("unsupported_grant_type", "invalid_request")


def test_oversized_body_is_refused_without_a_500(client, rp):
    response = client.post("/token", data={"grant_type": "client_credentials",
                                           "pad": "x" * 100_000},
                           auth=(rp.client_id, rp.secret))
    assert response.status_code == 413


def test_form_parameters_with_odd_encoding(client, rp):
    response = client.post("/token", data=b"grant_type=%FF%FE&code=%",
                           content_type="application/x-www-form-urlencoded",
                           auth=(rp.client_id, rp.secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
