"""The audit log: one row per security-relevant event, never a secret in it."""

from datetime import datetime
import logging

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .timeutil import utcnow

log = logging.getLogger("idp.audit")


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str | None] = mapped_column(String(128))  # "operator:cli", "client:ebank", …
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)


def record(event, user_id=None, actor=None, ip=None, commit=True, session=None, **details):
    """Write an audit event (and commit it unless the caller's transaction will),
    in ``session`` when the change has its own, else in the request's."""
    session = session or db.session
    session.add(AuditEvent(event=event, user_id=user_id, actor=actor, ip=ip, details=details))
    log.info("audit %s user=%s actor=%s ip=%s %s", event, user_id, actor, ip, details,
             extra={"audit": {"event": event, "user_id": user_id, "actor": actor, "ip": ip,
                              "details": details}})  # the fields of a JSON log line
    if commit:
        session.commit()

