"""OpenID Connect Back-Channel Logout 1.0: when a login session ends, every
client that received tokens in it gets a signed logout token by POST.

The tokens are signed in the request that ends the session (so they carry the
``sub`` even of an account being deleted); they are delivered off the request
path by a small thread pool, with a short timeout and a few retries, and every
outcome is audited. The person's logout page never waits for a slow RP.

Which clients had tokens in a session: ``remember_client`` keeps their ids in
the shared store under the session's ``sid`` (for clients holding only an ID
and access token); refresh tokens carry their ``sid`` in the database."""

import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import current_app
from joserfc import jwt
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..extensions import db, store
from .models import OAuthClient, RefreshToken

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds; the RP only needs it for the one POST


def _key(sid):
    return "bcl:" + sid


def remember_client(sid, client_id):
    """Note that ``client_id`` received tokens in the session ``sid``."""
    cfg = current_app.config
    store().sadd(_key(sid), client_id, cfg["SESSION_TTL"] + cfg["ID_TOKEN_TTL"])


def carry_over(old_sid, new_sid):
    """The same person logged in again on this browser and the old session's
    tokens live on: when the new session ends, the clients of the old one are
    told too, with the ``sid`` they know."""
    if old_sid and old_sid != new_sid:
        cfg = current_app.config
        store().sadd("bcl-prev:" + new_sid, old_sid, cfg["SESSION_TTL"] + cfg["ID_TOKEN_TTL"])


def _session_chain(sid, limit=20):
    """``sid`` and the earlier sessions it carries over, newest first."""
    chain, todo = [], [sid]
    while todo and len(chain) < limit:
        current = todo.pop()
        if current not in chain:
            chain.append(current)
            todo.extend(store().smembers("bcl-prev:" + current))
    return chain


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
    dispatcher = current_app.extensions["idp_backchannel"]
    for each, client in work:
        try:
            token = logout_token(client, sub, each)
        except Exception:  # e.g. no active key for the client's algorithm
            log.exception("could not sign a logout token for %s", client.client_id)
            audit.record("backchannel_logout_failed", user_id=user_id, reason="not signed",
                         client_id=client.client_id, sid=each, attempts=0)
            continue
        dispatcher.submit(client.client_id, client.backchannel_logout_uri, token,
                          user_id=user_id, sid=each)


class Dispatcher:
    """Delivers logout tokens in background threads of this process."""

    def __init__(self, app, workers=4):
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backchannel")
        self._pending = set()
        self._lock = threading.Lock()

    def submit(self, client_id, uri, token, user_id, sid):
        future = self._pool.submit(self._deliver, client_id, uri, token, user_id, sid)
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

    def _deliver(self, client_id, uri, token, user_id, sid):
        cfg = self.app.config
        attempts = max(1, int(cfg["BACKCHANNEL_LOGOUT_ATTEMPTS"]))
        delay = float(cfg["BACKCHANNEL_LOGOUT_RETRY_DELAY"])
        outcome = None
        for attempt in range(1, attempts + 1):
            outcome = _post(uri, token, float(cfg["BACKCHANNEL_LOGOUT_TIMEOUT"]))
            # 200 (or 204, which some frameworks send) is success (2.8); a 4xx
            # means the RP refused this token: sending it again will not help.
            if isinstance(outcome, int) and outcome < 500:
                break
            if attempt < attempts:
                time.sleep(delay * 2 ** (attempt - 1))
        try:
            with self.app.app_context():
                self._audit(outcome, attempt, client_id, user_id, sid)
        except Exception:  # a background thread has no one else to tell
            log.exception("could not audit the back-channel logout to %s", client_id)

    @staticmethod
    def _audit(outcome, attempts, client_id, user_id, sid):
        details = {"client_id": client_id, "sid": sid, "attempts": attempts}
        if outcome in (200, 204):
            event, details["status"] = "backchannel_logout_delivered", outcome
        else:
            event = "backchannel_logout_failed"
            details["reason"] = f"HTTP {outcome}" if isinstance(outcome, int) else outcome
            log.warning("back-channel logout to %s failed: %s", client_id, details["reason"])
        try:
            audit.record(event, user_id=user_id, **details)
        except IntegrityError:  # the account has been deleted meanwhile
            db.session.rollback()
            audit.record(event, **details)


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
    app.extensions["idp_backchannel"] = Dispatcher(app)
