"""The login methods a person has added: one row per authenticator app,
passkey or security key, or the SMS second factor."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ...extensions import db
from ...timeutil import utcnow


class LoginMethod(db.Model):
    __tablename__ = "login_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "sms", "totp" or "passkey"
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    # TOTP: the shared secret, encrypted under the app's secret key.
    # Passkey: the credential's COSE public key.
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary(1024), unique=True)
    # TOTP: the last time step accepted (each code once). Passkey: the sign count.
    counter: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    transports: Mapped[list | None] = mapped_column(JSON)
    # Passkey: verified the person (PIN or biometrics) when it was added; a
    # synced passkey (backed up) counts as a software key.
    user_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    backed_up: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Passkey: a discoverable credential (credProps.rk), usable without a password.
    discoverable: Mapped[bool] = mapped_column(default=False, server_default=false())

    def __repr__(self):
        return f"<LoginMethod {self.id} {self.kind} user={self.user_id}>"
