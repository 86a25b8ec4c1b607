"""Clients and accounts as API requests read them: through the row caches
(``idp/cache.py``) that ``server.init_app`` creates, each checked against the
shared version of its row on every use."""

from flask import current_app

from ..accounts.models import User
from ..cache import RowCache, SharedVersions, prefetch, watch
from ..extensions import db
from .models import OAuthClient


def query_client(client_id):
    if not client_id or len(client_id) > 64 or not client_id.isprintable():
        return None  # also keeps NUL bytes away from PostgreSQL
    return current_app.extensions["idp_clients"].get(client_id)


def prefetch_token_rows(client_id, user_id):
    """The versions of an access token's client and account in one round trip."""
    lookups = [(current_app.extensions["idp_clients"], client_id)]
    if user_id is not None:
        lookups.append((current_app.extensions["idp_users"], user_id))
    prefetch(*lookups)


def query_user(user_id):
    """An active account by id, or None."""
    user = current_app.extensions["idp_users"].get(user_id)
    return user if user is not None and user.active else None


def _load_client(session, client_id):
    return session.execute(
        db.select(OAuthClient).filter_by(client_id=client_id)).scalar_one_or_none()


def _load_user(session, user_id):
    return session.get(User, user_id)


# Any committed change of a client or an account, wherever it is made, reaches
# every process's cache at once.
watch(OAuthClient, "idp_clients", "client_id")
watch(User, "idp_users", "id")


def init_app(app):
    seconds = app.config["CACHE_SECONDS"]
    store = app.extensions["idp_store"]
    ttl = seconds + 60  # a token outlives every snapshot stamped with its predecessor
    app.extensions["idp_clients"] = RowCache(seconds, _load_client,
                                             SharedVersions(store, "client", ttl))
    app.extensions["idp_users"] = RowCache(seconds, _load_user, SharedVersions(store, "user", ttl))
