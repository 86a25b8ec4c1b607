"""Signing keys: generated on first start, published in the JWKS, rotated
without breaking tokens already issued.

A folder (``IDP_KEYS_DIR``) holds one PKCS#8 PEM file per key (mode 0600) and
``keys.json`` with each key's algorithm and life: the newest key of an
algorithm signs; a retired key stays in the JWKS until every token it signed has
expired, then ``idp keys rotate`` prunes it. Key objects are parsed once and
cached; a running server notices a rotation by the file's mtime."""

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager

from joserfc.jwk import ECKey, KeySet, RSAKey

ALGORITHMS = ("RS256", "ES256")
MANIFEST = "keys.json"


def _generate(alg):
    if alg == "RS256":
        return RSAKey.generate_key(2048)
    return ECKey.generate_key("P-256")


def _import(alg, pem, kid):
    cls = RSAKey if alg == "RS256" else ECKey
    return cls.import_key(pem, {"kid": kid, "use": "sig", "alg": alg})


class KeyRing:
    def __init__(self, folder, retire_after, keep_for=0):
        self.folder = os.path.abspath(folder)
        self.retire_after = retire_after  # longest lifetime of a signed token: published
        # Retired keys still verify id_token_hints (expired ID tokens are fine as
        # hints) for as long as a login session lives; then they are pruned.
        self.keep_for = max(keep_for, retire_after)
        self._lock = threading.Lock()
        self._mtime = None
        self._checked = 0.0
        self._active = {}
        self._keyset = None
        self._hint_keyset = None
        self._jwks_json = None
        self._entries = []

    # -- files ---------------------------------------------------------------
    @contextmanager
    def _file_lock(self):
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        with open(os.path.join(self.folder, ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_manifest(self):
        try:
            with open(os.path.join(self.folder, MANIFEST)) as fh:
                return json.load(fh)["keys"]
        except FileNotFoundError:
            return []

    def _write_manifest(self, entries):
        path = os.path.join(self.folder, MANIFEST)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"keys": entries}, fh, indent=2)
        os.replace(tmp, path)

    def _add_key(self, alg, now):
        key = _generate(alg)
        kid = key.thumbprint()
        pem = key.as_pem(private=True)
        fd = os.open(os.path.join(self.folder, kid + ".pem"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem if isinstance(pem, bytes) else pem.encode())
        return {"kid": kid, "alg": alg, "created_at": int(now), "retired_at": None}

    def ensure(self):
        """Generate a key for every algorithm that has none (first start)."""
        with self._file_lock():
            entries = self._read_manifest()
            have = {e["alg"] for e in entries if e["retired_at"] is None}
            missing = [alg for alg in ALGORITHMS if alg not in have]
            if missing:
                now = time.time()
                entries += [self._add_key(alg, now) for alg in missing]
                self._write_manifest(entries)
        self._load(force=True)
        return missing

    def rotate(self, now=None):
        """Make new keys active, retire the current ones, prune expired ones."""
        now = now or time.time()
        with self._file_lock():
            entries = self._read_manifest()
            for entry in entries:
                if entry["retired_at"] is None:
                    entry["retired_at"] = int(now)
            added = [self._add_key(alg, now) for alg in ALGORITHMS]
            kept, pruned = [], []
            for entry in entries:
                if entry["retired_at"] + self.keep_for < now:
                    pruned.append(entry)
                    try:
                        os.remove(os.path.join(self.folder, entry["kid"] + ".pem"))
                    except FileNotFoundError:
                        pass
                else:
                    kept.append(entry)
            self._write_manifest(kept + added)
        self._load(force=True)
        return added, pruned

    # -- cache ---------------------------------------------------------------
    def _load(self, force=False):
        path = os.path.join(self.folder, MANIFEST)
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            raise RuntimeError(f"no signing keys in {self.folder}; run 'idp init'") from None
        if not force and mtime == self._mtime:
            return
        with self._lock:
            entries = self._read_manifest()
            keys, hint_keys, active = [], [], {}
            now = time.time()
            for entry in entries:
                retired = entry["retired_at"]
                if retired is not None and retired + self.keep_for < now:
                    continue
                with open(os.path.join(self.folder, entry["kid"] + ".pem"), "rb") as fh:
                    key = _import(entry["alg"], fh.read(), entry["kid"])
                hint_keys.append(key)
                if retired is None or retired + self.retire_after >= now:
                    keys.append(key)  # something it signed may still be valid
                if retired is None:
                    active[entry["alg"]] = key
            self._entries = entries
            self._active = active
            self._keyset = KeySet(keys)
            self._hint_keyset = KeySet(hint_keys)
            self._jwks_json = json.dumps(
                {"keys": [k.as_dict(private=False) for k in keys]}, separators=(",", ":"))
            self._mtime = mtime

    def refresh(self):
        """Reload if another process rotated the keys (checked at most once a second)."""
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            self._load()

    def signing_key(self, alg):
        self.refresh()
        return self._active[alg]

    def keyset(self):
        self.refresh()
        return self._keyset

    def hint_keyset(self):
        """Every key whose old ID tokens may still come back as hints."""
        self.refresh()
        return self._hint_keyset

    def jwks_json(self):
        self.refresh()
        return self._jwks_json

    def entries(self):
        self._load(force=True)
        return list(self._entries)
