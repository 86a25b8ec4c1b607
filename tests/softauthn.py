"""Software WebAuthn authenticator + client: a test double with real signatures.

``SoftAuthenticator`` plays both the browser (it builds clientDataJSON) and the
authenticator (it keeps EC P-256 keys and builds authenticator data).  Its
output is genuine: attestation objects and assertions carry real ECDSA-SHA256
signatures over real authenticator data, so py_webauthn's
``verify_registration_response`` / ``verify_authentication_response`` check
them for real.  Test-only code; never use it outside tests.
"""
import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    """Base64url without padding, as WebAuthn JSON uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                       "crossOrigin": False}, separators=(",", ":")).encode()


def _cose_key(key) -> bytes:
    numbers = key.public_key().public_numbers()
    return cbor2.dumps({1: 2, 3: -7, -1: 1,
                        -2: numbers.x.to_bytes(32, "big"),
                        -3: numbers.y.to_bytes(32, "big")})


def _sign(key, auth_data: bytes, client_data: bytes) -> bytes:
    message = auth_data + hashlib.sha256(client_data).digest()
    return key.sign(message, ec.ECDSA(hashes.SHA256()))  # DER encoded


class SoftAuthenticator:
    initial_sign_count = 0

    def __init__(self, *, uv=True, backup_eligible=False, backed_up=False,
                 aaguid=bytes(16), attestation="none", resident=True):
        if attestation not in ("none", "packed"):
            raise ValueError("attestation must be 'none' or 'packed'")
        self.uv = uv
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.aaguid = aaguid
        self.attestation = attestation
        self.resident = resident
        # credential_id -> {"key", "rp_id", "user_handle", "sign_count"}
        self.credentials = {}

    def _auth_data(self, rp_id: str, sign_count: int, attested: bytes = b"") -> bytes:
        flags = FLAG_UP
        flags |= FLAG_UV if self.uv else 0
        flags |= FLAG_BE if self.backup_eligible else 0
        flags |= FLAG_BS if self.backed_up else 0
        flags |= FLAG_AT if attested else 0
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count) + attested

    def _extension_results(self, options):
        """credProps, when asked for: whether a discoverable credential was made."""
        if (options.get("extensions") or {}).get("credProps"):
            return {"credProps": {"rk": self.resident}}
        return {}

    def create(self, options, *, origin, rp_id=None) -> dict:
        """Register a new credential; returns RegistrationResponseJSON."""
        rp_id = rp_id or options["rp"]["id"]
        user_handle = _b64url_decode(options["user"]["id"])
        key = ec.generate_private_key(ec.SECP256R1())
        cred_id = os.urandom(32)
        sign_count = self.initial_sign_count
        self.credentials[cred_id] = {"key": key, "rp_id": rp_id,
                                     "user_handle": user_handle,
                                     "sign_count": sign_count}

        attested = (self.aaguid + struct.pack(">H", len(cred_id)) + cred_id
                    + _cose_key(key))
        auth_data = self._auth_data(rp_id, sign_count, attested)
        client_data = _client_data("webauthn.create", options["challenge"], origin)
        if self.attestation == "packed":  # self-attestation with the credential key
            att_stmt = {"alg": -7, "sig": _sign(key, auth_data, client_data)}
        else:
            att_stmt = {}
        att_obj = cbor2.dumps({"fmt": self.attestation, "attStmt": att_stmt,
                               "authData": auth_data})
        return {
            "id": b64url(cred_id), "rawId": b64url(cred_id), "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": self._extension_results(options),
            "response": {"clientDataJSON": b64url(client_data),
                         "attestationObject": b64url(att_obj),
                         "transports": ["usb"]},
        }

    def _pick(self, options, rp_id, credential_id):
        if credential_id is not None:
            if credential_id not in self.credentials:
                raise KeyError("unknown credential_id")
            return credential_id
        for desc in options.get("allowCredentials") or []:
            cred_id = _b64url_decode(desc["id"])
            if cred_id in self.credentials:
                return cred_id
        if not options.get("allowCredentials"):  # discoverable login
            for cred_id, cred in self.credentials.items():
                if rp_id is None or cred["rp_id"] == rp_id:
                    return cred_id
        raise LookupError("no matching credential")

    def get(self, options, *, origin, rp_id=None, credential_id=None,
            sign_count=None) -> dict:
        """Sign an assertion; returns AuthenticationResponseJSON."""
        rp_id = rp_id or options.get("rpId")
        cred_id = self._pick(options, rp_id, credential_id)
        cred = self.credentials[cred_id]
        rp_id = rp_id or cred["rp_id"]
        cred["sign_count"] = cred["sign_count"] + 1 if sign_count is None else sign_count

        auth_data = self._auth_data(rp_id, cred["sign_count"])
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        user_handle = cred["user_handle"]
        return {
            "id": b64url(cred_id), "rawId": b64url(cred_id), "type": "public-key",
            "authenticatorAttachment": "cross-platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client_data),
                         "authenticatorData": b64url(auth_data),
                         "signature": b64url(_sign(cred["key"], auth_data, client_data)),
                         "userHandle": b64url(user_handle) if user_handle is not None else None},
        }
