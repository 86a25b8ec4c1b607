"""DPoP (RFC 9449): proofs at the token endpoint, DPoP-bound access tokens at
userinfo and in introspection, bound refresh tokens of public clients, server
nonces, and every way a proof can be wrong."""

import time

import pytest

from fapi import ISSUER, DPoPClient, dpop_proof, new_key

TOKEN = ISSUER + "/token"
USERINFO = ISSUER + "/userinfo"


@pytest.fixture
def public(make_client):
    oauth_client, _ = make_client(public=True)
    return oauth_client


def code_request(f, code):
    return {"grant_type": "authorization_code", "code": code, "client_id":
            f.oauth_client.client_id, "redirect_uri": f.oauth_client.redirect_uris[0],
            "code_verifier": f.verifier}


@pytest.fixture
def dpop_tokens(client, flow, public, ana):
    """Tokens of a public client bound to a DPoP key, with the client that made them."""
    f = flow(public)
    dpop = DPoPClient(client)
    response = dpop.post("/token", data=code_request(f, f.code("ana@example.si")["code"]))
    assert response.status_code == 200, response.get_json()
    return dpop, response.get_json()


def test_discovery_lists_dpop_algorithms(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "Ed25519", "EdDSA"]


def test_first_proof_gets_a_nonce_and_the_code_survives(client, flow, public, ana):
    f = flow(public)
    key = new_key("ES256")
    data = code_request(f, f.code("ana@example.si")["code"])
    first = client.post("/token", data=data, headers={"DPoP": dpop_proof(key, "POST", TOKEN)})
    assert first.status_code == 400
    assert first.get_json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    second = client.post("/token", data=data,
                         headers={"DPoP": dpop_proof(key, "POST", TOKEN, nonce=nonce)})
    assert second.status_code == 200
    tokens = second.get_json()
    assert tokens["token_type"] == "DPoP"
    assert second.headers["DPoP-Nonce"]


@pytest.mark.parametrize("alg", ["ES256", "PS256", "Ed25519"])
def test_token_bound_to_the_key_thumbprint(client, flow, make_client, ana, alg):
    rp, secret = make_client()
    f = flow(rp)
    dpop = DPoPClient(client, new_key(alg))
    data = code_request(f, f.code("ana@example.si")["code"])
    response = dpop.post("/token", data=data, headers={
        "Authorization": _basic(rp.client_id, secret)})
    assert response.status_code == 200, response.get_json()
    access_token = response.get_json()["access_token"]
    answer = client.post("/introspect", data={"token": access_token},
                         auth=(rp.client_id, secret)).get_json()
    assert answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": dpop.key.thumbprint()}


def _basic(client_id, secret):
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_userinfo_with_a_proof(client, dpop_tokens):
    dpop, tokens = dpop_tokens
    response = dpop.get("/userinfo", access_token=tokens["access_token"])
    assert response.status_code == 200
    assert response.get_json()["email"] == "ana@example.si"


def test_userinfo_asks_for_the_nonce(client, dpop_tokens):
    dpop, tokens = dpop_tokens
    access_token = tokens["access_token"]
    response = client.get("/userinfo", headers={
        "Authorization": f"DPoP {access_token}",
        "DPoP": dpop_proof(dpop.key, "GET", USERINFO, access_token=access_token)})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    assert response.headers["DPoP-Nonce"]


def test_bound_token_refused_as_bearer(client, dpop_tokens):
    _, tokens = dpop_tokens
    response = client.get("/userinfo",
                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    assert response.get_json()["error"] == "invalid_token"


def _userinfo(client, dpop, access_token, key=None, **proof_claims):
    proof = dpop_proof(key or dpop.key, proof_claims.pop("htm", "GET"),
                       proof_claims.pop("htu", USERINFO),
                       access_token=proof_claims.pop("ath_of", access_token),
                       nonce=dpop.nonce, **proof_claims)
    return client.get("/userinfo", headers={"Authorization": f"DPoP {access_token}",
                                            "DPoP": proof})


@pytest.mark.parametrize("change, error", [
    ({"key": "other"}, "invalid_token"),
    ({"ath": None}, "invalid_dpop_proof"),
    ({"ath_of": "another-token"}, "invalid_dpop_proof"),
    ({"htm": "POST"}, "invalid_dpop_proof"),
    ({"htu": ISSUER + "/token"}, "invalid_dpop_proof"),
    ({"iat": int(time.time()) - 600}, "invalid_dpop_proof"),
])
def test_userinfo_refuses_wrong_proofs(client, dpop_tokens, change, error):
    dpop, tokens = dpop_tokens
    access_token = tokens["access_token"]
    change = dict(change)  # the table is shared by both backends' runs
    if change.get("key") == "other":
        change["key"] = new_key("ES256")
    if "ath" in change:
        change.pop("ath")
        proof = dpop_proof(dpop.key, "GET", USERINFO, nonce=dpop.nonce)
        response = client.get("/userinfo", headers={"Authorization": f"DPoP {access_token}",
                                                    "DPoP": proof})
    else:
        response = _userinfo(client, dpop, access_token, **change)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith(f'DPoP error="{error}"')


def test_userinfo_needs_the_proof_header(client, dpop_tokens):
    _, tokens = dpop_tokens
    response = client.get("/userinfo", headers={"Authorization": f"DPoP {tokens['access_token']}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def _token_with(client, flow, public, proof):
    f = flow(public)
    data = code_request(f, f.code("ana@example.si")["code"])
    return client.post("/token", data=data, headers={"DPoP": proof})


def _nonce(app):
    from idp.oauth.dpop import current_nonce

    return current_nonce()


@pytest.mark.parametrize("make_proof", [
    lambda key, n: dpop_proof(key, "POST", ISSUER + "/userinfo", nonce=n),  # htu
    lambda key, n: dpop_proof(key, "POST", "https://evil.example/token", nonce=n),  # host
    lambda key, n: dpop_proof(key, "GET", TOKEN, nonce=n),  # htm
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, iat=int(time.time()) - 120),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, iat=int(time.time()) + 120),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, typ="JWT"),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, jti=None),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, jwk=key.as_dict(private=True)),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, jwk=new_key().as_dict()),
    lambda key, n: "not-a-jwt",
    lambda key, n: dpop_proof(key, "POST", "http://localhost:port/token", nonce=n),
    lambda key, n: dpop_proof(key, "POST", TOKEN, nonce=n, iat="now"),
    lambda key, n: dpop_proof(key, "POST", ["x"], nonce=n),
])
def test_token_endpoint_refuses_wrong_proofs(app, client, flow, public, ana, make_proof):
    response = _token_with(client, flow, public, make_proof(new_key("ES256"), _nonce(app)))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_dpop_proof"


def test_htu_is_compared_normalised(app, client, flow, public, ana):
    proof = dpop_proof(new_key(), "POST", "HTTP://LOCALHOST:5000/token?x=1#f", nonce=_nonce(app))
    assert _token_with(client, flow, public, proof).status_code == 200


def test_replayed_proof_is_refused(app, client, flow, public, ana):
    proof = dpop_proof(new_key(), "POST", TOKEN, nonce=_nonce(app))
    assert _token_with(client, flow, public, proof).status_code == 200
    f = flow(public)
    reply, _ = f.follow_to_rp(f.start())  # still logged in: a second code
    again = client.post("/token", data=code_request(f, reply["code"]), headers={"DPoP": proof})
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_dpop_proof"
    assert "already used" in again.get_json()["error_description"]


def test_stale_nonce_is_refused(app, client, flow, public, ana):
    from idp.oauth.dpop import NONCE_WINDOW, _nonce_for

    old = _nonce_for(int(time.time() // NONCE_WINDOW) - 2)
    response = _token_with(client, flow, public, dpop_proof(new_key(), "POST", TOKEN, nonce=old))
    assert response.status_code == 400 and response.get_json()["error"] == "use_dpop_nonce"


def test_two_proof_headers_are_refused(app, client, flow, public, ana):
    f = flow(public)
    data = code_request(f, f.code("ana@example.si")["code"])
    proof = dpop_proof(new_key(), "POST", TOKEN, nonce=_nonce(app))
    response = client.post("/token", data=data, headers=[("DPoP", proof), ("DPoP", proof)])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"


def test_nonce_can_be_switched_off(app, client, flow, public, ana):
    app.config["DPOP_REQUIRE_NONCE"] = False
    response = _token_with(client, flow, public, dpop_proof(new_key(), "POST", TOKEN))
    assert response.status_code == 200 and response.get_json()["token_type"] == "DPoP"


def test_client_that_must_use_dpop_needs_a_proof(client, flow, make_client, ana):
    bound, secret = make_client(dpop_bound=True)
    f = flow(bound)
    response = f.exchange(f.code("ana@example.si")["code"], secret=secret)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_public_clients_refresh_token_is_bound_to_the_key(client, dpop_tokens, public):
    dpop, tokens = dpop_tokens
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": public.client_id}
    stranger = DPoPClient(client)
    refused = stranger.post("/token", data=refresh)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    no_proof = client.post("/token", data=refresh)
    assert no_proof.status_code == 400 and no_proof.get_json()["error"] == "invalid_grant"
    renewed = dpop.post("/token", data=refresh)
    assert renewed.status_code == 200 and renewed.get_json()["token_type"] == "DPoP"


def test_plain_bearer_tokens_still_work_without_dpop(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    assert tokens["token_type"] == "Bearer"
    response = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200


def _pushed_code(client, flow, rp, headers=None, **extra):
    f = flow(rp)
    pushed = client.post("/par", data={**f.params(), **extra}, auth=(rp.client_id, rp.secret),
                         headers=headers or {})
    assert pushed.status_code == 201, pushed.get_json()
    reply, _ = f.follow_to_rp(client.get("/authorize", query_string={
        "client_id": rp.client_id, "request_uri": pushed.get_json()["request_uri"]}))
    return f, reply["code"]


def test_code_bound_to_the_key_of_a_proof_at_par(app, client, flow, rp, ana_person):
    key = new_key()
    proof = dpop_proof(key, "POST", ISSUER + "/par", nonce=_nonce(app))
    f, code = _pushed_code(client, flow, rp, headers={"DPoP": proof})
    data = {**code_request(f, code), "client_secret": rp.secret}
    stranger = DPoPClient(client).post("/token", data=data)
    assert stranger.status_code == 400 and stranger.get_json()["error"] == "invalid_grant"
    f, code = _pushed_code(client, flow, rp, headers={"DPoP": dpop_proof(
        key, "POST", ISSUER + "/par", nonce=_nonce(app))})
    owner = DPoPClient(client, key).post("/token", data={**code_request(f, code),
                                                         "client_secret": rp.secret})
    assert owner.status_code == 200 and owner.get_json()["token_type"] == "DPoP"


def test_code_bound_with_dpop_jkt_at_authorize(client, flow, rp, ana_person):
    key = new_key()
    f = flow(rp)
    reply, _ = f.follow_to_rp(f.start(dpop_jkt=key.thumbprint()))
    data = {**code_request(f, reply["code"]), "client_secret": rp.secret}
    without = client.post("/token", data=data)
    assert without.status_code == 400 and without.get_json()["error"] == "invalid_grant"


def test_dpop_jkt_must_be_the_proofs_key_at_par(app, client, flow, rp):
    proof = dpop_proof(new_key(), "POST", ISSUER + "/par", nonce=_nonce(app))
    response = client.post("/par", data={**flow(rp).params(), "dpop_jkt": new_key().thumbprint()},
                           auth=(rp.client_id, rp.secret), headers={"DPoP": proof})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_dpop_proof"
