"""Short-lived shared state: authorization codes, access tokens, interactions,
lock-out counters.

Redis when ``IDP_REDIS_URL`` is set, so several processes on several machines
share it; otherwise an in-process store that is only right for one process.
Values are strings; the ``*_json`` helpers (de)serialise.
"""

import contextlib
import json
import threading
import time

import redis


class MemoryStore:
    """A dict with expiry, safe for threads of one process."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def _live(self, key, now=None):
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= (now or time.monotonic()):
            del self._data[key]
            return None
        return value

    def get(self, key):
        with self._lock:
            return self._live(key)

    def get_many(self, *keys):
        with self._lock:
            return [self._live(key) for key in keys]

    def set(self, key, value, ttl):
        with self._lock:
            self._data[key] = (value, time.monotonic() + ttl)

    def add(self, key, value, ttl):
        """Set only if absent; True when this call set it."""
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, time.monotonic() + ttl)
            return True

    def pop(self, key):
        """Get and delete in one step: only one caller ever gets the value."""
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value

    def delete(self, *keys):
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key, ttl):
        """Increment a counter whose window starts with its first increment."""
        with self._lock:
            now = time.monotonic()
            value = self._live(key, now)
            if value is None:
                self._data[key] = (1, now + ttl)
                return 1
            expires = self._data[key][1]
            self._data[key] = (value + 1, expires)
            return value + 1

    def sadd(self, key, member, ttl):
        with self._lock:
            members = self._live(key)
            if members is None:
                members = set()
            members.add(member)
            self._data[key] = (members, time.monotonic() + ttl)

    def smembers(self, key):
        with self._lock:
            return set(self._live(key) or ())

    def clear(self):
        with self._lock:
            self._data.clear()

    @contextlib.contextmanager
    def batch(self):
        """Writes that Redis sends together; here each is done at once."""
        yield self


class RedisStore:
    """The same operations on Redis, every key under one prefix."""

    def __init__(self, url, prefix="idp:"):
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=30,
        )

    def _k(self, key):
        return self.prefix + key

    def get(self, key):
        return self.client.get(self._k(key))

    def get_many(self, *keys):
        return self.client.mget([self._k(key) for key in keys])

    def set(self, key, value, ttl):
        self.client.set(self._k(key), value, ex=int(max(1, ttl)))

    def add(self, key, value, ttl):
        return bool(self.client.set(self._k(key), value, ex=int(max(1, ttl)), nx=True))

    def pop(self, key):
        return self.client.getdel(self._k(key))

    def delete(self, *keys):
        if keys:
            self.client.delete(*[self._k(k) for k in keys])

    def incr(self, key, ttl):
        pipe = self.client.pipeline()
        pipe.incr(self._k(key))
        pipe.expire(self._k(key), int(max(1, ttl)), nx=True)
        return pipe.execute()[0]

    def sadd(self, key, member, ttl):
        pipe = self.client.pipeline()
        pipe.sadd(self._k(key), member)
        pipe.expire(self._k(key), int(max(1, ttl)))
        pipe.execute()

    def smembers(self, key):
        return set(self.client.smembers(self._k(key)))

    @contextlib.contextmanager
    def batch(self):
        """``set`` and ``sadd`` calls sent in one round trip when the block ends
        (a pipeline, not a transaction); nothing is sent if the block fails."""
        batch = _RedisBatch(self)
        yield batch
        batch.pipe.execute()

    def clear(self):
        """Delete every key under the prefix (tests use their own prefix)."""
        keys = list(self.client.scan_iter(self.prefix + "*", count=500))
        for i in range(0, len(keys), 500):
            self.client.delete(*keys[i:i + 500])


class _RedisBatch:
    def __init__(self, store):
        self._k = store._k
        self.pipe = store.client.pipeline(transaction=False)

    def set(self, key, value, ttl):
        self.pipe.set(self._k(key), value, ex=int(max(1, ttl)))

    def sadd(self, key, member, ttl):
        self.pipe.sadd(self._k(key), member)
        self.pipe.expire(self._k(key), int(max(1, ttl)))


def linked(store, prefix, start, limit=1000):
    """``start`` and every member reachable from it through the sets
    ``prefix + member`` (a session and the earlier ones it carried over),
    nearest first, at most ``limit`` of them."""
    found, todo = [], [start]
    while todo and len(found) < limit:
        current = todo.pop()
        if current not in found:
            found.append(current)
            todo.extend(store.smembers(prefix + current))
    return found


def get_json(store, key):
    value = store.get(key)
    return None if value is None else json.loads(value)


def set_json(store, key, value, ttl):
    store.set(key, json.dumps(value, separators=(",", ":")), ttl)


def pop_json(store, key):
    value = store.pop(key)
    return None if value is None else json.loads(value)


def create_store(config):
    if config.get("REDIS_URL"):
        return RedisStore(config["REDIS_URL"], config.get("REDIS_PREFIX", "idp:"))
    return MemoryStore()
