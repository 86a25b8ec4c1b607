"""OpenID Connect Back-Channel Logout 1.0 for the e-bank: the IdP POSTs a
logout token to ``/backchannel-logout`` when the person's login session there
ends, and the e-bank ends its own session for that person.

The e-bank's sessions live in signed cookies it cannot reach from this call,
so it keeps, server-side, which IdP sessions (``sid``) and which people
(``sub``, for tokens without a ``sid``) have logged out, and checks every
request against that list. One process only: a bank running several would
keep these lists in its shared store (Redis)."""

import threading
import time

import requests
from flask import Blueprint, current_app, jsonify, request, session
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "ES256", "PS256"]
MAX_AGE = 300  # seconds: an older logout token is refused (its iat)
LEEWAY = 30  # seconds of clock difference tolerated
REMEMBER = 24 * 3600  # how long a logged-out sid or sub is remembered

bp = Blueprint("backchannel", __name__)


class LogoutTokenError(ValueError):
    pass


class LoggedOut:
    """Which IdP sessions and people have logged out, and the logout tokens
    already used (their ``jti``), each forgotten after a while."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sids, self._subs, self._jtis = {}, {}, {}

    def _prune(self, now):
        for table in (self._sids, self._subs, self._jtis):
            for key in [k for k, (_, until) in table.items() if until <= now]:
                del table[key]

    def first_use(self, jti, exp):
        """True the first time this ``jti`` is seen (replays are refused)."""
        now = time.time()
        with self._lock:
            self._prune(now)
            if jti in self._jtis:
                return False
            self._jtis[jti] = (now, max(exp, now) + LEEWAY)
            return True

    def end(self, sid=None, sub=None):
        now = time.time()
        with self._lock:
            if sid:
                self._sids[sid] = (now, now + REMEMBER)
            if sub and not sid:
                self._subs[sub] = (now, now + REMEMBER)

    def ended(self, login):
        """Whether the e-bank login ``login`` (kept in its session) has been
        logged out at the IdP."""
        claims = login.get("claims") or {}
        with self._lock:
            if claims.get("sid") in self._sids:
                return True
            logged_out = self._subs.get(claims.get("sub"))
            return logged_out is not None and login.get("at", 0) <= logged_out[0]


class IdpKeys:
    """The IdP's JWKS, fetched from its discovery document and fetched again
    (at most every 10 s) when a token names a key we do not have."""

    def __init__(self, issuer, timeout):
        self.issuer, self.timeout = issuer.rstrip("/"), timeout
        self._keys, self._fetched = None, 0.0
        self._lock = threading.Lock()

    def _fetch(self):
        meta = requests.get(self.issuer + "/.well-known/openid-configuration",
                            timeout=self.timeout).json()
        jwks = requests.get(meta["jwks_uri"], timeout=self.timeout).json()
        return KeySet.import_key_set(jwks)

    def keyset(self, kid):
        with self._lock:
            known = self._keys is not None and any(k.kid == kid for k in self._keys.keys)
            if not known and time.monotonic() - self._fetched >= 10:
                self._fetched = time.monotonic()
                self._keys = self._fetch()
            if self._keys is None:
                raise LogoutTokenError("the IdP's keys are not available")
            return self._keys


def validate_logout_token(raw, issuer, client_id, keys, logged_out, now=None):
    """The claims of a valid logout token (Back-Channel Logout 1.0, 2.6), or
    ``LogoutTokenError`` saying what is wrong."""
    if not raw or not isinstance(raw, str) or len(raw) > 8192:
        raise LogoutTokenError("logout_token is missing")
    try:
        header = jws.extract_compact(raw.encode()).protected
    except (JoseError, ValueError):
        raise LogoutTokenError("logout_token is not a JWT") from None
    if header.get("typ") != "logout+jwt":
        raise LogoutTokenError("not a logout token (typ)")
    try:
        token = jwt.decode(raw, keys.keyset(header.get("kid")), algorithms=ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise LogoutTokenError(f"signature: {exc}") from None
    claims = token.claims
    now = now or time.time()
    if claims.get("iss") != issuer.rstrip("/"):
        raise LogoutTokenError("wrong issuer")
    aud = claims.get("aud")
    if client_id not in (aud if isinstance(aud, list) else [aud]):
        raise LogoutTokenError("not meant for this client (aud)")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or iat > now + LEEWAY or iat < now - MAX_AGE:
        raise LogoutTokenError("iat is missing or not recent")
    if not isinstance(exp, int) or exp < now - LEEWAY:
        raise LogoutTokenError("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenError("no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("a logout token must not have a nonce")
    if not claims.get("sid") and not claims.get("sub"):
        raise LogoutTokenError("neither sid nor sub")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise LogoutTokenError("no jti")
    if not logged_out.first_use(claims["jti"], exp):
        raise LogoutTokenError("this logout token was already used")
    return claims


@bp.post("/backchannel-logout")
def backchannel_logout():
    """The IdP's call: 200 when the session is ended, 400 with an error otherwise."""
    logged_out = current_app.extensions["ebank_logged_out"]
    try:
        claims = validate_logout_token(
            request.form.get("logout_token"), current_app.config["ISSUER"],
            current_app.extensions["ebank_client_id"], current_app.extensions["ebank_idp_keys"],
            logged_out)
    except LogoutTokenError as exc:
        current_app.logger.warning("refused a logout token: %s", exc)
        response = jsonify(error="invalid_request", error_description=str(exc))
        response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response
    except requests.RequestException as exc:
        current_app.logger.warning("could not fetch the IdP's keys: %s", exc)
        response = jsonify(error="temporarily_unavailable")
        response.status_code = 503  # the IdP retries
        return response
    logged_out.end(sid=claims.get("sid"), sub=claims.get("sub"))
    current_app.logger.info("back-channel logout of sid=%s", claims.get("sid"))
    return "", 200, {"Cache-Control": "no-store"}


def end_logged_out_session():
    """Before every request: a login that ended at the IdP ends here too."""
    login = session.get("login")
    if login and current_app.extensions["ebank_logged_out"].ended(login):
        session.clear()


def init_app(app, client_id):
    app.extensions["ebank_logged_out"] = LoggedOut()
    app.extensions["ebank_client_id"] = client_id
    app.extensions["ebank_idp_keys"] = IdpKeys(app.config["ISSUER"], app.config["HTTP_TIMEOUT"])
    app.before_request(end_logged_out_session)
    app.register_blueprint(bp)
