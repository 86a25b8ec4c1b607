"""One OpenID4VP 1.0 presentation, as HAIP 1.0 shapes it: a signed request
object behind ``request_uri`` (JAR, ``typ`` ``oauth-authz-req+jwt``, the
access certificate in ``x5c``, client id ``x509_hash:`` or ``x509_san_dns:``),
a DCQL query for the PID, and ``response_mode=direct_post.jwt`` with the
response encrypted (ECDH-ES, A128GCM or A256GCM) to a key made for this
request alone.

A transaction lives in the shared store (so any node can serve the wallet's
calls) until ``WALLET_REQUEST_TTL`` has passed; its answer is accepted once."""

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from ...store import get_json, set_json
from .pid import ALGORITHM, REGISTRY, b64url, b64url_decode

REQUEST_TYP = "oauth-authz-req+jwt"
RESPONSE_MODE = "direct_post.jwt"
KEY_ALGORITHM = "ECDH-ES"
ENC_VALUES = ("A128GCM", "A256GCM")
CLIENT_ID_PREFIXES = ("x509_hash", "x509_san_dns")
SAME_DEVICE, CROSS_DEVICE = "same_device", "cross_device"
FLOWS = (SAME_DEVICE, CROSS_DEVICE)
CREDENTIAL_ID = "pid"
# The audience of a request object when the wallet has told us nothing of
# itself (OpenID4VP 1.0 §5.8, static discovery).
STATIC_AUDIENCE = "https://self-issued.me/v2"


class WalletSetupError(RuntimeError):
    """The verifier's certificate or key is missing or unusable (an operator's error)."""


class ResponseError(ValueError):
    """The wallet's answer cannot be opened; ``reason`` is for the audit log."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# -- the verifier's access certificate ------------------------------------------------

@dataclass(frozen=True)
class VerifierIdentity:
    key: ECKey
    chain: tuple  # leaf first, as in x5c
    client_id: str

    @property
    def x5c(self):
        return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
                for c in self.chain]


def _self_signed(cert):
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # another issuer, or a key type that cannot say
        return False


def client_id_for(leaf, prefix):
    """``x509_hash:`` + base64url SHA-256 of the certificate's DER, or
    ``x509_san_dns:`` + its first DNS name."""
    if prefix == "x509_hash":
        der = leaf.public_bytes(serialization.Encoding.DER)
        return "x509_hash:" + b64url(hashlib.sha256(der).digest())
    if prefix == "x509_san_dns":
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            return "x509_san_dns:" + names.get_values_for_type(x509.DNSName)[0]
        except (x509.ExtensionNotFound, IndexError):
            raise WalletSetupError("the verifier certificate has no DNS name") from None
    raise WalletSetupError(f"unknown client id prefix {prefix!r}; use one of "
                           f"{', '.join(CLIENT_ID_PREFIXES)}")


def load_verifier(cert_file, key_file, prefix):
    try:
        # The anchor never travels in x5c (HAIP 1.0): self-signed certificates are left out.
        chain = tuple(c for i, c in enumerate(
            x509.load_pem_x509_certificates(Path(cert_file).read_bytes()))
            if i == 0 or not _self_signed(c))
        key = ECKey.import_key(Path(key_file).read_bytes())
    except (OSError, ValueError, JoseError) as exc:
        raise WalletSetupError(f"the verifier certificate or key cannot be read: {exc}") from None
    if key.curve_name != "P-256":
        raise WalletSetupError("the verifier key must be P-256 (ES256)")
    public = chain[0].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != key.get_op_key("verify").public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise WalletSetupError("the verifier key does not belong to its certificate")
    return VerifierIdentity(key=key, chain=chain, client_id=client_id_for(chain[0], prefix))


def verifier_identity(app):
    """The app's verifier identity, read again when either file changes."""
    config = app.config
    cert_file, key_file = config.get("VERIFIER_CERT_FILE"), config.get("VERIFIER_KEY_FILE")
    if not cert_file or not key_file:
        raise WalletSetupError("IDP_VERIFIER_CERT_FILE and IDP_VERIFIER_KEY_FILE must be set")
    try:
        stamp = (cert_file, key_file, config["VERIFIER_CLIENT_ID_PREFIX"],
                 Path(cert_file).stat().st_mtime_ns, Path(key_file).stat().st_mtime_ns)
    except OSError as exc:
        raise WalletSetupError(str(exc)) from None
    cached = app.extensions.get("idp_wallet_verifier")
    if cached is None or cached[0] != stamp:
        cached = app.extensions["idp_wallet_verifier"] = (
            stamp, load_verifier(cert_file, key_file, config["VERIFIER_CLIENT_ID_PREFIX"]))
    return cached[1]


# -- the request ----------------------------------------------------------------------

def dcql_query(vcts, authority_key_ids=()):
    """The PID with names and birth date; issuing country and administrative
    number when the PID has them (claim sets, most wanted first); from a
    provider under one of our anchors (HAIP: ``trusted_authorities`` by "aki")."""
    claims = [{"id": "given_name", "path": ["given_name"]},
              {"id": "family_name", "path": ["family_name"]},
              {"id": "birthdate", "path": ["birthdate"]},
              {"id": "issuing_country", "path": ["issuing_country"]},
              {"id": "personal_administrative_number",
               "path": ["personal_administrative_number"]}]
    base = ["given_name", "family_name", "birthdate"]
    query = {
        "id": CREDENTIAL_ID, "format": "dc+sd-jwt", "meta": {"vct_values": list(vcts)},
        "require_cryptographic_holder_binding": True, "claims": claims,
        "claim_sets": [base + ["issuing_country", "personal_administrative_number"],
                       base + ["issuing_country"], base]}
    if authority_key_ids:
        query["trusted_authorities"] = [{"type": "aki", "values": list(authority_key_ids)}]
    return {"credentials": [query]}


def _sealer(secret):
    """AES-GCM keyed from the app's secret: the response key's private part is
    kept sealed in the shared store, out of reach of a reader of Redis alone."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"idp wallet transaction key").derive(secret.encode())
    return AESGCM(key)


def _seal(secret, tid, value):
    nonce = os.urandom(12)
    return b64url(nonce + _sealer(secret).encrypt(nonce, value.encode(), tid.encode()))


def _unseal(secret, tid, sealed):
    raw = b64url_decode(sealed)
    return _sealer(secret).decrypt(raw[:12], raw[12:], tid.encode()).decode()


def new_transaction(store, ttl, *, secret, user_id, sid, bid, iid, flow, now=None):
    """A fresh transaction with its own nonce, state and encryption key."""
    assert flow in FLOWS
    now = int(now or time.time())
    tid = secrets.token_urlsafe(24)
    key = ECKey.generate_key("P-256", {"use": "enc", "alg": KEY_ALGORITHM, "kid": tid[:16]},
                             private=True).as_dict(private=True)
    tx = {"id": tid, "user_id": user_id, "sid": sid, "bid": bid, "iid": iid, "flow": flow,
          "nonce": secrets.token_urlsafe(24), "state": secrets.token_urlsafe(24),
          "key": key, "created": now, "expires_at": now + ttl}
    stored = {**tx, "key": {**key, "d": _seal(secret, tid, key["d"])}}
    set_json(store, "wallet:tx:" + tid, stored, ttl)
    return tx


def load_transaction(store, tid, *, secret, now=None):
    """The live transaction with this id, or None."""
    if not isinstance(tid, str) or not 16 <= len(tid) <= 64:
        return None
    tx = get_json(store, "wallet:tx:" + tid)
    if tx is None or tx["expires_at"] <= (now or time.time()):
        return None
    try:
        tx["key"]["d"] = _unseal(secret, tid, tx["key"]["d"])
    except (InvalidTag, ValueError):  # another secret (rotated): the request is lost
        return None
    return tx


def wallet_link(client_id, request_uri):
    """What the same-device button opens and the QR code holds."""
    return "openid4vp://?" + urlencode({"client_id": client_id, "request_uri": request_uri,
                                        "request_uri_method": "post"})


def public_key(tx):
    return {k: v for k, v in tx["key"].items() if k != "d"}


def request_object(tx, identity, *, response_uri, vcts, authority_key_ids=(),
                   wallet_nonce=None, now=None):
    """The signed request object (a compact JWS) for this transaction."""
    now = int(now or time.time())
    claims = {
        "iss": identity.client_id, "aud": STATIC_AUDIENCE, "iat": now,
        "exp": tx["expires_at"], "client_id": identity.client_id,
        "response_type": "vp_token", "response_mode": RESPONSE_MODE,
        "response_uri": response_uri, "nonce": tx["nonce"], "state": tx["state"],
        "dcql_query": dcql_query(vcts, authority_key_ids),
        "client_metadata": {
            "jwks": {"keys": [public_key(tx)]},
            "encrypted_response_enc_values_supported": list(ENC_VALUES),
            "vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": [ALGORITHM],
                                                   "kb-jwt_alg_values": [ALGORITHM]}},
        },
    }
    if wallet_nonce:
        claims["wallet_nonce"] = wallet_nonce
    header = {"alg": ALGORITHM, "typ": REQUEST_TYP, "x5c": identity.x5c}
    return jws.serialize_compact(header, json.dumps(claims, separators=(",", ":")),
                                 identity.key, algorithms=[ALGORITHM], registry=REGISTRY)


# -- the response ---------------------------------------------------------------------

def open_response(tx, response):
    """The decrypted answer of the wallet (a dict), or ResponseError."""
    if not isinstance(response, str) or response.count(".") != 4:
        raise ResponseError("not_encrypted")
    key = ECKey.import_key(tx["key"])
    try:
        header = _b64json(response.split(".")[0])
    except ValueError:
        raise ResponseError("malformed") from None
    if header.get("alg") != KEY_ALGORITHM or header.get("enc") not in ENC_VALUES:
        raise ResponseError("algorithm")
    if "kid" in header and header["kid"] != tx["key"]["kid"]:
        raise ResponseError("wrong_key")
    try:
        plain = jwe.decrypt_compact(response, key,
                                    algorithms=[KEY_ALGORITHM, *ENC_VALUES]).plaintext
        payload = json.loads(plain)
    except (JoseError, ValueError, RecursionError) as exc:
        raise ResponseError(f"undecryptable: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise ResponseError("malformed")
    return payload


def _b64json(segment):
    value = json.loads(b64url_decode(segment))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def presentation_in(payload, tx):
    """The one PID presentation of a decrypted answer, after checking its state."""
    if not isinstance(payload.get("state"), str) or not secrets.compare_digest(
            payload["state"], tx["state"]):
        raise ResponseError("state")
    token = payload.get("vp_token")
    if not isinstance(token, dict) or set(token) != {CREDENTIAL_ID}:
        raise ResponseError("vp_token")
    presentations = token[CREDENTIAL_ID]
    if not isinstance(presentations, list) or len(presentations) != 1 \
            or not isinstance(presentations[0], str):
        raise ResponseError("vp_token")
    return presentations[0]
