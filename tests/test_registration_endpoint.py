"""Dynamic client registration (RFC 7591) behind operator-issued initial access
tokens, and management of the registration (RFC 7592): every invalid metadata
field, every kind of bad token, and a registered client doing a full code flow."""

import hashlib
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from helpers import csrf_token

ISSUER = "http://localhost:5000"
GOOD = {
    "client_name": "Trgovina",
    "redirect_uris": ["https://shop.example/cb"],
    "post_logout_redirect_uris": ["https://shop.example/bye"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": "openid email",
    "backchannel_logout_uri": "https://shop.example/bcl",
    "backchannel_logout_session_required": True,
    "client_uri": "https://shop.example/",
    "contacts": ["it@shop.example"],
}


def sha256(value):
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def iat(app):
    """An initial access token good for five registrations."""
    from idp.oauth.registration import issue_initial_access_token

    token, _ = issue_initial_access_token(uses=5, actor="operator:test")
    return token


def register(client, token, body, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/connect/register", json=body, headers=headers)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def clients_count():
    from idp.extensions import db
    from idp.oauth.models import OAuthClient

    return db.session.scalar(db.select(db.func.count()).select_from(OAuthClient))


def events(name):
    from idp.audit import AuditEvent
    from idp.extensions import db

    return db.session.execute(db.select(AuditEvent).filter_by(event=name)
                              .order_by(AuditEvent.id)).scalars().all()


def uses_left(token):
    from idp.extensions import db
    from idp.oauth.models import InitialAccessToken

    db.session.expire_all()
    return db.session.execute(db.select(InitialAccessToken.uses_left).filter_by(
        token_digest=sha256(token))).scalar_one()


def test_discovery_advertises_the_registration_endpoint(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["registration_endpoint"] == ISSUER + "/connect/register"


def test_registering_a_confidential_client(client, iat):
    from idp.extensions import db
    from idp.oauth.clients import get_client

    response = register(client, iat, GOOD)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    client_id = body["client_id"]
    assert body["registration_client_uri"] == f"{ISSUER}/connect/register/{client_id}"
    assert body["client_secret_expires_at"] == 0 and body["client_id_issued_at"] > 0
    for field in ("client_name", "redirect_uris", "post_logout_redirect_uris", "grant_types",
                  "response_types", "scope", "backchannel_logout_uri",
                  "backchannel_logout_session_required", "client_uri", "contacts"):
        assert body[field] == GOOD[field], field
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["id_token_signed_response_alg"] == "RS256"
    stored = get_client(client_id)
    db.session.refresh(stored)
    # Secrets kept only as SHA-256 digests, like the operator's clients.
    assert stored.secret_digest == sha256(body["client_secret"])
    assert stored.registration_token_digest == sha256(body["registration_access_token"])
    assert stored.first_party is False  # consent will be asked
    assert stored.backchannel_logout_uri == "https://shop.example/bcl"
    assert uses_left(iat) == 4
    [event] = events("client_registered")
    assert event.details["client_id"] == client_id and event.actor.startswith("registration:")


def test_registering_a_public_client_gets_no_secret(client, iat):
    body = register(client, iat, {"redirect_uris": ["http://127.0.0.1:8765/cb"],
                                  "token_endpoint_auth_method": "none"}).get_json()
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code"]  # the RFC 7591 default
    assert body["client_name"] == body["client_id"]


def test_registering_a_machine_client(client, iat):
    response = register(client, iat, {"grant_types": ["client_credentials"],
                                      "client_name": "Batch"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["response_types"] == [] and body["redirect_uris"] == []
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        auth=(body["client_id"], body["client_secret"]))
    assert token.status_code == 200


def test_registering_fapi_metadata(client, iat):
    key = ECKey.generate_key("P-256")
    response = register(client, iat, {
        "redirect_uris": ["https://bank.example/cb"], "token_endpoint_auth_method":
        "private_key_jwt", "jwks": {"keys": [key.as_dict(private=False)]},
        "require_pushed_authorization_requests": True, "dpop_bound_access_tokens": True,
        "id_token_signed_response_alg": "ES256"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["require_pushed_authorization_requests"] is True
    assert body["dpop_bound_access_tokens"] is True
    assert body["jwks"] == {"keys": [key.as_dict(private=False)]}


def test_registering_keys_by_uri(client, iat):
    response = register(client, iat, {
        "redirect_uris": ["https://bank.example/cb"], "token_endpoint_auth_method":
        "private_key_jwt", "jwks_uri": "https://bank.example/jwks.json",
        "token_endpoint_auth_signing_alg": "ES256"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["jwks_uri"] == "https://bank.example/jwks.json" and "jwks" not in body
    assert "client_secret" not in body


def test_registering_the_fapi2_profile(client, iat):
    from idp.oauth.clients import get_client

    key = ECKey.generate_key("P-256")
    response = register(client, iat, {
        "redirect_uris": ["https://bank.example/cb"], "profile": "fapi2",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [key.as_dict(private=False)]}, "id_token_signed_response_alg": "ES256"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["profile"] == "fapi2"
    # The profile implies PAR and DPoP even when the request did not say so.
    assert body["require_pushed_authorization_requests"] is True
    assert body["dpop_bound_access_tokens"] is True
    assert get_client(body["client_id"]).profile == "fapi2"


LONG = "x" * 121
PRIVATE_JWK = {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}
PUBLIC_JWK = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}


@pytest.mark.parametrize("change, error", [
    ({"redirect_uris": None}, "invalid_redirect_uri"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": "https://shop.example/cb"}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://shop.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://shop.example/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["com.shop.app:/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ({"redirect_uris": [42]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://shop.example/" + "a" * 2050]}, "invalid_redirect_uri"),
    ({"post_logout_redirect_uris": ["http://shop.example/bye"]}, "invalid_client_metadata"),
    ({"post_logout_redirect_uris": "https://shop.example/bye"}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"grant_types": "authorization_code"}, "invalid_client_metadata"),
    ({"grant_types": []}, "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"], "response_types": []}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),  # with code
    ({"response_types": ["token"]}, "invalid_client_metadata"),
    ({"response_types": ["code id_token"]}, "invalid_client_metadata"),
    ({"response_types": []}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"],
      "response_types": []}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": PRIVATE_JWK},
     "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": "nope"}},
     "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": PUBLIC_JWK,
      "jwks_uri": "https://shop.example/jwks"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt",
      "jwks_uri": "http://shop.example/jwks"}, "invalid_client_metadata"),
    ({"jwks": PUBLIC_JWK}, "invalid_client_metadata"),  # keys without private_key_jwt
    ({"token_endpoint_auth_signing_alg": "HS256"}, "invalid_client_metadata"),
    ({"scope": "openid admin"}, "invalid_client_metadata"),
    ({"scope": 42}, "invalid_client_metadata"),
    ({"scope": ""}, "invalid_client_metadata"),
    ({"id_token_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    ({"id_token_signed_response_alg": "none"}, "invalid_client_metadata"),
    ({"id_token_signed_response_alg": "RS512"}, "invalid_client_metadata"),
    ({"id_token_encrypted_response_alg": "RSA-OAEP"}, "invalid_client_metadata"),
    ({"userinfo_signed_response_alg": "RS256"}, "invalid_client_metadata"),
    ({"request_uris": ["https://shop.example/req"]}, "invalid_client_metadata"),
    ({"subject_type": "pairwise"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "http://shop.example/bcl"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "https://shop.example/bcl#x"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "not a url"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": 7}, "invalid_client_metadata"),
    ({"backchannel_logout_session_required": "yes"}, "invalid_client_metadata"),
    ({"require_pushed_authorization_requests": "true"}, "invalid_client_metadata"),
    ({"dpop_bound_access_tokens": 1}, "invalid_client_metadata"),
    ({"client_name": LONG}, "invalid_client_metadata"),
    ({"client_name": ["Trgovina"]}, "invalid_client_metadata"),
    ({"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
    ({"client_uri": "http://shop.example/"}, "invalid_client_metadata"),
    ({"contacts": "it@shop.example"}, "invalid_client_metadata"),
    ({"application_type": "desktop"}, "invalid_client_metadata"),
    ({"profile": "fapi1"}, "invalid_client_metadata"),
    ({"profile": "fapi2"}, "invalid_client_metadata"),  # with a secret and RS256
])
def test_invalid_metadata_is_refused(client, iat, change, error):
    body = {**GOOD, **change}
    body = {k: v for k, v in body.items() if v is not None}
    before = clients_count()
    response = register(client, iat, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["error"] == error, answer
    assert answer["error_description"]
    assert clients_count() == before
    assert uses_left(iat) == 5  # a refused registration spends no use
    [refused] = events("client_registration_refused")
    assert refused.details["reason"] == error


def test_unknown_fields_are_ignored(client, iat):
    response = register(client, iat, {**GOOD, "frobnicate": True, "first_party": True,
                                       "min_acr": "low"})
    assert response.status_code == 201
    body = response.get_json()
    assert "frobnicate" not in body and body.get("first_party") is None


@pytest.mark.parametrize("data, content_type", [
    ("not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("{}", "application/json"),
    ("redirect_uris=https://shop.example/cb", "application/x-www-form-urlencoded"),
])
def test_a_body_that_is_no_metadata_object(client, iat, data, content_type):
    response = client.post("/connect/register", data=data, content_type=content_type,
                           headers=bearer(iat))
    assert response.status_code == 400
    assert response.get_json()["error"] == ("invalid_request" if data != "{}" else
                                            "invalid_redirect_uri")


# -- initial access tokens ------------------------------------------------------------

def test_registration_needs_an_initial_access_token(client):
    response = register(client, None, GOOD)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{ISSUER}"'
    assert response.get_json()["error"] == "invalid_token"
    assert clients_count() == 0


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Basic dXNlcjpwdw==", "Bearer ",
                                    "Bearer " + "x" * 600])
def test_a_wrong_initial_access_token(client, iat, header):
    response = client.post("/connect/register", json=GOOD, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert clients_count() == 0


def test_an_expired_initial_access_token(client, app):
    from idp.extensions import db
    from idp.oauth.models import InitialAccessToken
    from idp.oauth.registration import issue_initial_access_token
    from idp.timeutil import utcnow

    token, row = issue_initial_access_token(uses=3, expires_in=60)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = register(client, token, GOOD)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert clients_count() == 0
    assert db.session.get(InitialAccessToken, row.id).uses_left == 3


def test_a_single_use_token_is_used_up(client, app):
    from idp.oauth.registration import issue_initial_access_token

    token, _ = issue_initial_access_token()
    assert register(client, token, GOOD).status_code == 201
    response = register(client, token, GOOD)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert clients_count() == 1


def test_a_counted_token(client, app):
    from idp.oauth.registration import issue_initial_access_token

    token, _ = issue_initial_access_token(uses=2)
    assert [register(client, token, GOOD).status_code for _ in range(3)] == [201, 201, 401]
    assert clients_count() == 2
    assert len(events("client_registration_refused")) == 1


def test_tokens_are_stored_hashed_and_issued_by_the_cli(runner, client):
    from idp.extensions import db
    from idp.oauth.models import InitialAccessToken

    result = runner.invoke(args=["clients", "registration-token", "--uses", "2",
                                 "--expires-in", "600", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["uses"] == 2 and data["registration_endpoint"] == ISSUER + "/connect/register"
    row = db.session.execute(db.select(InitialAccessToken)).scalar_one()
    assert row.token_digest == sha256(data["initial_access_token"])
    assert data["initial_access_token"] not in json.dumps(
        [e.details for e in events("registration_token_issued")])
    assert events("registration_token_issued")[0].actor == "operator:cli"
    assert register(client, data["initial_access_token"], GOOD).status_code == 201
    for bad in (["--uses", "0"], ["--expires-in", "0"], ["--uses", "many"]):
        result = runner.invoke(args=["clients", "registration-token", *bad])
        assert result.exit_code == 2, (bad, result.output)


def test_an_operators_first_party_token(runner, client):
    from idp.oauth.clients import get_client

    result = runner.invoke(args=["clients", "registration-token", "--first-party", "--json"])
    token = json.loads(result.output)["initial_access_token"]
    body = register(client, token, GOOD).get_json()
    assert get_client(body["client_id"]).first_party is True


# -- reading, replacing and deleting a registration (RFC 7592) -----------------------

@pytest.fixture
def registered(client, iat):
    body = register(client, iat, GOOD).get_json()
    body["path"] = "/connect/register/" + body["client_id"]
    return body


def test_reading_a_registration(client, registered):
    response = client.get(registered["path"],
                          headers=bearer(registered["registration_access_token"]))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert "client_secret" not in body  # stored hashed: shown only once
    for field in ("client_id", "client_name", "redirect_uris", "post_logout_redirect_uris",
                  "grant_types", "scope", "backchannel_logout_uri", "client_uri",
                  "registration_access_token", "registration_client_uri",
                  "client_id_issued_at"):
        assert body[field] == registered[field], field
    assert events("client_registration_read")[0].details["client_id"] == registered["client_id"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_wrong_registration_access_token(client, iat, registered, method):
    other = register(client, iat, GOOD).get_json()
    for headers in ({}, bearer("wrong"), bearer(other["registration_access_token"]),
                    bearer(iat), {"Authorization": "Basic eDp5"}):
        response = client.open(registered["path"], method=method, headers=headers,
                               json={**GOOD, "client_id": registered["client_id"]})
        assert response.status_code == 401, (headers, response.get_data(as_text=True))
        assert response.get_json()["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    response = client.get(registered["path"],
                          headers=bearer(registered["registration_access_token"]))
    assert response.get_json()["client_name"] == "Trgovina"  # unchanged, still there


def test_unknown_clients_and_operator_clients_answer_401(client, registered, rp):
    token = bearer(registered["registration_access_token"])
    for path in ("/connect/register/no-such-client", "/connect/register/" + rp.client_id,
                 "/connect/register/" + "x" * 70):
        response = client.get(path, headers=token)
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_replacing_a_registration(client, registered):
    from idp.oauth.clients import get_client

    token = registered["registration_access_token"]
    change = {"client_id": registered["client_id"], "client_name": "Trgovina 2",
              "redirect_uris": ["https://shop.example/cb2"],
              "grant_types": ["authorization_code"], "response_types": ["code"]}
    response = client.put(registered["path"], json=change, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["client_name"] == "Trgovina 2"
    assert body["redirect_uris"] == ["https://shop.example/cb2"]
    # Full replacement: what the request leaves out returns to its default.
    assert body["post_logout_redirect_uris"] == []
    assert "backchannel_logout_uri" not in body and "client_uri" not in body
    assert body["backchannel_logout_session_required"] is False
    assert body["scope"] == "openid profile email phone"
    assert body["registration_access_token"] == token
    stored = get_client(registered["client_id"])
    assert stored.backchannel_logout_uri is None and stored.redirect_uris == change[
        "redirect_uris"]
    assert stored.secret_digest == sha256(registered["client_secret"])  # secret kept
    assert events("client_updated")[0].details["client_id"] == registered["client_id"]


def test_switching_authentication_methods(client, registered):
    from idp.oauth.clients import get_client

    token = bearer(registered["registration_access_token"])
    base = {**GOOD, "client_id": registered["client_id"]}
    body = client.put(registered["path"], json={**base, "token_endpoint_auth_method": "none"},
                      headers=token).get_json()
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    assert get_client(registered["client_id"]).secret_digest is None
    body = client.put(registered["path"], json=base, headers=token).get_json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret"] != registered["client_secret"]  # a new one, shown once
    assert get_client(registered["client_id"]).secret_digest == sha256(body["client_secret"])


@pytest.mark.parametrize("change, error", [
    ({"client_id": None}, "invalid_request"),
    ({"client_id": "another"}, "invalid_request"),
    ({"registration_access_token": "x"}, "invalid_request"),
    ({"registration_client_uri": "https://x/"}, "invalid_request"),
    ({"client_id_issued_at": 1}, "invalid_request"),
    ({"client_secret_expires_at": 0}, "invalid_request"),
    ({"client_secret": "not-the-secret"}, "invalid_request"),
    ({"redirect_uris": ["http://shop.example/cb"]}, "invalid_redirect_uri"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "ftp://shop.example/"}, "invalid_client_metadata"),
])
def test_a_bad_replacement_changes_nothing(client, registered, change, error):
    from idp.oauth.clients import get_client

    body = {**GOOD, "client_id": registered["client_id"], "client_name": "Changed", **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.put(registered["path"], json=body,
                          headers=bearer(registered["registration_access_token"]))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    assert get_client(registered["client_id"]).name == "Trgovina"


@pytest.mark.parametrize("data", ["not json", "[]"])
def test_a_replacement_that_is_no_metadata_object(client, registered, data):
    response = client.put(registered["path"], data=data, content_type="application/json",
                          headers=bearer(registered["registration_access_token"]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_replacing_with_the_right_secret_in_the_body(client, registered):
    body = {**GOOD, "client_id": registered["client_id"],
            "client_secret": registered["client_secret"]}
    response = client.put(registered["path"], json=body,
                          headers=bearer(registered["registration_access_token"]))
    assert response.status_code == 200


def test_deleting_a_registration(client, registered):
    from idp.oauth.clients import get_client

    token = bearer(registered["registration_access_token"])
    response = client.delete(registered["path"], headers=token)
    assert response.status_code == 204 and response.get_data() == b""
    assert get_client(registered["client_id"]) is None
    assert client.get(registered["path"], headers=token).status_code == 401
    assert client.delete(registered["path"], headers=token).status_code == 401
    [deleted] = events("client_deleted")
    assert deleted.actor == "client:" + registered["client_id"]
    # Its credentials are dead at the token endpoint too.
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           auth=(registered["client_id"], registered["client_secret"]))
    assert response.status_code == 401


# -- a registered client at work ------------------------------------------------------

def test_a_registered_client_does_a_full_code_flow(client, flow, iat, ana):
    body = register(client, iat, GOOD).get_json()
    rp = SimpleNamespace(client_id=body["client_id"], redirect_uris=body["redirect_uris"])
    f = flow(rp)
    response = f.login(f.start(scope="openid email"), ana.email)
    response = client.get(response.headers["Location"])  # resume: third-party, so consent
    assert "/authorize/consent/" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Trgovina" in html
    response = client.post(response.headers["Location"],
                           data={"csrf_token": csrf_token(html), "allow": "Dovoli"})
    params, _ = f.follow_to_rp(response)
    tokens = f.exchange(params["code"], secret=body["client_secret"])
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    tokens = tokens.get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER},
                          aud={"essential": True, "value": body["client_id"]},
                          sub={"essential": True, "value": ana.sub}).validate(id_token.claims)
    userinfo = client.get("/userinfo", headers=bearer(tokens["access_token"])).get_json()
    assert userinfo["email"] == ana.email and "phone_number" not in userinfo
    assert tokens["refresh_token"]
