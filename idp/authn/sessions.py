"""Login sessions: one row per browser login, referenced from the signed cookie.

Kept in the database (not only in the cookie) so that a person, an operator or
a password reset can end them, and every process sees the same answer."""

import secrets
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app
from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import audit
from ..accounts.models import User
from ..extensions import db
from ..ops import metrics
from ..timeutil import utcnow

# What else lives and dies with a login session: the tokens issued in it, and
# the clients told of its end. oauth handles these (oauth/session_events.py,
# connected when the app's server is built), so authn imports nothing of oauth.
_events = Namespace()
tokens_end = _events.signal("login-session-tokens-end")  # sid; before the commit
logged_out = _events.signal("login-session-logged-out")  # sid, user_id, sub; after it
user_tokens_end = _events.signal("user-tokens-end")  # user_id
continued = _events.signal("login-session-continued")  # old sid, new_sid


def _send(signal, sender, **data):
    # Never end a session while its tokens live on for want of a listener.
    if not signal.receivers:
        raise RuntimeError(f"nothing handles {signal.name}: build the app first")
    signal.send(sender, **data)


class LoginSession(db.Model):
    __tablename__ = "login_sessions"

    # Secret: only ever inside the signed session cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Public: the ``sid`` claim of ID tokens.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(lazy="joined")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    auth_time: Mapped[datetime] = mapped_column(default=utcnow)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    strength: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    ended_at: Mapped[datetime | None] = mapped_column()

    def expired(self, now=None):
        ttl = timedelta(seconds=current_app.config["SESSION_TTL"])
        return self.created_at + ttl <= (now or utcnow())


def start_session(user, amr, strength, ip=None, user_agent=None):
    """Record a completed login and return its new session."""
    login = LoginSession(
        id=secrets.token_urlsafe(32), public_id=secrets.token_urlsafe(16),
        user_id=user.id, amr=list(amr), strength=strength, ip=ip,
        user_agent=(user_agent or "")[:256],
    )
    db.session.add(login)
    audit.record("login_succeeded", user_id=user.id, ip=ip, commit=False,
                 amr=list(amr), strength=strength)
    db.session.commit()
    metrics.login_succeeded(amr)
    return login


def step_up_session(login, amr, strength, ip=None):
    """A stronger proof in the same session: it keeps its ``sid`` (and the
    tokens issued in it) and gets the new ``amr`` and strength. ``auth_time``
    stays that of the login, so ``max_age`` still asks for a whole new one."""
    previous = login.strength
    login.amr, login.strength = list(amr), strength
    audit.record("stepped_up", user_id=login.user_id, ip=ip, commit=False,
                 amr=list(amr), previous=previous, strength=strength)
    db.session.commit()
    metrics.step_up()
    return login


def renew_session_secret(login):
    """Give a live session a new secret (its cookie value): after a rise in its
    strength, a cookie captured before must not carry the stronger login.
    The public ``sid`` stays, so the tokens issued in the session keep working."""
    new_id = secrets.token_urlsafe(32)
    db.session.execute(db.update(LoginSession).where(LoginSession.id == login.id)
                       .values(id=new_id))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(LoginSession, new_id)


def load_session(session_id):
    """The live session with this id, or None if it ended, expired or its user is gone."""
    if not session_id:
        return None
    login = db.session.get(LoginSession, session_id)
    if login is None or login.ended_at is not None or login.expired() or not login.user.active:
        return None
    return login


def end_session(login, reason, ip=None, revoke_tokens=True):
    """End a session and (unless told otherwise) revoke the tokens issued in it."""
    if login.ended_at is None:
        login.ended_at = utcnow()
        if revoke_tokens:
            _send(tokens_end, login.public_id)
        audit.record("logout", user_id=login.user_id, ip=ip, commit=False, reason=reason)
        db.session.commit()
        if revoke_tokens:  # the person is logged out: tell the clients of the session
            _send(logged_out, login.public_id, user_id=login.user_id, sub=login.user.sub)


def end_user_sessions(user_id, reason, ip=None):
    """End every live session of an account and revoke all its tokens (password
    reset, account changes): nothing issued before survives."""
    live = db.session.execute(
        db.select(LoginSession).where(LoginSession.user_id == user_id,
                                      LoginSession.ended_at.is_(None))
    ).scalars().all()
    for login in live:
        end_session(login, reason, ip=ip)
    _send(user_tokens_end, user_id)
    return len(live)


def continue_session(previous, started):
    """The same person logged in again on this browser: what the earlier
    session issued now lives and ends with the new one (its tokens, and the
    clients told when it ends)."""
    _send(continued, previous.public_id, new_sid=started.public_id)
