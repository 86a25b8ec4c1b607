"""Signing keys: one key ring for the whole cluster, kept in the database with
the private keys sealed (``kek.py``), published in the JWKS and rotated without
breaking tokens already issued (``ring.py``)."""

from sqlalchemy.exc import SQLAlchemyError

from .kek import KeyEncryption, KeyEncryptionError
from .ring import ALGORITHMS, KeyRing

__all__ = ["ALGORITHMS", "KeyEncryption", "KeyEncryptionError", "KeyRing", "init_app"]


def init_app(app):
    """The app's key ring; nothing is read here (the schema may not exist yet)."""
    # A retired key is published for as long as a token it signed may live.
    retire_after = max(app.config["ID_TOKEN_TTL"], app.config["ACCESS_TOKEN_TTL"]) + 60
    ring = KeyRing(KeyEncryption(app.config["KEY_ENCRYPTION_KEYS"]), retire_after,
                   keep_for=app.config["SESSION_TTL"], check_every=app.config["CACHE_SECONDS"])
    app.extensions["idp_keys"] = ring

    @app.before_request
    def check_key_ring():
        # Before the request opens a transaction of its own: SQLite has one writer,
        # and the first request of a new cluster generates the keys. Cheap: the
        # database is asked at most once every check_every seconds.
        try:
            ring.refresh()
        except (SQLAlchemyError, KeyEncryptionError):
            pass  # only the endpoints that use keys need them; they answer 503 or 500
