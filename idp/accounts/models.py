import uuid
from datetime import date, datetime

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow
from ..levels import LOW


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
