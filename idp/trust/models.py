"""What a raised trust level rests on: evidence of the person's identity, and
the single-use ID keys that branch officers issue."""

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow


class IdentityEvidence(db.Model):
    """One proof of who the owner of an account is, and the level it gave."""

    __tablename__ = "identity_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))  # "certificate", "card", "branch"
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    birthdate: Mapped[date | None] = mapped_column()
    tax_number: Mapped[str | None] = mapped_column(String(16))
    # Method specifics: certificate issuer and serial; card gateway, reference
    # and last four digits; identity document type, number and expiry.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdKey(db.Model):
    """An ID key issued at a branch: only its hash is kept; it raises the
    account to high once, before it expires, with the evidence the officer
    recorded."""

    __tablename__ = "id_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()  # redeemed, replaced or void
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
