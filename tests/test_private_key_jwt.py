"""private_key_jwt client authentication (RFC 7523 2.2, OIDC Core 9): at the
token, PAR, introspection and revocation endpoints; keys registered as a JWK
Set or fetched from jwks_uri; every way an assertion can be wrong."""

import json
import time

import pytest
from flask import Flask

from conftest import LiveServer
from sinks import free_port
from fapi import ISSUER, assertion_form, client_assertion, new_key, public_jwks


@pytest.fixture
def key():
    return new_key("ES256")


@pytest.fixture
def machine(make_client, key):
    """A private_key_jwt client of the client_credentials grant."""
    oauth_client, secret = make_client(auth_method="private_key_jwt", jwks=public_jwks(key),
                                       grant_types=["client_credentials"], redirect_uris=[])
    assert secret is None
    return oauth_client


def token(client, form):
    return client.post("/token", data={"grant_type": "client_credentials", **form})


def refused(response, status=400, error="invalid_client"):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"] == error
    return response.get_json()


def test_discovery_lists_private_key_jwt(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    for endpoint in ("token", "revocation", "introspection"):
        assert "private_key_jwt" in doc[f"{endpoint}_endpoint_auth_methods_supported"]
        assert "ES256" in doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.parametrize("alg", ["ES256", "PS256", "Ed25519", "RS256"])
@pytest.mark.parametrize("aud", [ISSUER, ISSUER + "/token", [ISSUER, "https://other"]])
def test_assertion_signed_with_a_registered_key(client, make_client, alg, aud):
    key = new_key(alg)
    oauth_client, _ = make_client(auth_method="private_key_jwt", jwks=public_jwks(key),
                                  grant_types=["client_credentials"], redirect_uris=[])
    response = token(client, assertion_form(oauth_client.client_id, key, aud=aud))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "Bearer"


@pytest.mark.parametrize("claims, why", [
    ({"aud": "https://someone-else.example"}, "aud"),
    ({"aud": ISSUER + "/userinfo"}, "aud"),
    ({"exp": -120, "iat": -180}, "expired"),  # times: seconds from when the test runs
    ({"lifetime": 7200}, "too long"),
    ({"iat": 600, "lifetime": 100}, "future"),
    ({"exp": None}, "no exp"),
    ({"jti": None}, "no jti"),
    ({"iss": "someone-else"}, "iss"),
])
def test_bad_assertions_are_refused(client, machine, key, claims, why):
    claims = dict(claims)  # the table is shared by both backends' runs
    lifetime = claims.pop("lifetime", 60)
    now = int(time.time())  # not at collection: a long suite reaches this minutes later
    for name in ("exp", "iat"):
        if claims.get(name) is not None:
            claims[name] += now
    form = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(machine.client_id, key, lifetime=lifetime,
                                                 **claims)}
    refused(token(client, form))


def test_reused_jti_is_refused(client, machine, key):
    form = assertion_form(machine.client_id, key)
    assert token(client, form).status_code == 200
    body = refused(token(client, form))
    assert "used" in body["error_description"]


def test_unknown_key_is_refused(client, machine):
    refused(token(client, assertion_form(machine.client_id, new_key("ES256"))))


def test_assertion_of_an_unknown_client(client, key):
    refused(token(client, assertion_form("nobody", key)))


def test_client_id_must_match_the_assertion(client, machine, key, make_client):
    other, _ = make_client(name="Drugi")
    form = {**assertion_form(machine.client_id, key), "client_id": other.client_id}
    refused(token(client, form))


def test_secret_client_cannot_use_an_assertion(client, rp, key):
    refused(token(client, assertion_form(rp.client_id, key)))


def test_private_key_jwt_client_cannot_use_a_secret_or_nothing(client, machine):
    refused(client.post("/token", data={"grant_type": "client_credentials"},
                        auth=(machine.client_id, "guess")), status=401)
    refused(client.post("/token", data={"grant_type": "client_credentials",
                                        "client_id": machine.client_id}), status=401)


def test_introspection_and_revocation_with_private_key_jwt(client, machine, key):
    access_token = token(client, assertion_form(machine.client_id, key)).get_json()[
        "access_token"]
    answer = client.post("/introspect", data={
        "token": access_token, **assertion_form(machine.client_id, key,
                                                aud=ISSUER + "/introspect")})
    assert answer.status_code == 200 and answer.get_json()["active"] is True
    revoked = client.post("/revoke", data={"token": access_token,
                                           **assertion_form(machine.client_id, key)})
    assert revoked.status_code == 200
    again = client.post("/introspect", data={"token": access_token,
                                             **assertion_form(machine.client_id, key)})
    assert again.get_json() == {"active": False}


def test_par_with_private_key_jwt(client, flow, make_client, key):
    oauth_client, _ = make_client(auth_method="private_key_jwt", jwks=public_jwks(key))
    params = flow(oauth_client).params()
    pushed = client.post("/par", data={**params, **assertion_form(oauth_client.client_id, key,
                                                                  aud=ISSUER + "/par")})
    assert pushed.status_code == 201
    refused(client.post("/par", data={**params, **assertion_form(oauth_client.client_id,
                                                                 new_key("ES256"))}))


class JwksHost:
    """A client's web server publishing its JWK Set, counting the fetches."""

    def __init__(self):
        self.body = b"{}"
        self.status = 200
        self.fetches = 0
        web = Flask("jwks-host")

        @web.get("/jwks.json")
        def jwks():
            self.fetches += 1
            return self.body, self.status, {"Content-Type": "application/json"}

        self.server = LiveServer(web, free_port())
        self.url = self.server.url + "/jwks.json"


@pytest.fixture
def jwks_host():
    host = JwksHost()
    yield host
    host.server.stop()


@pytest.fixture
def remote(app, make_client, jwks_host, key):
    app.extensions["idp_client_jwks"].forget()
    jwks_host.body = json.dumps(public_jwks(key)).encode()
    oauth_client, _ = make_client(auth_method="private_key_jwt", jwks_uri=jwks_host.url,
                                  grant_types=["client_credentials"], redirect_uris=[])
    return oauth_client


def test_keys_from_jwks_uri_are_fetched_once_and_cached(client, remote, key, jwks_host):
    for _ in range(3):
        assert token(client, assertion_form(remote.client_id, key)).status_code == 200
    assert jwks_host.fetches == 1


def test_rotated_key_at_jwks_uri_is_picked_up(app, client, remote, key, jwks_host):
    assert token(client, assertion_form(remote.client_id, key)).status_code == 200
    rotated = new_key("ES256")
    jwks_host.body = json.dumps(public_jwks(rotated)).encode()
    # The cache is young: a refetch for an unknown kid waits JWKS_REFETCH_SECONDS.
    refused(token(client, assertion_form(remote.client_id, rotated)))
    cache = app.extensions["idp_client_jwks"]
    cache._sets[jwks_host.url] = (cache._sets[jwks_host.url][0], time.monotonic() - 31)
    assert token(client, assertion_form(remote.client_id, rotated)).status_code == 200
    assert jwks_host.fetches == 2


@pytest.mark.parametrize("status, body", [
    (404, b"{}"),
    (200, b"not json"),
    (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'),
    (200, b'{"keys": [' + b'{"kty": "EC"},' * 10000 + b'{}]}'),  # over 64 KiB
])
def test_unusable_jwks_uri_is_invalid_client(client, remote, key, jwks_host, status, body):
    jwks_host.status, jwks_host.body = status, body
    refused(token(client, assertion_form(remote.client_id, key)))


def test_jwks_uri_on_a_private_address_is_not_fetched(app, client, remote, key, jwks_host):
    # Outside development (a loopback issuer) keys are only read from public addresses.
    app.config["ISSUER"] = "https://idp.example"
    refused(token(client, assertion_form(remote.client_id, key, aud="https://idp.example")))
    assert jwks_host.fetches == 0


def test_cli_registers_private_key_jwt_clients(runner, tmp_path, key):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(key)))
    result = runner.invoke(args=["clients", "create", "--name", "Banka", "--auth-method",
                                 "private_key_jwt", "--jwks", str(path), "--grant-type",
                                 "client_credentials", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in data
    by_uri = runner.invoke(args=["clients", "create", "--name", "B", "--jwks-uri",
                                 "https://rp.example/jwks.json", "--grant-type",
                                 "client_credentials", "--json"])
    assert json.loads(by_uri.output)["jwks_uri"] == "https://rp.example/jwks.json"


@pytest.mark.parametrize("args, message", [
    (["--auth-method", "private_key_jwt"], "exactly one of --jwks or --jwks-uri"),
    (["--auth-method", "private_key_jwt", "--jwks-uri", "http://rp.example/jwks"],
     "plain http"),
    (["--auth-method", "client_secret_basic", "--jwks-uri", "https://rp.example/j"],
     "only for private_key_jwt"),
    (["--public", "--auth-method", "private_key_jwt", "--jwks-uri", "https://rp.example/j"],
     "public client"),
])
def test_cli_refuses_inconsistent_authentication(runner, args, message):
    result = runner.invoke(args=["clients", "create", "--name", "X", "--grant-type",
                                 "client_credentials", *args])
    assert result.exit_code != 0 and message in result.output


def test_cli_refuses_private_keys_in_jwks(runner, tmp_path, key):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    result = runner.invoke(args=["clients", "create", "--name", "X", "--jwks", str(path),
                                 "--grant-type", "client_credentials"])
    assert result.exit_code != 0 and "public keys only" in result.output
