"""DPoP: sender-constrained tokens (RFC 9449).

The client signs a small JWT, the *proof*, for every request with a key pair
of its own and sends it in the ``DPoP`` header. At the token endpoint we check
the proof and bind the access token to the key's thumbprint (``cnf.jkt``,
``token_type: DPoP``); a refresh token of a public client is bound too. A
bound access token then works only with a fresh proof of the same key over
that request and that token (``ath``): as a plain Bearer token it is refused.

Proofs must carry a nonce of ours (``DPoP-Nonce``) when ``IDP_DPOP_REQUIRE_NONCE``
is set: an HMAC of the current time window with the secret key, so every
machine of a cluster makes and accepts the same nonces, and they rotate every
``NONCE_WINDOW`` seconds. Proof ``jti`` values are remembered in the shared
store for as long as the proof could be accepted, so a replay is refused on
any machine."""

import base64
import functools
import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from flask import current_app
from joserfc import jws, jwt
from joserfc.jws import JWSRegistry
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ..extensions import store

ALGORITHMS = ["ES256", "PS256", "Ed25519", "EdDSA"]  # EdDSA: the name before RFC 9864
KEY_TYPES = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
IAT_PAST = 60  # how old a proof may be, seconds (a nonce makes it fresh anyway)
IAT_FUTURE = 10  # clock skew the other way
NONCE_WINDOW = 300  # a nonce is good for this window and the next one
MAX_PROOF_BYTES = 8192

# The proof carries its public key in the header: an RSA key does not fit in
# joserfc's default 512-byte header limit.
PROOF_REGISTRY = JWSRegistry(algorithms=ALGORITHMS)
PROOF_REGISTRY.max_header_length = 2048


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 5: the proof is missing a piece, wrong or replayed."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonceError(OAuth2Error):
    """RFC 9449 8: try again with the nonce in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"
    status_code = 400
    description = "Use the DPoP-Nonce of this answer in the proof."

    def get_headers(self):
        return [*super().get_headers(), ("DPoP-Nonce", current_nonce())]


class DPoPResourceError(OAuth2Error):
    """Errors of a protected resource for the DPoP scheme (RFC 9449 7.1): 401
    with a ``WWW-Authenticate: DPoP`` challenge."""

    status_code = 401

    def __init__(self, error, description=None, nonce=False):
        super().__init__(description=description)
        self.error = error
        self.nonce = nonce

    def get_headers(self):
        challenge = (f'DPoP error="{self.error}", '
                     f'error_description="{self.get_error_description()}", '
                     f'algs="{" ".join(ALGORITHMS)}"')
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                   ("WWW-Authenticate", challenge)]
        if self.nonce:
            headers.append(("DPoP-Nonce", current_nonce()))
        return headers


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _nonce_for(window):
    key = current_app.config["SECRET_KEY"].encode()
    return _b64(hmac.new(key, f"dpop-nonce:{window}".encode(), hashlib.sha256).digest()[:18])


def current_nonce(now=None):
    """The nonce clients should put in their next proofs."""
    return _nonce_for(int((now or time.time()) // NONCE_WINDOW))


def nonce_is_valid(nonce, now=None):
    window = int((now or time.time()) // NONCE_WINDOW)
    return isinstance(nonce, str) and any(
        hmac.compare_digest(nonce, _nonce_for(w)) for w in (window, window - 1))


def access_token_hash(access_token):
    """``ath``: base64url of the SHA-256 of the access token (RFC 9449 4.2)."""
    return _b64(hashlib.sha256(access_token.encode()).digest())


@functools.lru_cache(maxsize=256)
def normalise_htu(uri):
    """Scheme and host in lower case, default port dropped, no query or fragment."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # not a port: compares unequal to any real URL
        return "invalid:" + uri
    if port and not ((parts.scheme == "https" and port == 443)
                     or (parts.scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", "", ""))


def proof_header(headers):
    """The one DPoP header of a request, None when there is none."""
    values = headers.getlist("DPoP") if hasattr(headers, "getlist") else (
        [headers["DPoP"]] if "DPoP" in headers else [])
    if not values:
        return None
    if len(values) > 1:
        raise InvalidDPoPProofError(description="More than one DPoP header.")
    return values[0]


def verify_proof(proof, method, uri, access_token=None, require_nonce=False,
                 error=InvalidDPoPProofError, nonce_error=UseDPoPNonceError):
    """Check a DPoP proof for a request; returns the key's thumbprint (``jkt``).

    Raises ``error`` (or ``UseDPoPNonceError``) when the proof does not hold."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_BYTES:
        raise error(description="The DPoP proof is missing or too long.")
    try:
        header = jws.extract_compact(proof.encode(), None, PROOF_REGISTRY).headers()
    except (JoseError, ValueError, UnicodeError):
        raise error(description="The DPoP proof is not a JWS.") from None
    if header.get("typ") != "dpop+jwt":
        raise error(description="The DPoP proof's typ must be dpop+jwt.")
    if header.get("alg") not in ALGORITHMS:
        raise error(description=f"DPoP proofs are signed with one of {', '.join(ALGORITHMS)}.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in KEY_TYPES:
        raise error(description="The DPoP proof needs a public jwk in its header.")
    if any(member in jwk for member in PRIVATE_MEMBERS):
        raise error(description="The DPoP proof's jwk must be a public key.")
    try:
        key, jkt = _public_key(json.dumps(jwk, sort_keys=True))
        claims = jwt.decode(proof, key, algorithms=[header["alg"]],
                            registry=PROOF_REGISTRY).claims
    except (JoseError, ValueError, TypeError):
        raise error(description="The DPoP proof's signature does not verify.") from None
    _check_claims(claims, method, uri, access_token, error)
    if require_nonce and not nonce_is_valid(claims.get("nonce")):
        raise nonce_error()
    _refuse_replay(jkt, claims["jti"], error)
    return jkt


@functools.lru_cache(maxsize=1024)
def _public_key(jwk_json):
    """The key and its thumbprint. A client keeps its DPoP key: importing it
    once saves a third of a check."""
    jwk = json.loads(jwk_json)
    key = KEY_TYPES[jwk["kty"]].import_key(jwk)
    return key, key.thumbprint()


def _check_claims(claims, method, uri, access_token, error):
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise error(description="The DPoP proof needs a jti.")
    if claims.get("htm") != method:
        raise error(description="The DPoP proof's htm is not this request's method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(uri):
        raise error(description="The DPoP proof's htu is not this endpoint.")
    iat = claims.get("iat")
    now = time.time()
    if (not isinstance(iat, (int, float)) or isinstance(iat, bool)
            or not now - IAT_PAST <= iat <= now + IAT_FUTURE):
        raise error(description="The DPoP proof's iat is too old or in the future.")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)):
            raise error(description="The DPoP proof's ath is not this access token's hash.")


def _refuse_replay(jkt, jti, error):
    key = "dpop-jti:" + hashlib.sha256(f"{jkt}\0{jti}".encode()).hexdigest()
    if not store().add(key, "1", IAT_PAST + IAT_FUTURE + 1):
        raise error(description="This DPoP proof was already used.")


# -- the token endpoint ------------------------------------------------------------

def dpop_required(client):
    return bool(client.dpop_bound_access_tokens or client.fapi2)


def check_token_request(request):
    """Before the grant runs (so a bad proof never spends a code): verify the
    proof, if any, and keep its thumbprint as ``request.dpop_jkt``."""
    request.dpop_jkt = None
    proof = proof_header(request.headers)
    if proof is None:
        return
    request.dpop_jkt = verify_proof(proof, request.method, request.uri,
                                    require_nonce=current_app.config["DPOP_REQUIRE_NONCE"])


def check_client(request, client):
    """After client authentication: a client that must use DPoP sent a proof."""
    if dpop_required(client) and not getattr(request, "dpop_jkt", None):
        raise InvalidRequestError("This client must send a DPoP proof (RFC 9449).")


def bind_token(token, record, request):
    """Make the issued token a DPoP token bound to the proof's key."""
    jkt = getattr(request, "dpop_jkt", None)
    if jkt:
        token["token_type"] = "DPoP"
        record["jkt"] = jkt
    return jkt


class DPoPTokenEndpoint:
    """Authorization server mixin: DPoP at the token endpoint."""

    def create_token_response(self, request=None):
        request = self.create_oauth2_request(request)
        try:
            check_token_request(request)
        except OAuth2Error as error:
            return self.handle_error_response(request, error)
        return super().create_token_response(request)

    def authenticate_client(self, request, methods, endpoint="token"):
        client = super().authenticate_client(request, methods, endpoint)
        if endpoint == "token":
            check_client(request, client)
        return client


# -- protected resources (userinfo) ------------------------------------------------

def check_resource_request(request, token_string, token):
    """A request with ``Authorization: DPoP <token>`` to one of our resources:
    the proof must be fresh, for this request and token, and by the bound key."""
    proof = proof_header_or_401(request.headers)
    jkt = verify_proof(
        proof, request.method, request.uri, access_token=token_string,
        require_nonce=current_app.config["DPOP_REQUIRE_NONCE"],
        error=lambda description: DPoPResourceError("invalid_dpop_proof", description),
        nonce_error=lambda: DPoPResourceError("use_dpop_nonce",
                                              "Use the DPoP-Nonce of this answer.", nonce=True))
    if token is None or token.is_expired():
        raise DPoPResourceError("invalid_token", "The access token is not valid.")
    if token.record.get("jkt") != jkt:
        raise DPoPResourceError("invalid_token",
                                "The access token is not bound to the proof's key.")
    return token


def proof_header_or_401(headers):
    try:
        proof = proof_header(headers)
    except InvalidDPoPProofError as exc:
        raise DPoPResourceError("invalid_dpop_proof", exc.description) from None
    if proof is None:
        raise DPoPResourceError("invalid_dpop_proof", "A DPoP proof is required.")
    return proof


def refuse_as_bearer(token):
    """A DPoP-bound token presented as a Bearer token (RFC 9449 7.2)."""
    if token is not None and token.record.get("jkt"):
        raise DPoPResourceError("invalid_token",
                                "This access token is DPoP-bound: send it with a DPoP proof.")
