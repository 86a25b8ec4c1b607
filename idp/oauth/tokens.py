"""Access tokens (opaque, kept in the short-lived store under their digest),
refresh tokens (in the database, rotated in families) and their revocation.

Every user token belongs to a *family*: the tokens that descend from one
authorization code. Revoking a family (code reuse, refresh-token reuse, logout)
kills its refresh tokens and the access tokens still alive."""

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from authlib.oauth2.rfc6749 import TokenMixin
from flask import current_app

from ..extensions import db, store
from ..store import get_json, linked, set_json
from ..timeutil import utcnow
from . import backchannel
from . import dpop, resources
from .lookups import prefetch_token_rows, query_client, query_user
from .models import RefreshToken, digest


# The token endpoint's statements, built once: building one (and its cache key)
# per request cost more than running it. Values come as parameters.
INSERT_REFRESH_TOKEN = db.insert(RefreshToken.__table__)
SELECT_REFRESH_TOKEN = db.select(RefreshToken).where(
    RefreshToken.token_digest == db.bindparam("digest"))


def new_family():
    return secrets.token_hex(16)


@dataclass
class AccessToken(TokenMixin):
    """An access token record read back from the store."""

    key: str
    record: dict

    def get_scope(self):
        return self.record["scope"]

    def check_client(self, client):
        return self.record["client_id"] == client.get_client_id()

    def get_expires_in(self):
        return max(0, self.record["exp"] - int(time.time()))

    def is_expired(self):
        return self.record["exp"] <= time.time()

    def is_revoked(self):
        return False  # revoked tokens are deleted from the store

    def get_user(self):
        uid = self.record.get("uid")
        return None if uid is None else query_user(uid)

    def get_client(self):
        return query_client(self.record["client_id"])


def save_token(token, request):
    """Authlib's ``save_token``: store the access token, add the refresh token.

    The refresh-token row is added to the session; the grant commits."""
    cfg = current_app.config
    client = request.client
    user = request.user
    context = token_context(request)
    now = int(time.time())
    record = {
        "client_id": client.client_id,
        "scope": token.get("scope", ""),
        "iat": now,
        "exp": now + int(token["expires_in"]),
    }
    if user is not None:
        record.update(uid=user.id, sub=user.sub, fam=context["family"], sid=context.get("sid"),
                      acr=context.get("acr"), auth_time=context.get("auth_time"))
        if context.get("claims"):
            record["claims"] = context["claims"]  # asked for userinfo with `claims`
    jkt = dpop.bind_token(token, record, request)
    resource = resources.token_audience(request)
    if resource:
        record["aud"] = resource
    key = "at:" + digest(token["access_token"])
    with store().batch() as batch:  # the token and its indexes in one round trip
        set_json(batch, key, record, token["expires_in"])
        if user is not None:
            batch.sadd("fam:" + context["family"], key, cfg["ACCESS_TOKEN_TTL"])
            if context.get("sid"):
                batch.sadd("sid:" + context["sid"], context["family"], cfg["ACCESS_TOKEN_TTL"])
                backchannel.remember_client(context["sid"], client.client_id, into=batch)
    if user is None:
        return
    if token.get("refresh_token"):
        # A plain INSERT in the grant's transaction: the ORM's unit of work would
        # cost more than the rest of the code exchange.
        now = utcnow()
        db.session.execute(INSERT_REFRESH_TOKEN, dict(
            token_digest=digest(token["refresh_token"]), family=context["family"],
            client_id=client.client_id, user_id=user.id, sid=context.get("sid"),
            # A narrower scope asked at refresh applies to the access token only (RFC 6749 6).
            scope=context.get("grant_scope") or record["scope"], auth_time=context["auth_time"], acr=context.get("acr"),
            amr=context.get("amr") or [], issued_at=now,
            # RFC 9449 5: a public client's refresh token is bound to its DPoP key.
            jkt=jkt if client.public else None,
            resource=resource,
            expires_at=now + timedelta(seconds=cfg["REFRESH_TOKEN_TTL"]),
        ))


def token_context(request):
    """Who logged in, how and when: carried from the code or the refresh token."""
    code = getattr(request, "authorization_code", None)
    if code is not None:
        return code.context()
    refresh = getattr(request, "refresh_token", None)
    if refresh is not None:
        return {"family": refresh.family, "sid": refresh.sid, "acr": refresh.acr,
                "amr": refresh.amr, "auth_time": refresh.auth_time, "grant_scope": refresh.scope}
    return {"family": new_family()}


def query_access_token(token_string):
    """The live access token with this value, or None (also once its client is gone)."""
    if not token_string:
        return None
    key = "at:" + digest(token_string)
    record = get_json(store(), key)
    if record is None:
        return None
    prefetch_token_rows(record["client_id"], record.get("uid"))
    if query_client(record["client_id"]) is None:
        return None
    return AccessToken(key, record)


def query_refresh_token(token_string):
    if not token_string:
        return None
    return db.session.execute(
        SELECT_REFRESH_TOKEN, {"digest": digest(token_string)}).scalar_one_or_none()


def revoke_access_token(token):
    store().delete(token.key)


def revoke_family(family):
    """Revoke every token descended from one authorization code."""
    now = utcnow()
    db.session.execute(
        db.update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    keys = store().smembers("fam:" + family)
    store().delete(*keys, "fam:" + family)
    db.session.commit()


def revoke_session_tokens(sid):
    """Revoke the tokens issued in one login session (at logout), and in the
    earlier sessions of the same person on this browser that it adopted."""
    sids = _adopted_chain(sid)
    families = set()
    for each in sids:
        families.update(store().smembers("sid:" + each))
    families.update(db.session.execute(
        db.select(RefreshToken.family).where(RefreshToken.sid.in_(sids),
                                             RefreshToken.revoked_at.is_(None))
    ).scalars())
    for family in families:
        revoke_family(family)
    store().delete(*["sid:" + each for each in sids], *["sid-adopts:" + each for each in sids])


def adopt_session_tokens(old_sid, new_sid):
    """The same person logged in again on this browser: the tokens issued in
    the old session now end with the new one, so that logging out of it
    revokes them too. (They keep their ``sid``: their clients know that one.)"""
    if old_sid and old_sid != new_sid:
        # As long as a refresh token of the old session may live.
        store().sadd("sid-adopts:" + new_sid, old_sid, current_app.config["REFRESH_TOKEN_TTL"])


def _adopted_chain(sid):
    return linked(store(), "sid-adopts:", sid)


def revoke_user_tokens(user_id, except_sid=None):
    """Revoke every refresh-token family of an account, and their access tokens
    (except those issued in the login session ``except_sid``)."""
    query = db.select(RefreshToken.family).where(RefreshToken.user_id == user_id,
                                                 RefreshToken.revoked_at.is_(None))
    if except_sid:
        query = query.where(db.or_(RefreshToken.sid.is_(None), RefreshToken.sid != except_sid))
    families = set(db.session.execute(query).scalars())
    for family in families:
        revoke_family(family)
