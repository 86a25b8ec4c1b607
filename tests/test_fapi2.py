"""The FAPI 2.0 Security Profile per client (``--profile fapi2``): what the
profile needs is enforced, what it forbids is refused with the spec's error,
and an independent client library (Authlib's requests client with its
PrivateKeyJWT, DPoP proofs made with joserfc here) goes through it end to end
over real HTTP."""

import json
import secrets
import time

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from helpers import PASSWORD
from sinks import free_port
from fapi import ISSUER, DPoPClient, assertion_form, dpop_proof, new_key, public_jwks
from test_oidc_client import browser_login

ACR_LOW = "http://eidas.europa.eu/LoA/low"


@pytest.fixture
def key():
    return new_key("ES256")


@pytest.fixture
def bank(make_client, key):
    oauth_client, secret = make_client(profile="fapi2", jwks=public_jwks(key),
                                       id_token_alg="ES256")
    assert secret is None
    return oauth_client


def push(client, bank, key, f, **changes):
    params = {**f.params(), **changes}
    params = {k: v for k, v in params.items() if v is not None}
    return client.post("/par", data={**params, **assertion_form(bank.client_id, key)})


def test_profile_sets_everything_it_needs(bank):
    assert bank.token_endpoint_auth_method == "private_key_jwt"
    assert bank.require_pushed_authorization_requests and bank.dpop_bound_access_tokens
    assert bank.id_token_signed_response_alg == "ES256" and bank.fapi2


def test_whole_flow_on_the_profile(client, flow, bank, key, ana):
    f = flow(bank)
    pushed = push(client, bank, key, f)
    assert pushed.status_code == 201
    response = client.get("/authorize", query_string={
        "client_id": bank.client_id, "request_uri": pushed.get_json()["request_uri"]})
    reply, _ = f.follow_to_rp(f.login(response, "ana@example.si"))
    assert reply["iss"] == ISSUER
    dpop = DPoPClient(client)
    tokens = dpop.post("/token", data={
        "grant_type": "authorization_code", "code": reply["code"],
        "redirect_uri": bank.redirect_uris[0], "code_verifier": f.verifier,
        **assertion_form(bank.client_id, key)})
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert body["token_type"] == "DPoP"
    header = jwt.decode(body["id_token"], KeySet.import_key_set(
        client.get("/jwks.json").get_json()), algorithms=["ES256"]).header
    assert header["alg"] == "ES256"
    assert dpop.get("/userinfo", access_token=body["access_token"]).status_code == 200
    as_bearer = client.get("/userinfo",
                           headers={"Authorization": f"Bearer {body['access_token']}"})
    assert as_bearer.status_code == 401
    # FAPI 2.0: the refresh token is not rotated; it keeps working, with a proof.
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    for _ in range(2):
        renewed = dpop.post("/token", data={**refresh, **assertion_form(bank.client_id, key)})
        assert renewed.status_code == 200, renewed.get_json()
        assert "refresh_token" not in renewed.get_json()
        assert renewed.get_json()["token_type"] == "DPoP"


def test_plain_authorization_request_is_refused(client, flow, bank, ana_person):
    response = flow(bank).start()
    assert response.status_code == 400
    assert "invalid_request" in response.get_data(as_text=True)


@pytest.mark.parametrize("changes", [
    {"code_challenge": None, "code_challenge_method": None},  # PKCE required
    {"redirect_uri": None},  # FAPI 2.0 5.3.2.2: pushed with the request
])
def test_par_without_what_the_profile_needs(client, flow, bank, key, changes):
    response = push(client, bank, key, flow(bank), **changes)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_no_secret_and_no_rs256_assertions(client, flow, bank, make_client):
    f = flow(bank)
    basic = client.post("/par", data=f.params(), auth=(bank.client_id, "guess"))
    assert basic.status_code == 401 and basic.get_json()["error"] == "invalid_client"
    rsa = new_key("RS256")
    rsa_bank, _ = make_client(profile="fapi2", jwks=public_jwks(rsa), id_token_alg="ES256")
    response = client.post("/par", data={**flow(rsa_bank).params(),
                                         **assertion_form(rsa_bank.client_id, rsa)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("aud", [ISSUER + "/par", [ISSUER], [ISSUER, ISSUER + "/par"]])
def test_assertion_audience_is_the_issuer_alone(client, flow, bank, key, aud):
    response = client.post("/par", data={**flow(bank).params(),
                                         **assertion_form(bank.client_id, key, aud=aud)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_client"


def test_token_request_without_dpop_is_refused(client, flow, bank, key, ana_person):
    f = flow(bank)
    request_uri = push(client, bank, key, f).get_json()["request_uri"]
    reply, _ = f.follow_to_rp(client.get("/authorize", query_string={
        "client_id": bank.client_id, "request_uri": request_uri}))
    data = {"grant_type": "authorization_code", "code": reply["code"],
            "redirect_uri": bank.redirect_uris[0], "code_verifier": f.verifier}
    response = client.post("/token", data={**data, **assertion_form(bank.client_id, key)})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    # The refusal came before the code was looked at: with a proof it still works.
    dpop = DPoPClient(client)
    assert dpop.post("/token", data={**data, **assertion_form(bank.client_id, key)}
                     ).status_code == 200


def test_codes_of_the_profile_live_at_most_60_seconds(app, client, flow, bank, key, ana_person,
                                                      monkeypatch):
    from idp.oauth import grants

    app.config["CODE_TTL"] = 600
    lifetimes = []
    monkeypatch.setattr(grants, "save_code",
                        lambda code, record, ttl=None: lifetimes.append(ttl))
    f = flow(bank)
    request_uri = push(client, bank, key, f).get_json()["request_uri"]
    f.follow_to_rp(client.get("/authorize", query_string={
        "client_id": bank.client_id, "request_uri": request_uri}))
    assert lifetimes == [60]


@pytest.mark.parametrize("args, message", [
    ([], "ES256"),  # RS256 ID tokens by default
    (["--id-token-alg", "ES256", "--auth-method", "client_secret_basic"], "private_key_jwt"),
    (["--id-token-alg", "ES256", "--public"], "public client"),
])
def test_cli_refuses_what_the_profile_forbids(runner, tmp_path, key, args, message):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(key)))
    result = runner.invoke(args=["clients", "create", "--name", "Banka", "--redirect-uri",
                                 "https://bank.example/cb", "--profile", "fapi2", "--jwks",
                                 str(path), *args])
    assert result.exit_code != 0 and message in result.output


def test_cli_registers_a_fapi2_client(runner, tmp_path, key):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(key)))
    result = runner.invoke(args=["clients", "create", "--name", "Banka", "--redirect-uri",
                                 "https://bank.example/cb", "--profile", "fapi2", "--jwks",
                                 str(path), "--id-token-alg", "ES256", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["profile"] == "fapi2" and data["token_endpoint_auth_method"] == "private_key_jwt"
    assert data["require_pushed_authorization_requests"] is True
    assert data["dpop_bound_access_tokens"] is True and "client_secret" not in data


def test_independent_client_par_private_key_jwt_and_dpop(live_idp):
    """Authlib's OAuth2Session (PrivateKeyJWT) over HTTP, DPoP proofs from joserfc."""
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    issuer = live_idp.url
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client_key, dpop_key = new_key("ES256"), new_key("ES256")
    with live_idp.app.app_context():
        sub = create_user("ana@example.si", PASSWORD, "041 123 123").sub
        rp, _ = create_client("Banka", [redirect_uri], first_party=True, profile="fapi2",
                              jwks=public_jwks(client_key), id_token_alg="ES256")
        client_id = rp.client_id
    meta = requests.get(issuer + "/.well-known/openid-configuration").json()
    assert meta["require_pushed_authorization_requests"] is False  # per client here
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]

    session = OAuth2Session(client_id, client_key, scope="openid profile email",
                            redirect_uri=redirect_uri, token_endpoint_auth_method="private_key_jwt")
    # FAPI 2.0: the assertion's audience is the issuer (not the endpoint's URL).
    session.register_client_auth_method(PrivateKeyJWT(issuer, alg="ES256"))
    nonces = []
    session.hooks["response"].append(
        lambda response, **_: nonces.append(response.headers.get("DPoP-Nonce")))

    # PAR, authenticated by the session's own private_key_jwt.
    verifier, nonce, state = generate_token(48), secrets.token_urlsafe(16), "st"
    pushed = session.post(meta["pushed_authorization_request_endpoint"], withhold_token=True,
                          auth=session.client_auth("private_key_jwt"), data={
                              "client_id": client_id, "response_type": "code",
                              "redirect_uri": redirect_uri, "scope": "openid profile email",
                              "state": state, "nonce": nonce, "code_challenge_method": "S256",
                              "code_challenge": create_s256_code_challenge(verifier)})
    assert pushed.status_code == 201, pushed.text
    url = (meta["authorization_endpoint"] + f"?client_id={client_id}&request_uri="
           + requests.utils.quote(pushed.json()["request_uri"], safe=""))
    callback = browser_login(url, "ana@example.si", PASSWORD, redirect_uri)

    def proof(method, url, access_token=None):
        return dpop_proof(dpop_key, method, url, access_token=access_token,
                          nonce=next((n for n in reversed(nonces) if n), None))

    def fetch():
        return session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                   code_verifier=verifier, state=state,
                                   headers={"DPoP": proof("POST", meta["token_endpoint"])})

    with pytest.raises(OAuthError) as first:  # no nonce yet: the server hands one out
        session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                            code_verifier=verifier, state=state, headers={
                                "DPoP": dpop_proof(dpop_key, "POST", meta["token_endpoint"])})
    assert first.value.error == "use_dpop_nonce" and nonces[-1]
    token = fetch()
    assert token["token_type"] == "DPoP"

    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"]).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": client_id},
                          nonce={"essential": True, "value": nonce},
                          sub={"essential": True, "value": sub}).validate(id_token.claims)

    access_token = token["access_token"]
    userinfo = requests.get(meta["userinfo_endpoint"], headers={
        "Authorization": f"DPoP {access_token}",
        "DPoP": proof("GET", meta["userinfo_endpoint"], access_token)})
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == sub
    stolen = requests.get(meta["userinfo_endpoint"],
                          headers={"Authorization": f"Bearer {access_token}"})
    assert stolen.status_code == 401

    answer = session.introspect_token(meta["introspection_endpoint"], access_token).json()
    assert answer["active"] and answer["cnf"]["jkt"] == dpop_key.thumbprint()
    time.sleep(0)  # (keeps the flow readable: everything above ran over real HTTP)
