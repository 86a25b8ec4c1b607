"""Key-encryption keys: the private signing keys are sealed with AES-256-GCM
before they reach the database.

``IDP_KEY_ENCRYPTION_KEYS`` is a list of secrets: the first seals, every one
opens, so the secret itself can be rotated (add a new one in front, run
``idp keys rewrap``, then drop the old one). Each ciphertext is stored with the
id of the key that sealed it: a short digest of the derived key, never the
secret."""

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
MIN_SECRET_LENGTH = 32


class KeyEncryptionError(RuntimeError):
    pass


def _derive(secret):
    # HKDF turns any long random string into exactly 256 bits of key.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"idp signing-key encryption").derive(secret.encode())


class KeyEncryption:
    def __init__(self, secrets):
        if not secrets:
            raise KeyEncryptionError("IDP_KEY_ENCRYPTION_KEYS is empty")
        self._keys = {}
        self.primary_id = None
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                raise KeyEncryptionError(
                    f"every IDP_KEY_ENCRYPTION_KEYS entry needs {MIN_SECRET_LENGTH}+ characters")
            key = _derive(secret)
            kek_id = hashlib.sha256(b"kek-id:" + key).hexdigest()[:16]
            self._keys.setdefault(kek_id, AESGCM(key))
            self.primary_id = self.primary_id or kek_id

    @property
    def ids(self):
        return list(self._keys)

    def seal(self, plaintext, aad):
        """Encrypt under the first key; returns ``(kek_id, nonce + ciphertext)``."""
        nonce = os.urandom(NONCE_BYTES)
        return self.primary_id, nonce + self._keys[self.primary_id].encrypt(nonce, plaintext, aad)

    def open(self, kek_id, blob, aad):
        aead = self._keys.get(kek_id)
        if aead is None:
            raise KeyEncryptionError(
                f"a signing key is sealed under key-encryption key {kek_id}, which is not in "
                "IDP_KEY_ENCRYPTION_KEYS (every node needs the same list)")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeyEncryptionError(f"signing key {aad.decode()!r} does not open under "
                                     f"key-encryption key {kek_id}") from None

