"""Short read-through caches of rows that every API request needs, invalidated
everywhere at once.

Token, introspection and userinfo requests each need a client registration or
an account; reading them from the database every time costs more than the rest
of the request. A process keeps a read-only snapshot for a few seconds
(``IDP_CACHE_SECONDS``), stamped with the row's *version token* from the shared
store (Redis when set). Every committed change of a watched row, in any
process or on any machine (the ``idp`` command too), replaces that token; a
request's first use of a snapshot reads the token (one ``MGET`` with the
cache-wide one) and reads the row again when it moved; later uses in the same
request get that answer. So no two workers ever answer from
different states of an account or a client. Nothing here is state: every entry
can be read again from the database."""

import logging
import secrets
import time

from flask import current_app, has_request_context, request
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from .extensions import db

ALL = "*"  # the cache-wide token, moved by bulk UPDATE/DELETE statements

log = logging.getLogger("idp.cache")


class SharedVersions:
    """Version tokens in the shared store: random, so a token that expired and came
    back can never equal an old one; kept longer than any snapshot lives."""

    def __init__(self, store, name, ttl):
        self.store = store
        self.prefix = f"ver:{name}:"
        self.ttl = ttl

    def current(self, key):
        return tuple(self.store.get_many(self.prefix + str(key), self.prefix + ALL))

    def bump(self, key):
        self.store.set(self.prefix + str(key), secrets.token_hex(8), self.ttl)


class RowCache:
    MAX_ENTRIES = 10_000  # unknown keys are cached too; a flood of them only resets it

    def __init__(self, seconds, load, versions=None):
        self.seconds = seconds
        self._load = load
        self._versions = versions
        self._items = {}

    def get(self, key):
        # One request asks for its client or account several times (client
        # authentication, the token's owner, the permission check): the first
        # answer serves the rest of the request, so the store is asked once.
        memo = _request_memo()
        if memo is not None and (self, key) in memo:
            return memo[self, key]
        version = memo.pop(("version", self, key), None) if memo is not None else None
        row = self._get(key, version)
        if memo is not None:
            memo[self, key] = row
        return row

    def _get(self, key, version=None):
        now = time.monotonic()
        # Read before the row: a change committed after this read moves the token again.
        if version is None and self._versions:
            try:
                version = self._versions.current(key)
            except RedisError:
                self._items = {}  # changes may be missed meanwhile: start afresh afterwards
                raise
        hit = self._items.get(key)
        if hit is not None and hit[1] > now and hit[2] == version:
            return hit[0]
        # Its own short session: the snapshot never aliases the request's objects.
        with Session(db.engine, expire_on_commit=False) as session:
            row = self._load(session, key)
            if row is not None:
                session.expunge(row)  # a read-only snapshot, shared by the threads
        if len(self._items) >= self.MAX_ENTRIES:
            self._items = {}
        self._items[key] = (row, now + self.seconds, version)
        return row

    def drop_local(self, key):
        self._items.pop(key, None)
        _forget_in_request(self, key)

    def forget(self, key=None):
        """Drop the snapshot here and, through the shared token, in every process."""
        if key is None:
            self._items = {}
        else:
            self._items.pop(key, None)
        _forget_in_request(self, key)
        if self._versions:
            try:
                self._versions.bump(ALL if key is None else key)
            except RedisError:
                # The change is committed. While the store is down no process uses a
                # snapshot (each use asks the store first, and a failed ask drops them
                # all); one that made no request meanwhile keeps its own for at most
                # IDP_CACHE_SECONDS.
                log.warning("cache: the shared version of %s was not moved", key)


def _request_memo():
    """This request's answers (None outside a request: a CLI command or a test's
    long app context must not keep them)."""
    return request.environ.setdefault("idp.rows", {}) if has_request_context() else None


def _forget_in_request(cache, key):
    memo = _request_memo()
    if memo:
        for entry in [e for e in memo if e[-2] is cache and (key is None or e[-1] == key)]:
            del memo[entry]


def prefetch(*lookups):
    """Read the version tokens of several rows, each ``(cache, key)``, in one round
    trip; this request's first lookups of those rows use them. (Userinfo needs the
    token's client and account: one ``MGET`` instead of two.)"""
    memo = _request_memo()
    if memo is None:
        return
    todo = [(cache, key) for cache, key in lookups if cache._versions is not None
            and (cache, key) not in memo and ("version", cache, key) not in memo]
    if not todo:
        return
    names = []
    for cache, key in todo:
        names += [cache._versions.prefix + str(key), cache._versions.prefix + ALL]
    try:
        values = todo[0][0]._versions.store.get_many(*names)
    except RedisError:
        for cache, _key in todo:
            cache._items = {}
        raise
    for i, (cache, key) in enumerate(todo):
        memo["version", cache, key] = tuple(values[2 * i:2 * i + 2])


def watch(model, extension, key_attr):
    """Forget ``app.extensions[extension]``'s snapshot of a ``model`` row whenever a
    change to it is committed: at flush in this process (so no other thread caches
    the old row meanwhile), and after the commit everywhere."""

    def changed(_mapper, _connection, target):
        key = getattr(target, key_attr)
        _forget_locally(extension, key)
        session = object_session(target)
        if session is not None:
            session.info.setdefault("idp_changed_rows", set()).add((extension, key))

    for name in ("after_insert", "after_update", "after_delete"):
        event.listen(model, name, changed)

    @event.listens_for(Session, "do_orm_execute")
    def bulk_change(state):
        # UPDATE/DELETE statements name no rows one by one: forget them all.
        if (state.is_update or state.is_delete) and any(
                m.class_ is model for m in state.all_mappers):
            state.session.info.setdefault("idp_changed_rows", set()).add((extension, None))


def _cache(extension):
    return current_app.extensions.get(extension) if current_app else None


def _forget_locally(extension, key):
    cache = _cache(extension)
    if cache is not None:
        cache.drop_local(key)


@event.listens_for(Session, "after_commit")
def _forget_committed(session):
    for extension, key in session.info.pop("idp_changed_rows", ()):
        cache = _cache(extension)
        if cache is not None:
            cache.forget(key)

