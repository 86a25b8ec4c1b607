"""DPoP proofs at the payment API (RFC 9449 4.3, 7): the caller shows, with
every payment, that it holds the key its access token is bound to. The
proof must be for this request (``htm``, ``htu``), fresh (``iat``), used once
(``jti``, remembered in this process), and over this token (``ath``).

Whether the token is bound to *that* key is for the IdP's introspection
answer to tell (``cnf.jkt``); ``verify`` returns the proof key's thumbprint."""

import hashlib
import hmac
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from .fapi import access_token_hash

ALGORITHMS = ["ES256", "PS256", "Ed25519", "EdDSA"]
KEY_TYPES = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
MAX_AGE = 60  # seconds a proof may be old
SKEW = 10  # seconds a proof may come from the future
_REGISTRY = JWSRegistry(algorithms=ALGORITHMS)
_REGISTRY.max_header_length = 2048  # an RSA key in the header


class ProofError(ValueError):
    pass


class SeenProofs:
    """``jti`` values of accepted proofs, forgotten once they are too old anyway."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen = {}

    def first_use(self, key, now):
        with self._lock:
            for old in [k for k, until in self._seen.items() if until <= now]:
                del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = now + MAX_AGE + SKEW
            return True


def _normalise(uri):
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # not a port: compares unequal to any real URL
        return "invalid:" + uri
    if port and (parts.scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", "", ""))


def verify(proof, method, url, access_token, seen, now=None):
    """The thumbprint of the key that signed a good proof; ProofError otherwise."""
    now = now or time.time()
    if not proof or len(proof) > 8192:
        raise ProofError("A DPoP proof is required")
    try:
        header = jws.extract_compact(proof.encode(), None, _REGISTRY).headers()
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in ALGORITHMS:
            raise ProofError("The DPoP proof's typ or alg is not accepted")
        if not isinstance(jwk, dict) or jwk.get("kty") not in KEY_TYPES or "d" in jwk:
            raise ProofError("The DPoP proof needs a public jwk")
        key = KEY_TYPES[jwk["kty"]].import_key(jwk)
        claims = jwt.decode(proof, key, algorithms=[header["alg"]], registry=_REGISTRY).claims
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        if isinstance(exc, ProofError):
            raise
        raise ProofError("The DPoP proof does not verify") from None
    if claims.get("htm") != method or not isinstance(claims.get("htu"), str) or (
            _normalise(claims["htu"]) != _normalise(url)):
        raise ProofError("The DPoP proof is for another request")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or not (
            now - MAX_AGE <= iat <= now + SKEW):
        raise ProofError("The DPoP proof is too old")
    ath = claims.get("ath")
    if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
        raise ProofError("The DPoP proof is not over this access token")
    jti = claims.get("jti")
    thumbprint = key.thumbprint()
    if not isinstance(jti, str) or not jti or not seen.first_use(
            hashlib.sha256(f"{thumbprint}\0{jti}".encode()).hexdigest(), now):
        raise ProofError("The DPoP proof was already used")
    return thumbprint
