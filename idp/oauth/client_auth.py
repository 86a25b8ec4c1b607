"""private_key_jwt client authentication (RFC 7523 section 2.2, OIDC Core 9).

The client signs a short JWT (``iss`` = ``sub`` = its client_id, ``aud`` us,
``exp``, ``jti``) with a private key whose public half it registered, as a
JWK Set (``jwks``) or at a URL (``jwks_uri``) that we fetch with a timeout and
a size limit and cache for a while. Built on Authlib's
``JWTBearerClientAssertion``; what we add: the audiences, asymmetric
algorithms only, a bounded lifetime, and ``jti`` replay refused in the shared
store (so it holds across machines)."""

import hashlib
import json
import threading
import time
from urllib.parse import urlsplit

import requests
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from flask import current_app
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..config import is_loopback
from ..extensions import store
from .egress import destination_problem

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
CONFIDENTIAL_METHODS = [*SECRET_METHODS, "private_key_jwt"]
ALL_METHODS = [*CONFIDENTIAL_METHODS, "none"]

ASSERTION_ALGS = ["ES256", "PS256", "Ed25519", "EdDSA", "RS256"]
FAPI2_ALGS = ["ES256", "PS256", "Ed25519", "EdDSA"]  # FAPI 2.0 5.4: no RSASSA-PKCS1-v1_5
MAX_LIFETIME = 3600  # seconds an assertion may still be valid (RFC 7523 3; common clients sign for 1 h)
LEEWAY = 30  # clock skew, seconds

JWKS_TIMEOUT = 5  # seconds to connect and between bytes
JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_SECONDS = 300
JWKS_REFETCH_SECONDS = 30  # an unknown kid refetches at most this often (key rotation)


class ClientKeysUnavailable(Exception):
    pass


class JwksCache:
    """Client JWK Sets fetched from their ``jwks_uri``, per process."""

    def __init__(self):
        self._sets = {}  # uri -> (KeySet, fetched_at)
        self._lock = threading.Lock()

    def get(self, uri, refresh=False):
        now = time.monotonic()
        with self._lock:
            cached = self._sets.get(uri)
        if cached and now - cached[1] < JWKS_CACHE_SECONDS and not (
                refresh and now - cached[1] >= JWKS_REFETCH_SECONDS):
            return cached[0]
        keyset = _fetch_jwks(uri)
        with self._lock:
            self._sets[uri] = (keyset, now)
        return keyset

    def forget(self):
        with self._lock:
            self._sets.clear()


def _check_destination(uri):
    """No fetching from our own network (``egress.destination_problem``),
    unless the IdP itself runs on loopback (development)."""
    if is_loopback(urlsplit(current_app.config["ISSUER"]).hostname):
        return
    problem = destination_problem(uri)
    if problem:
        raise ClientKeysUnavailable(problem)


def _fetch_jwks(uri):
    _check_destination(uri)
    try:
        with requests.get(uri, timeout=JWKS_TIMEOUT, allow_redirects=False, stream=True,
                          headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise ClientKeysUnavailable(f"{uri} answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(8192):
                body.extend(chunk)
                if len(body) > JWKS_MAX_BYTES:
                    raise ClientKeysUnavailable(f"{uri}: more than {JWKS_MAX_BYTES} bytes")
    except requests.RequestException as exc:
        raise ClientKeysUnavailable(f"{uri}: {exc.__class__.__name__}") from exc
    try:
        return public_keyset(_json(body, uri))
    except ValueError as exc:
        raise ClientKeysUnavailable(f"{uri}: {exc}") from None


def _json(body, uri):
    try:
        return json.loads(body)
    except ValueError:
        raise ClientKeysUnavailable(f"{uri} did not answer JSON") from None


def public_keyset(data):
    """A JWK Set of public signing keys; ValueError for anything else (private or
    symmetric keys, no keys)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ValueError("a JWK Set needs a non-empty 'keys' array")
    for key in data["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
            raise ValueError("only RSA, EC and OKP public keys are accepted")
        if any(private in key for private in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise ValueError("a JWK Set for a client must hold public keys only")
    try:
        return KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable JWK Set: {exc}") from None


def client_keyset(client, refresh=False):
    """The client's public keys (registered, or fetched from its ``jwks_uri``)."""
    if client.jwks:
        return public_keyset(client.jwks)
    if client.jwks_uri:
        return current_app.extensions["idp_client_jwks"].get(client.jwks_uri, refresh)
    raise ClientKeysUnavailable("the client has registered no keys")


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` at the token, PAR, introspection and revocation endpoints."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self):
        super().__init__(validate_jti=True, leeway=LEEWAY)

    def get_audiences(self):
        # The issuer (FAPI 2.0 5.3.2.1), the endpoint called, or the token endpoint.
        issuer = current_app.config["ISSUER"]
        return [issuer, issuer + flask_request.path, issuer + "/token"]

    def __call__(self, query_client, request):
        data = request.form
        assertion = data.get("client_assertion")
        if data.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        _, claims = self.extract_assertion(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidClientError(description="The assertion has no 'sub'.")
        if data.get("client_id") not in (None, client_id):
            raise InvalidClientError(description="client_id and the assertion's 'sub' differ.")
        client = query_client(client_id)
        if not client:
            raise InvalidClientError(description="The client does not exist on this server.")
        if client.auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(
                description=f"The client cannot authenticate with {self.CLIENT_AUTH_METHOD}.")
        try:
            self._verify(assertion, client)
        except ClientKeysUnavailable as exc:
            current_app.logger.warning("keys of client %s unavailable: %s", client_id, exc)
            raise InvalidClientError(description="The client's keys cannot be read.") from None
        request.client = client
        return client

    def _verify(self, assertion, client):
        algorithms = FAPI2_ALGS if client.fapi2 else ASSERTION_ALGS
        keyset = client_keyset(client)
        try:
            token = jwt.decode(assertion, keyset, algorithms=algorithms)
        except JoseError as exc:
            if not (client.jwks_uri and not client.jwks and _kid_unknown(assertion, keyset)):
                raise InvalidClientError(description=exc.description or "Bad assertion.") from None
            # The client may have rotated its keys: read them again (rarely).
            try:
                token = jwt.decode(assertion, client_keyset(client, refresh=True),
                                   algorithms=algorithms)
            except JoseError as exc2:
                raise InvalidClientError(
                    description=exc2.description or "Bad assertion.") from None
        if client.fapi2 and token.claims.get("aud") != current_app.config["ISSUER"]:
            # FAPI 2.0 (and the OpenID Foundation's 2025 advice on audience
            # injection): the issuer, as a string, is the only audience.
            raise InvalidClientError(description="The assertion's aud must be the issuer.")
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims):
        now = time.time()
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp > now + MAX_LIFETIME:
            raise InvalidClientError(
                description=f"The assertion may be valid for at most {MAX_LIFETIME} seconds.")
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and not isinstance(iat, bool) and iat > now + LEEWAY:
            raise InvalidClientError(description="The assertion was issued in the future.")
        super().verify_claims(claims)

    def validate_jti(self, claims, jti):
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        key = "cajti:" + hashlib.sha256(f"{claims['sub']}\0{jti}".encode()).hexdigest()
        ttl = max(1, int(claims["exp"] - time.time()) + LEEWAY)
        return store().add(key, "1", ttl)


def _kid_unknown(assertion, keyset):
    from joserfc import jws

    try:
        kid = jws.extract_compact(assertion.encode()).headers().get("kid")
    except (JoseError, ValueError):
        return False
    return bool(kid) and all(key.kid != kid for key in keyset.keys)


def init_app(app, server):
    app.extensions["idp_client_jwks"] = JwksCache()
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
