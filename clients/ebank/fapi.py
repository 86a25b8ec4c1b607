"""The e-bank as a FAPI 2.0 client of the IdP, with only what it learns from
discovery: pushed authorization requests (RFC 9126), PKCE, ``private_key_jwt``
client authentication (RFC 7523) and DPoP-bound tokens (RFC 9449), proofs
made with joserfc. ID tokens are checked against the IdP's JWKS.

Two key pairs: the client's own (registered with the IdP as its JWK Set;
private half in ``instance/ebank-client.json``), and a DPoP key made when the
process starts (a token bound to it dies with the process, which is what a
sender-constrained token should do)."""

import base64
import hashlib
import secrets
import time

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, import_key

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_TOKEN_ALGS = ["ES256", "PS256"]
LEEWAY = 60


class FapiError(Exception):
    """The IdP refused a request (``error`` as the IdP named it) or answered oddly."""

    def __init__(self, error, description=None):
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


def access_token_hash(access_token):
    return base64.urlsafe_b64encode(
        hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


class FapiClient:
    def __init__(self, issuer, client_id, private_jwk, timeout):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.key = import_key(private_jwk)
        self.alg = private_jwk.get("alg") or "ES256"
        self.dpop_key = ECKey.generate_key("P-256", private=True)
        self.timeout = timeout
        self._metadata = None
        self._jwks = None
        self._nonce = None  # the IdP's last DPoP-Nonce

    # -- discovery ------------------------------------------------------------------
    def metadata(self):
        if self._metadata is None:
            response = requests.get(self.issuer + "/.well-known/openid-configuration",
                                    timeout=self.timeout, allow_redirects=False)
            data = _json(response)
            if response.status_code != 200 or data.get("issuer") != self.issuer:
                raise FapiError("discovery_failed", "no usable discovery document")
            self._metadata = data
        return self._metadata

    def endpoint(self, name):
        url = self.metadata().get(name)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise FapiError("discovery_failed", f"the IdP names no {name}")
        return url

    # -- what the client signs --------------------------------------------------------
    def client_assertion(self):
        """private_key_jwt: ``aud`` is the issuer (FAPI 2.0), valid a minute."""
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
                  "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
        header = {"alg": self.alg, "kid": self.key.kid} if self.key.kid else {"alg": self.alg}
        return {"client_assertion_type": ASSERTION_TYPE,
                "client_assertion": jwt.encode(header, claims, self.key, algorithms=[self.alg])}

    def dpop_proof(self, method, url, access_token=None, nonce=None):
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url,
                  "iat": int(time.time())}
        if access_token:
            claims["ath"] = access_token_hash(access_token)
        if nonce:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": "ES256",
                  "jwk": self.dpop_key.as_dict(private=False)}
        return jwt.encode(header, claims, self.dpop_key, algorithms=["ES256"])

    # -- the flow -----------------------------------------------------------------------
    def push(self, params):
        """RFC 9126: the request goes over the back channel; returns the
        URL to send the browser to."""
        response = requests.post(self.endpoint("pushed_authorization_request_endpoint"),
                                 data={**params, "client_id": self.client_id,
                                       # RFC 9449 10: the code, too, only for our key
                                       "dpop_jkt": self.dpop_key.thumbprint(),
                                       **self.client_assertion()},
                                 timeout=self.timeout, allow_redirects=False)
        data = _json(response)
        if response.status_code != 201 or not isinstance(data.get("request_uri"), str):
            raise FapiError(data.get("error", "par_failed"), data.get("error_description"))
        return requests.Request("GET", self.endpoint("authorization_endpoint"), params={
            "client_id": self.client_id, "request_uri": data["request_uri"]}).prepare().url

    def exchange(self, code, redirect_uri, verifier, resource=None):
        """The code for DPoP-bound tokens."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        if resource:
            form["resource"] = resource
        url = self.endpoint("token_endpoint")
        response = self._with_nonce(lambda nonce: requests.post(
            url, data={**form, **self.client_assertion()},
            headers={"DPoP": self.dpop_proof("POST", url, nonce=nonce)},
            timeout=self.timeout, allow_redirects=False))
        data = _json(response)
        if response.status_code != 200:
            raise FapiError(data.get("error", "token_failed"), data.get("error_description"))
        if data.get("token_type", "").lower() != "dpop" or "access_token" not in data:
            raise FapiError("token_failed", "the IdP did not bind the token to our key")
        return data

    def userinfo(self, access_token):
        url = self.endpoint("userinfo_endpoint")
        response = self._with_nonce(lambda nonce: requests.get(url, headers={
            "Authorization": f"DPoP {access_token}",
            "DPoP": self.dpop_proof("GET", url, access_token, nonce)},
            timeout=self.timeout, allow_redirects=False))
        data = _json(response)
        if response.status_code != 200:
            raise FapiError("userinfo_failed", response.headers.get("WWW-Authenticate"))
        return data

    def _with_nonce(self, send):
        """Send; when the IdP asks for its nonce (RFC 9449 8), send once more with it."""
        response = send(self._nonce)
        if response.headers.get("DPoP-Nonce"):
            self._nonce = response.headers["DPoP-Nonce"]
        if _asks_for_nonce(response):
            response = send(self._nonce)
            if response.headers.get("DPoP-Nonce"):
                self._nonce = response.headers["DPoP-Nonce"]
        return response

    def id_token_claims(self, id_token, nonce):
        """OIDC Core 3.1.3.7: signature (JWKS), iss, aud, exp, iat and nonce."""
        try:
            try:
                token = jwt.decode(id_token, self._keyset(), algorithms=ID_TOKEN_ALGS)
            except JoseError:
                self._jwks = None  # the IdP may have rotated its keys: read them again
                token = jwt.decode(id_token, self._keyset(), algorithms=ID_TOKEN_ALGS)
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise FapiError("invalid_id_token", str(exc)) from None
        return token.claims

    def _keyset(self):
        if self._jwks is None:
            response = requests.get(self.endpoint("jwks_uri"), timeout=self.timeout,
                                    allow_redirects=False)
            self._jwks = KeySet.import_key_set(_json(response))
        return self._jwks


def _asks_for_nonce(response):
    if response.status_code == 400:
        return _json(response).get("error") == "use_dpop_nonce"
    return (response.status_code == 401
            and "use_dpop_nonce" in response.headers.get("WWW-Authenticate", ""))


def _json(response):
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def new_client_key():
    """A new ES256 key pair for the e-bank: (private JWK, public JWK Set)."""
    key = ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig",
                                       "kid": secrets.token_hex(8)}, private=True)
    return key.as_dict(private=True), {"keys": [key.as_dict(private=False)]}
