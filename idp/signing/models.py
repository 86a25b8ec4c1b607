from datetime import datetime

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow


class SigningKey(db.Model):
    """One signing key of the cluster's key ring. The newest unretired key of an
    algorithm signs; the private key is sealed (``kek.py``), the public one is
    kept in the clear for the JWKS."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(128), unique=True)  # the RFC 7638 thumbprint
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict] = mapped_column(JSON)
    # AES-256-GCM: a 12-byte nonce, then the ciphertext of the PKCS#8 PEM (the kid is
    # the associated data, so a ciphertext cannot be passed off as another key's).
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()
    # Any change moves it: the nodes compare max(updated_at) to notice a rotation.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
