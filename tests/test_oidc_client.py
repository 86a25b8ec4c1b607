"""A standard OIDC client library (Authlib's requests client) against the IdP over
real HTTP: discovery, PKCE, code exchange, ID token validated against the JWKS,
userinfo, refresh and revocation."""

import re
import secrets

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet

from helpers import PASSWORD
from sinks import free_port

ACR_LOW = "http://eidas.europa.eu/LoA/low"


def browser_login(authorization_url, email, password, redirect_uri):
    """What a person's browser does: follow to the login page, log in, come back."""
    browser = requests.Session()
    page = browser.get(authorization_url)
    assert page.status_code == 200 and "E-naslov" in page.text
    form = dict(re.findall(r'name="(csrf_token|interaction)"[^>]*value="([^"]*)"', page.text))
    response = browser.post(page.url.split("?")[0], data={**form, "email": email,
                                                          "password": password},
                            allow_redirects=False)
    for _ in range(5):
        location = response.headers["Location"]
        if location.startswith(redirect_uri):
            return location
        response = browser.get(requests.compat.urljoin(page.url, location), allow_redirects=False)
    raise AssertionError("never came back to the RP")


def test_standard_client_code_flow_end_to_end(live_idp):
    from idp.accounts.service import create_user
    from idp.oauth.clients import create_client

    issuer = live_idp.url
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    with live_idp.app.app_context():
        user = create_user("ana@example.si", PASSWORD, "041 123 123", given_name="Ana")
        sub = user.sub
        rp, secret = create_client("E-banka", [redirect_uri], first_party=True)
        client_id = rp.client_id

    meta = requests.get(issuer + "/.well-known/openid-configuration").json()
    assert meta["issuer"] == issuer
    session = OAuth2Session(client_id, secret, scope="openid profile email phone",
                            redirect_uri=redirect_uri, code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_basic")
    nonce, verifier = secrets.token_urlsafe(16), generate_token(48)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], nonce=nonce,
                                                  code_verifier=verifier)
    callback = browser_login(url, "ana@example.si", PASSWORD, redirect_uri)
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                code_verifier=verifier, state=state)

    # The ID token, validated as an RP must (OIDC Core 3.1.3.7).
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"]).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce}, sub={"essential": True, "value": sub},
        exp={"essential": True}, iat={"essential": True})
    registry.validate(id_token.claims)
    claims = id_token.claims
    assert claims["acr"] == ACR_LOW and claims["amr"] == ["pwd"]
    assert claims["trust_level"] == "low" and claims["auth_time"] and claims["sid"]
    assert claims["at_hash"] == create_half_hash(token["access_token"], "RS256").decode()

    userinfo = session.get(meta["userinfo_endpoint"]).json()
    assert userinfo["sub"] == sub and userinfo["email"] == "ana@example.si"

    refreshed = session.refresh_token(meta["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert session.get(meta["userinfo_endpoint"]).status_code == 200

    session.revoke_token(meta["revocation_endpoint"], refreshed["refresh_token"],
                         token_type_hint="refresh_token")
    assert session.get(meta["userinfo_endpoint"]).status_code == 401
