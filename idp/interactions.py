"""Paused authorization requests (*interactions*) and the browser they belong to.

When the authorization pipeline (``oauth/authorize.py``) needs the person (to
log in, consent, step up or raise their level), it keeps the request here under
a random id, bound to this browser, for ``IDP_INTERACTION_TTL`` seconds. The
pages and flows that run the interaction read it, record what happened, and send
the browser back to ``/authorize/resume/<id>``. This module sits below both the
pipeline and the flows, so neither has to import the other for it."""

import secrets
import time

from flask import current_app, render_template, session

from .extensions import store
from .store import get_json, set_json


def browser_id():
    """A random id for this browser, kept across logins, to bind interactions."""
    if "bid" not in session:
        session["bid"] = secrets.token_urlsafe(16)
    return session["bid"]


def begin_interaction(params, client):
    iid = secrets.token_urlsafe(24)
    data = {"params": params, "client_id": client.client_id, "client_name": client.name,
            "bid": browser_id(), "created": int(time.time()), "login_sid": None, "consent": None}
    set_json(store(), "ia:" + iid, data, current_app.config["INTERACTION_TTL"])
    return iid


def load_interaction(iid):
    """The interaction with this id if it is alive and belongs to this browser."""
    if not iid or len(iid) > 64:
        return None
    data = get_json(store(), "ia:" + iid)
    if data is None or data["bid"] != session.get("bid"):
        return None
    return data


def interaction_expired():
    """The page (400) for a paused request that is gone: expired, finished, or
    another browser's. Every page that runs an interaction answers with it."""
    return render_template("interaction_expired.html"), 400


def save_interaction(iid, data):
    ttl = current_app.config["INTERACTION_TTL"] - (int(time.time()) - data["created"])
    if ttl > 0:
        set_json(store(), "ia:" + iid, data, ttl)


def attach_login(iid, interaction, login):
    """Record that ``login`` was made for this paused request: a fresh login,
    as ``prompt=login`` and ``max_age`` want."""
    interaction["login_sid"] = login.public_id
    save_interaction(iid, interaction)


def deny_interaction(iid, interaction):
    """The person said no: resuming answers the RP ``access_denied``."""
    interaction["consent"] = "denied"
    save_interaction(iid, interaction)


def give_up_interaction(iid, interaction):
    """The person cannot (or will not) reach the level asked for: resuming
    answers the RP ``unmet_authentication_requirements``."""
    interaction["gave_up"] = True
    save_interaction(iid, interaction)


def end_interaction(iid):
    if iid:
        store().delete("ia:" + iid)
