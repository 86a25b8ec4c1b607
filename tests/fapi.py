"""Client-side pieces of FAPI 2.0 for the tests, written with joserfc only
(independent of the server's code): key pairs, private_key_jwt assertions and
DPoP proofs."""

import base64
import hashlib
import secrets
import time

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

ISSUER = "http://localhost:5000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key(alg="ES256", kid=None):
    parameters = {"alg": alg, "kid": kid or secrets.token_hex(4)}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters, private=True)
    if alg in ("PS256", "RS256"):
        return RSAKey.generate_key(2048, parameters, private=True)
    return OKPKey.generate_key("Ed25519", parameters, private=True)


def public_jwks(*keys):
    return {"keys": [k.as_dict(private=False) for k in keys]}


def client_assertion(client_id, key, aud=ISSUER, lifetime=60, **claims):
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now,
               "exp": now + lifetime, "jti": secrets.token_urlsafe(16)}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode({"alg": key.alg, "kid": key.kid}, payload, key, algorithms=[key.alg])


def assertion_form(client_id, key, **claims):
    return {"client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(client_id, key, **claims)}


def ath(access_token):
    return base64.urlsafe_b64encode(
        hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def dpop_proof(key, htm, htu, access_token=None, nonce=None, typ="dpop+jwt", jwk=None,
               **claims):
    payload = {"jti": secrets.token_urlsafe(12), "htm": htm, "htu": htu,
               "iat": int(time.time())}
    if access_token:
        payload["ath"] = ath(access_token)
    if nonce:
        payload["nonce"] = nonce
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    public = {k: v for k, v in key.as_dict(private=False).items() if k not in ("kid", "alg")}
    header = {"typ": typ, "alg": key.alg, "jwk": jwk if jwk is not None else public}
    return jwt.encode(header, payload, key, algorithms=[key.alg])


class DPoPClient:
    """Sends requests with proofs of one key through the Flask test client,
    retrying once with the server's nonce (RFC 9449 8)."""

    def __init__(self, http, key=None):
        self.http = http
        self.key = key or new_key("ES256")
        self.nonce = None

    def post(self, path, data, access_token=None, **kwargs):
        return self._send("POST", path, data=data, access_token=access_token, **kwargs)

    def get(self, path, access_token=None, **kwargs):
        return self._send("GET", path, access_token=access_token, **kwargs)

    def _send(self, method, path, access_token=None, **kwargs):
        for _ in range(2):
            headers = dict(kwargs.pop("headers", {}) or {})
            headers["DPoP"] = dpop_proof(self.key, method, ISSUER + path,
                                         access_token=access_token, nonce=self.nonce)
            if access_token:
                headers["Authorization"] = f"DPoP {access_token}"
            response = self.http.open(path, method=method, headers=headers, **kwargs)
            if response.headers.get("DPoP-Nonce"):
                self.nonce = response.headers["DPoP-Nonce"]
            if not _asks_for_nonce(response):
                return response
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "DPoP"
                                 and not (access_token and k == "Authorization")}
        return response


def _asks_for_nonce(response):
    if response.status_code == 400 and response.is_json:
        return response.get_json().get("error") == "use_dpop_nonce"
    return response.status_code == 401 and "use_dpop_nonce" in response.headers.get(
        "WWW-Authenticate", "")
