import uuid
from datetime import date, datetime

from flask import current_app
from sqlalchemy import String, event, false
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session

from ..extensions import db
from ..timeutil import utcnow
from ..trust.levels import LOW


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The OIDC subject: random and stable, never the row id.
    sub: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    phone_verified: Mapped[bool] = mapped_column(default=False)
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(10))
    # None: a passwordless account (it logs in with a passkey).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    puk_hash: Mapped[str | None] = mapped_column(String(255))
    # Wrong PUKs in a row; at PUK_MAX_FAILURES the PUK route is locked until a
    # branch officer unlocks it.
    puk_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    puk_locked_at: Mapped[datetime | None] = mapped_column()
    trust_level: Mapped[str] = mapped_column(String(16), default=LOW)
    # Set from verified evidence only (certificate, card, branch): one verified
    # person holds one account at substantial or above.
    tax_number: Mapped[str | None] = mapped_column(String(16), unique=True)
    birthdate: Mapped[date | None] = mapped_column()
    # Branch officers use the operator console (``idp officers``).
    is_officer: Mapped[bool] = mapped_column(default=False, server_default=false())
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def name(self):
        parts = [p for p in (self.given_name, self.family_name) if p]
        return " ".join(parts) or None

    def __repr__(self):
        return f"<User {self.id} {self.sub}>"


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _forget_cached_user(mapper, connection, user):
    """Changes made in this process are seen by its API requests at once: forget
    the row now, and again after the commit, so that no other thread caches
    the old row in between."""
    _forget_users({user.id})
    session = object_session(user)
    if session is not None:
        session.info.setdefault("idp_changed_users", set()).add(user.id)


@event.listens_for(Session, "after_commit")
def _forget_committed_users(session):
    changed = session.info.pop("idp_changed_users", None)
    if changed:
        _forget_users(changed)


def _forget_users(user_ids):
    cache = current_app.extensions.get("idp_users") if current_app else None
    if cache is not None:
        for user_id in user_ids:
            cache.forget(user_id)
