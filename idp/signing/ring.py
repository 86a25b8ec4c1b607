"""The cluster's key ring: signing keys in the database, so that every node signs
with the same active key and publishes the same JWKS.

The newest unretired key of an algorithm signs; a retired key stays in the JWKS
until every token it signed has expired, and verifies ``id_token_hint``s for as
long as a login session lives; then ``idp keys rotate`` prunes it. Keys are
generated on first use when the ring is empty. Each process keeps the ring
parsed in memory and asks the database whether it changed at most once every
``check_every`` seconds (``IDP_CACHE_SECONDS``): one ``count``/``max`` query,
so a rotation on any node reaches every node within that time."""

import json
import logging
import math
import os
import threading
import time
from datetime import datetime, timezone

from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import audit
from ..extensions import db
from ..timeutil import epoch, utcnow
from .kek import KeyEncryptionError
from .models import SigningKey

ALGORITHMS = ("RS256", "ES256")
MANIFEST = "keys.json"  # the former on-disk ring, imported by ``idp keys import``

log = logging.getLogger("idp.signing")


def _key_class(alg):
    return RSAKey if alg == "RS256" else ECKey


def _generate(alg):
    if alg == "RS256":
        return RSAKey.generate_key(2048)
    return ECKey.generate_key("P-256")


def _parse(alg, material, kid):
    return _key_class(alg).import_key(material, {"kid": kid, "use": "sig", "alg": alg})


def _from_epoch(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def describe(row):
    return {"kid": row.kid, "alg": row.alg, "created_at": epoch(row.created_at),
            "retired_at": epoch(row.retired_at) if row.retired_at else None,
            "kek_id": row.kek_id}


class KeyRing:
    def __init__(self, sealer, retire_after, keep_for=0, check_every=5):
        self.sealer = sealer  # ``kek.KeyEncryption``
        self.retire_after = retire_after  # longest lifetime of a signed token: published
        # Retired keys still verify id_token_hints (expired ID tokens are fine as
        # hints) for as long as a login session lives; then they are pruned.
        self.keep_for = max(keep_for, retire_after)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._version = None
        self._checked = -math.inf
        self._stale_at = math.inf  # when a retired key leaves the JWKS or the hints
        self._private = {}  # kid -> opened private key, kept across reloads
        self._active = {}
        self._unopened = {}  # alg -> why its signing key does not open here
        self._keyset = None
        self._hint_keyset = None
        self._jwks_json = None

    @staticmethod
    def _session():
        return Session(db.engine, expire_on_commit=False)

    # -- changes (each one audited, in the same transaction) --------------------
    def _seal(self, session, key, alg, kid, created_at, retired_at=None):
        pem = key.as_pem(private=True)
        kek_id, blob = self.sealer.seal(pem if isinstance(pem, bytes) else pem.encode(),
                                        kid.encode())
        row = SigningKey(kid=kid, alg=alg, public_jwk=_parse(alg, pem, kid).as_dict(private=False),
                         private_key=blob, kek_id=kek_id, created_at=created_at,
                         retired_at=retired_at)
        session.add(row)
        return row

    def _new_key(self, session, alg, now):
        key = _generate(alg)
        return self._seal(session, key, alg, key.thumbprint(), now)

    def _add_missing(self, session, actor):
        active = set(session.scalars(
            select(SigningKey.alg).where(SigningKey.retired_at.is_(None))))
        missing = [alg for alg in ALGORITHMS if alg not in active]
        if missing:
            now = utcnow()
            rows = [self._new_key(session, alg, now) for alg in missing]
            audit.record("signing_keys_generated", actor=actor, commit=False, session=session,
                         added=[row.kid for row in rows])
        return missing

    def ensure(self, actor="system"):
        """Generate a key for every algorithm that has none (first start); returns
        the algorithms that needed one."""
        with self._session() as session:
            missing = self._add_missing(session, actor)
            session.commit()
        self.refresh(force=True)
        return missing

    def rotate(self, now=None, actor="system"):
        """Make new keys active, retire the current ones, prune those whose tokens
        and hints have all expired. Returns ``(added, pruned)`` descriptions."""
        now = _from_epoch(now) if now else utcnow()
        with self._session() as session:
            rows = session.scalars(select(SigningKey)).all()
            for row in rows:
                if row.retired_at is None:
                    row.retired_at = now
            pruned = [row for row in rows
                      if epoch(row.retired_at) + self.keep_for < epoch(now)]
            for row in pruned:
                session.delete(row)
            added = [self._new_key(session, alg, now) for alg in ALGORITHMS]
            audit.record("signing_keys_rotated", actor=actor, commit=False, session=session,
                         added=[row.kid for row in added], pruned=[row.kid for row in pruned])
            session.flush()
            result = [describe(row) for row in added], [describe(row) for row in pruned]
            session.commit()
        self.refresh(force=True)
        return result

    def import_folder(self, folder, actor="system"):
        """Import the keys of a former ``IDP_KEYS_DIR`` (``keys.json`` and one PEM
        per key) that the ring lacks. A key active there stays active only if the
        ring has no active key of its algorithm; otherwise it is retired now, and
        still published for the tokens it signed."""
        try:
            with open(os.path.join(folder, MANIFEST)) as fh:
                entries = json.load(fh)["keys"]
        except FileNotFoundError:
            return []
        imported = []
        with self._session() as session:
            known = set(session.scalars(select(SigningKey.kid)))
            active = set(session.scalars(
                select(SigningKey.alg).where(SigningKey.retired_at.is_(None))))
            now = utcnow()
            for entry in sorted(entries, key=lambda e: e["created_at"]):
                if entry["kid"] in known or entry["alg"] not in ALGORITHMS:
                    continue
                with open(os.path.join(folder, entry["kid"] + ".pem"), "rb") as fh:
                    key = _parse(entry["alg"], fh.read(), entry["kid"])
                retired = entry["retired_at"]
                if retired is None and entry["alg"] in active:
                    retired_at = now
                else:
                    retired_at = _from_epoch(retired) if retired is not None else None
                imported.append(self._seal(session, key, entry["alg"], entry["kid"],
                                           _from_epoch(entry["created_at"]), retired_at))
            if imported:
                audit.record("signing_keys_imported", actor=actor, commit=False,
                             session=session, imported=[row.kid for row in imported])
                session.flush()
            result = [describe(row) for row in imported]
            session.commit()
        self.refresh(force=True)
        return result

    def rewrap(self, actor="system"):
        """Seal every private key under the first key-encryption key; returns the
        kids re-sealed. Afterwards the older key-encryption keys can be dropped."""
        with self._session() as session:
            rows = session.scalars(
                select(SigningKey).where(SigningKey.kek_id != self.sealer.primary_id)).all()
            for row in rows:
                pem = self.sealer.open(row.kek_id, row.private_key, row.kid.encode())
                row.kek_id, row.private_key = self.sealer.seal(pem, row.kid.encode())
            kids = [row.kid for row in rows]
            if kids:
                audit.record("signing_keys_rewrapped", actor=actor, commit=False,
                             session=session, kids=kids, kek_id=self.sealer.primary_id)
            session.commit()
        return kids

    def entries(self):
        with self._session() as session:
            rows = session.scalars(
                select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)).all()
            return [describe(row) for row in rows]

    # -- the ring in memory ------------------------------------------------------
    def refresh(self, force=False):
        """Reload when the ring changed in the database (asked at most once every
        ``check_every`` seconds) or a retired key's time is up. While a check runs,
        other threads go on with the keys in memory."""
        now = time.monotonic()
        loaded = self._keyset is not None
        if (loaded and not force and now - self._checked < self.check_every
                and time.time() < self._stale_at):
            return
        if not self._lock.acquire(blocking=force or not loaded):
            return
        try:
            if self._keyset is not None and not force and self._checked >= now:
                return  # another thread has just checked
            self._checked = time.monotonic()
            self._reload(force)
        except SQLAlchemyError:
            if self._keyset is None:
                raise
            log.warning("signing keys: the database did not answer; using the keys in memory")
        finally:
            self._lock.release()

    def _reload(self, force):
        for _ in range(2):
            with self._session() as session:
                version = tuple(session.execute(
                    select(func.count(SigningKey.id), func.max(SigningKey.updated_at))).one())
                if not force and version == self._version and time.time() < self._stale_at:
                    return
                rows = session.scalars(
                    select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)).all()
                if self._add_missing(session, actor="system"):  # an empty ring: first start
                    session.commit()
                    force = True
                    continue
            self._build(rows, version)
            return

    def _build(self, rows, version):
        now = time.time()
        keys, hint_keys, active, stale_at = [], [], {}, math.inf
        for row in rows:
            retired = epoch(row.retired_at) if row.retired_at else None
            if retired is not None and retired + self.keep_for < now:
                continue
            public = _key_class(row.alg).import_key(row.public_jwk)
            hint_keys.append(public)
            if retired is None or retired + self.retire_after >= now:
                keys.append(public)  # something it signed may still be valid
            if retired is None:
                active[row.alg] = row  # rows are oldest first: the newest wins
            else:
                ends = retired + (self.retire_after if retired + self.retire_after >= now
                                  else self.keep_for)
                stale_at = min(stale_at, ends)
        # Only the signing keys are opened, and each only once per process. One that
        # does not open (this node lacks its key-encryption key) fails the signing
        # only: the JWKS is still published.
        private, failed = {}, {}
        for alg, row in active.items():
            try:
                private[row.kid] = self._private.get(row.kid) or _parse(
                    alg, self.sealer.open(row.kek_id, row.private_key, row.kid.encode()), row.kid)
            except KeyEncryptionError as error:
                log.error("signing keys: %s", error)
                failed[alg] = error
        self._private = private
        self._active = {alg: private[row.kid] for alg, row in active.items() if row.kid in private}
        self._unopened = failed
        self._keyset = KeySet(keys)
        self._hint_keyset = KeySet(hint_keys)
        self._jwks_json = json.dumps(
            {"keys": [k.as_dict(private=False) for k in keys]}, separators=(",", ":"))
        self._stale_at = stale_at
        self._version = version

    def signing_key(self, alg):
        self.refresh()
        if alg in self._unopened:
            raise self._unopened[alg]
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

    def jwks_json_if_fresh(self):
        """The JWKS as last built, or None when the ring is due a check (which
        needs an app context: call ``jwks_json`` then). For callers that answer
        without one (``idp/oauth/documents.py``)."""
        if (self._keyset is None or time.monotonic() - self._checked >= self.check_every
                or time.time() >= self._stale_at):
            return None
        return self._jwks_json
