"""OpenID Connect Back-Channel Logout 1.0: when a login session ends, every
client that received tokens in it gets a signed logout token by POST.

The tokens are signed in the request that ends the session (so they carry the
``sub`` even of an account being deleted); they are delivered off the request
path by worker threads, with a short timeout and a few retries, and every
outcome is audited. The person's logout page never waits for a slow RP. With
Redis the jobs wait in a queue there that the workers of every process take
from (``RedisDispatcher``), so a job outlives the process that made it;
without Redis, a thread pool of the one process does the work.

Which clients had tokens in a session: ``remember_client`` keeps their ids in
the shared store under the session's ``sid`` (for clients holding only an ID
and access token); refresh tokens carry their ``sid`` in the database."""

import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from flask import current_app
from joserfc import jwt
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import is_loopback
from ..extensions import db, store
from ..store import RedisStore, linked
from .egress import destination_problem
from .models import OAuthClient, RefreshToken

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds; the RP only needs it for the one POST


def _key(sid):
    return "bcl:" + sid


def remember_client(sid, client_id, into=None):
    """Note that ``client_id`` received tokens in the session ``sid`` (``into``: a
    batch of the store's writes to join)."""
    cfg = current_app.config
    (into or store()).sadd(_key(sid), client_id, cfg["SESSION_TTL"] + cfg["ID_TOKEN_TTL"])


def carry_over(old_sid, new_sid):
    """The same person logged in again on this browser and the old session's
    tokens live on: when the new session ends, the clients of the old one are
    told too, with the ``sid`` they know."""
    if old_sid and old_sid != new_sid:
        cfg = current_app.config
        # As long as the old session's clients may hold a refresh token of it.
        store().sadd("bcl-prev:" + new_sid, old_sid,
                     max(cfg["REFRESH_TOKEN_TTL"], cfg["SESSION_TTL"] + cfg["ID_TOKEN_TTL"]))


def _session_chain(sid):
    """``sid`` and the earlier sessions it carries over, newest first."""
    return linked(store(), "bcl-prev:", sid)


def session_clients(sid):
    """The clients with a back-channel logout URI that received tokens in ``sid``."""
    ids = set(store().smembers(_key(sid)))
    ids.update(db.session.execute(
        db.select(RefreshToken.client_id).where(RefreshToken.sid == sid)).scalars())
    if not ids:
        return []
    return db.session.execute(
        db.select(OAuthClient).where(OAuthClient.client_id.in_(ids),
                                     OAuthClient.backchannel_logout_uri.is_not(None))
        .order_by(OAuthClient.client_id)).scalars().all()


def logout_token(client, sub, sid):
    """A logout token for ``client`` (OIDC Back-Channel Logout 2.4), signed with
    the active key of the client's ID-token algorithm. Never a ``nonce``."""
    alg = client.id_token_signed_response_alg or "RS256"
    key = current_app.extensions["idp_keys"].signing_key(alg)
    now = int(time.time())
    claims = {"iss": current_app.config["ISSUER"], "aud": client.client_id, "iat": now,
              "exp": now + LOGOUT_TOKEN_TTL, "jti": secrets.token_urlsafe(16),
              "sub": sub, "sid": sid, "events": {EVENT: {}}}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def session_ended(sid, user_id, sub):
    """Send logout tokens to the clients of a session that has just ended
    (call after the commit that ended it). Never fails the logout itself:
    what cannot be sent is logged and audited."""
    try:
        work = []
        for each in _session_chain(sid):
            work += [(each, client) for client in session_clients(each)]
            store().delete(_key(each), "bcl-prev:" + each)
    except Exception:  # the store or database is down: the logout stands
        log.exception("could not find the clients of session %s", sid)
        return
    cfg = current_app.config
    dispatcher = current_app.extensions["idp_backchannel"]
    for each, client in work:
        try:
            token = logout_token(client, sub, each)
        except Exception:  # e.g. no active key for the client's algorithm
            log.exception("could not sign a logout token for %s", client.client_id)
            audit.record("backchannel_logout_failed", user_id=user_id, reason="not signed",
                         client_id=client.client_id, sid=each, attempts=0)
            continue
        # The delivery settings travel with the job: any process may send it.
        dispatcher.submit({
            "client_id": client.client_id, "uri": client.backchannel_logout_uri,
            "token": token, "user_id": user_id, "sid": each, "tries": 0,
            "attempts": max(1, int(cfg["BACKCHANNEL_LOGOUT_ATTEMPTS"])),
            "timeout": float(cfg["BACKCHANNEL_LOGOUT_TIMEOUT"]),
            "delay": float(cfg["BACKCHANNEL_LOGOUT_RETRY_DELAY"]),
            # Only public addresses, unless the IdP itself runs on loopback.
            "public_only": not is_loopback(urlsplit(cfg["ISSUER"]).hostname)})


def _try(job):
    """One POST of the job's token. Returns the outcome, or None when it is to
    be tried again (after ``_retry_delay``)."""
    if job.get("public_only", True) and destination_problem(job["uri"]):
        job["tries"] += 1
        return "not a public address"  # never sent into our own network (SSRF)
    outcome = _post(job["uri"], job["token"], job["timeout"])
    job["tries"] += 1
    # 200 (or 204, which some frameworks send) is success (2.8); a 4xx means the
    # RP refused this token: sending it again will not help.
    if isinstance(outcome, int) and outcome < 500 or job["tries"] >= job["attempts"]:
        return outcome
    return None


def _retry_delay(job):
    return job["delay"] * 2 ** (job["tries"] - 1)


def _audit(app, job, outcome):
    details = {"client_id": job["client_id"], "sid": job["sid"], "attempts": job["tries"]}
    if outcome in (200, 204):
        event, details["status"] = "backchannel_logout_delivered", outcome
    else:
        event = "backchannel_logout_failed"
        details["reason"] = f"HTTP {outcome}" if isinstance(outcome, int) else outcome
        log.warning("back-channel logout to %s failed: %s", job["client_id"], details["reason"])
    try:
        with app.app_context():
            try:
                audit.record(event, user_id=job["user_id"], **details)
            except IntegrityError:  # the account has been deleted meanwhile
                db.session.rollback()
                audit.record(event, **details)
    except Exception:  # a background thread has no one else to tell
        log.exception("could not audit the back-channel logout to %s", job["client_id"])


class LocalDispatcher:
    """Delivers logout tokens in a thread pool of this process (without Redis:
    one process only)."""

    def __init__(self, app, workers=4):
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backchannel")
        self._pending = set()
        self._lock = threading.Lock()

    def submit(self, job):
        future = self._pool.submit(self._deliver, job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future):
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout=30):
        """Wait until every delivery submitted so far has finished (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            pending[0].result(timeout=max(0.0, deadline - time.monotonic()))

    def _deliver(self, job):
        while (outcome := _try(job)) is None:
            time.sleep(_retry_delay(job))
        _audit(self.app, job, outcome)


# Take the first job due, and lease it (its due time moves past the lease) so
# that no other worker takes it; a worker that dies leaves it due again later.
CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then return false end
redis.call('ZADD', KEYS[1], ARGV[2], ids[1])
return ids[1]
"""


class RedisDispatcher:
    """A queue in Redis shared by every process of the cluster: jobs survive
    the process that made them (a job whose worker died is taken up again once
    its lease ends, by the next worker running anywhere), and retries wait in
    Redis, not in a thread. Each process runs a few worker threads while there
    is work, started by a logout and stopping after a minute without any."""

    IDLE = 60  # seconds without work before a worker thread stops
    POLL = 0.2  # seconds between looks at the queue when it is empty

    def __init__(self, app, redis_store, workers=4):
        self.app, self.redis, self.workers = app, redis_store.client, workers
        self._due = redis_store.prefix + "bcl:due"
        self._job = redis_store.prefix + "bcl:job:"
        self._claim = self.redis.register_script(CLAIM)
        self._lock = threading.Lock()
        self._running = 0
        self._last_submit = 0.0

    def submit(self, job):
        job_id = secrets.token_hex(12)
        self._put(job_id, job, time.time())
        with self._lock:
            self._last_submit = time.monotonic()
            while self._running < self.workers:
                self._running += 1
                threading.Thread(target=self._work, name="backchannel", daemon=True).start()

    def _put(self, job_id, job, due):
        pipe = self.redis.pipeline()
        pipe.set(self._job + job_id, json.dumps(job), ex=24 * 3600)
        pipe.zadd(self._due, {job_id: due})
        pipe.execute()

    def _done(self, job_id):
        pipe = self.redis.pipeline()
        pipe.zrem(self._due, job_id)
        pipe.delete(self._job + job_id)
        pipe.execute()

    def _work(self):
        idle_since = time.monotonic()
        while True:
            try:
                found = self._step()
            except Exception:  # Redis away for a moment: try again
                log.exception("back-channel logout worker")
                found = False
                time.sleep(1)
            if found:
                idle_since = time.monotonic()
                continue
            with self._lock:
                now = time.monotonic()
                if now - max(idle_since, self._last_submit) >= self.IDLE:
                    self._running -= 1
                    return
            time.sleep(self.POLL)

    def _step(self):
        now = time.time()
        job_id = self._claim(keys=[self._due], args=[now, now + 120])
        if not job_id:
            return False
        raw = self.redis.get(self._job + job_id)
        if raw is None:
            self.redis.zrem(self._due, job_id)
            return True
        job = json.loads(raw)
        # The lease: as long as one try can take, then the job is due again.
        self.redis.zadd(self._due, {job_id: now + job["timeout"] + 30})
        outcome = _try(job)
        if outcome is None:
            self._put(job_id, job, time.time() + _retry_delay(job))
        else:
            _audit(self.app, job, outcome)  # first: an empty queue means all is audited
            self._done(job_id)
        return True

    def wait(self, timeout=30):
        """Wait until the queue is empty, everywhere (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self.redis.zcard(self._due):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def _post(uri, token, timeout):
    """POST the token; the HTTP status, or the name of the transport failure."""
    try:
        # stream=True: only the status line is read; an RP's body is never downloaded.
        with requests.post(uri, data={"logout_token": token}, timeout=timeout, stream=True,
                           allow_redirects=False) as response:
            return response.status_code
    except requests.Timeout:
        return "timeout"
    except requests.RequestException as exc:
        return type(exc).__name__


def init_app(app):
    """The dispatcher of logout tokens: a Redis queue when Redis is configured."""
    shared = app.extensions.get("idp_store")
    app.extensions["idp_backchannel"] = (RedisDispatcher(app, shared)
                                         if isinstance(shared, RedisStore)
                                         else LocalDispatcher(app))
