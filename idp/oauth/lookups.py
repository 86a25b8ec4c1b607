"""Clients and accounts as API requests read them: through the per-process row
caches (``idp/cache.py``) that ``server.init_app`` creates."""

from flask import current_app

from ..accounts.models import User
from ..cache import RowCache
from ..extensions import db
from .models import OAuthClient


def query_client(client_id):
    if not client_id or len(client_id) > 64 or not client_id.isprintable():
        return None  # also keeps NUL bytes away from PostgreSQL
    return current_app.extensions["idp_clients"].get(client_id)


def query_user(user_id):
    """An active account by id, or None."""
    user = current_app.extensions["idp_users"].get(user_id)
    return user if user is not None and user.active else None


def _load_client(session, client_id):
    return session.execute(
        db.select(OAuthClient).filter_by(client_id=client_id)).scalar_one_or_none()


def _load_user(session, user_id):
    return session.get(User, user_id)


def init_app(app):
    app.extensions["idp_clients"] = RowCache(app.config["CACHE_SECONDS"], _load_client)
    app.extensions["idp_users"] = RowCache(app.config["CACHE_SECONDS"], _load_user)
