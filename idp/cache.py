"""Short read-through caches of rows that every API request needs.

Token, introspection and userinfo requests each need a client registration or
an account; reading them from the database every time costs more than the rest
of the request. A process keeps a read-only snapshot for a few seconds
(``IDP_CACHE_SECONDS``). Changes made in the same process forget the entry at
once; other processes (more workers, the ``idp`` command) see them within that
time. Nothing here is state: every entry can be read again from the database."""

import time

from sqlalchemy.orm import Session

from .extensions import db


class RowCache:
    MAX_ENTRIES = 10_000  # unknown keys are cached too; a flood of them only resets it

    def __init__(self, seconds, load):
        self.seconds = seconds
        self._load = load
        self._items = {}

    def get(self, key):
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        # Its own short session: the snapshot never aliases the request's objects.
        with Session(db.engine, expire_on_commit=False) as session:
            row = self._load(session, key)
            if row is not None:
                session.expunge(row)  # a read-only snapshot, shared by the threads
        if len(self._items) >= self.MAX_ENTRIES:
            self._items = {}
        self._items[key] = (row, now + self.seconds)
        return row

    def forget(self, key=None):
        if key is None:
            self._items = {}
        else:
            self._items.pop(key, None)
