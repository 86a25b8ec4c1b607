"""A software wallet: holds a PID (SD-JWT VC) and answers an OpenID4VP 1.0
request the way a HAIP wallet does. It fetches the request object from
``request_uri`` (POST with a ``wallet_nonce``), checks its signature, ``typ``
and ``x509_hash`` client id, picks the claims the DCQL query asks for, makes
the presentation with the ``sd-jwt`` reference implementation, encrypts it
(ECDH-ES) to the key in ``client_metadata`` and posts it to ``response_uri``.

Built on joserfc and sd-jwt only (no verifier code). ``http`` is either a Flask
test client (``FlaskHttp``) or real HTTP (``RealHttp``)."""

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwe, jws
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from sd_jwt.holder import SDJWTHolder


class BigHeaders(JWSRegistry):
    max_header_length = 16 * 1024  # the verifier's x5c


REGISTRY = BigHeaders(algorithms=["ES256"], strict_check_header=False)


class Answer:
    def __init__(self, status, body, content_type=""):
        self.status, self.body, self.content_type = status, body, content_type

    def json(self):
        return json.loads(self.body)


class FlaskHttp:
    """Requests through a Flask test client (a separate one: the wallet is
    another device, with no cookies of the browser)."""

    def __init__(self, client):
        self.client = client

    def _path(self, url):
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def get(self, url, headers=None):
        r = self.client.get(self._path(url), headers=headers or {})
        return Answer(r.status_code, r.get_data(as_text=True), r.content_type)

    def post(self, url, data, headers=None):
        r = self.client.post(self._path(url), data=data, headers=headers or {})
        return Answer(r.status_code, r.get_data(as_text=True), r.content_type)


class RealHttp:
    def get(self, url, headers=None):
        r = requests.get(url, headers=headers or {}, timeout=10)
        return Answer(r.status_code, r.text, r.headers.get("Content-Type", ""))

    def post(self, url, data, headers=None):
        r = requests.post(url, data=data, headers=headers or {}, timeout=10)
        return Answer(r.status_code, r.text, r.headers.get("Content-Type", ""))


def x509_hash(cert):
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class WalletError(AssertionError):
    """The request is one a real wallet would refuse."""


class Wallet:
    def __init__(self, credential, holder_key, http):
        self.credential, self.holder_key, self.http = credential, holder_key, http
        self.request = None  # the last verified request object's claims

    # -- the request ------------------------------------------------------------------

    def fetch_request(self, link, wallet_nonce=None):
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        if not link.startswith("openid4vp://"):
            raise WalletError(f"not an openid4vp link: {link}")
        headers = {"Accept": "application/oauth-authz-req+jwt"}
        if query.get("request_uri_method") == "post":
            nonce = wallet_nonce or secrets.token_urlsafe(16)
            answer = self.http.post(query["request_uri"], {"wallet_nonce": nonce}, headers)
        else:
            nonce = None
            answer = self.http.get(query["request_uri"], headers)
        if answer.status != 200:
            raise WalletError(f"request_uri answered {answer.status}: {answer.body}")
        if not answer.content_type.startswith("application/oauth-authz-req+jwt"):
            raise WalletError(f"request object of type {answer.content_type}")
        obj = jws.extract_compact(answer.body.strip().encode(), registry=REGISTRY)
        header = obj.headers()
        if header.get("typ") != "oauth-authz-req+jwt" or header.get("alg") != "ES256":
            raise WalletError(f"request object header {header}")
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        key = ECKey.import_key(leaf.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        claims = json.loads(jws.deserialize_compact(answer.body.strip(), key,
                                                    registry=REGISTRY).payload)
        if claims["client_id"] != query["client_id"]:
            raise WalletError("client_id differs between link and request object")
        prefix, _, value = claims["client_id"].partition(":")
        if prefix == "x509_hash" and value != x509_hash(leaf):
            raise WalletError("x509_hash does not match the signing certificate")
        if nonce is not None and claims.get("wallet_nonce") != nonce:
            raise WalletError("wallet_nonce not echoed")
        if claims.get("response_mode") != "direct_post.jwt":
            raise WalletError(f"response_mode {claims.get('response_mode')}")
        self.request = claims
        return claims

    def issued_by_trusted_authority(self, query):
        """Whether the PID's x5c names one of the query's "aki" authorities."""
        wanted = [v for t in query.get("trusted_authorities", ()) if t["type"] == "aki"
                  for v in t["values"]]
        if not wanted:
            return True
        header = jws.extract_compact(self.credential.split("~")[0].encode(),
                                     registry=REGISTRY).headers()
        for der in header.get("x5c", ()):
            cert = x509.load_der_x509_certificate(base64.b64decode(der))
            try:
                aki = cert.extensions.get_extension_for_class(
                    x509.AuthorityKeyIdentifier).value.key_identifier
            except x509.ExtensionNotFound:
                continue
            if base64.urlsafe_b64encode(aki).rstrip(b"=").decode() in wanted:
                return True
        return False

    def disclose(self):
        """The claims to disclose: the first claim set the PID can satisfy."""
        query = self.request["dcql_query"]["credentials"][0]
        if not self.issued_by_trusted_authority(query):
            raise WalletError("the PID is not from an authority the verifier trusts")
        holder = SDJWTHolder(self.credential)
        available = {name for name in self._claim_names(holder)}
        by_id = {c["id"]: c["path"][0] for c in query["claims"]}
        for claim_set in query.get("claim_sets") or [list(by_id)]:
            names = [by_id[i] for i in claim_set]
            if all(n in available for n in names):
                return {n: True for n in names}
        raise WalletError("the PID cannot satisfy the query")

    @staticmethod
    def _claim_names(holder):
        return {value[1] for value in holder._hash_to_decoded_disclosure.values()
                if len(value) == 3}

    # -- the response -----------------------------------------------------------------

    def present(self, disclose=None, nonce=None, aud=None, holder_key=None):
        holder = SDJWTHolder(self.credential)
        holder.create_presentation(disclose or self.disclose(),
                                   nonce or self.request["nonce"],
                                   aud or self.request["client_id"],
                                   holder_key or self.holder_key, "ES256")
        return holder.sd_jwt_presentation

    def encrypt(self, payload, enc=None, alg="ECDH-ES"):
        metadata = self.request["client_metadata"]
        jwk = metadata["jwks"]["keys"][0]
        enc = enc or metadata.get("encrypted_response_enc_values_supported", ["A128GCM"])[0]
        return jwe.encrypt_compact({"alg": alg, "enc": enc, "kid": jwk["kid"]},
                                   json.dumps(payload), ECKey.import_key(jwk),
                                   algorithms=[alg, enc])

    def post_response(self, response):
        return self.http.post(self.request["response_uri"], {"response": response})

    def answer(self, link, *, tamper=None, enc=None, presentation=None):
        """The whole round: fetch, present, encrypt, post. ``tamper`` may change
        the presentation before it is encrypted. Returns the response URI's answer."""
        self.fetch_request(link)
        presentation = presentation or self.present()
        if tamper:
            presentation = tamper(presentation)
        payload = {"vp_token": {"pid": [presentation]}, "state": self.request["state"]}
        return self.post_response(self.encrypt(payload, enc=enc))
