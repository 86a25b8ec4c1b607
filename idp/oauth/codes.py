"""Authorization codes: in the short-lived store with a TTL, single-use.

A code is taken out of the store atomically when it is exchanged; a second
exchange finds only the ``code-used`` marker and revokes what the first one
issued (RFC 6749 4.1.2)."""

from dataclasses import dataclass

from authlib.oidc.core import AuthorizationCodeMixin
from flask import current_app

from .. import audit
from ..extensions import store
from ..store import pop_json, set_json
from .models import digest
from .tokens import revoke_family

REUSE_WINDOW = 600  # how long a spent code is remembered, in seconds


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    data: dict

    def get_redirect_uri(self):
        return self.data["redirect_uri"]

    def get_scope(self):
        return self.data["scope"]

    def get_nonce(self):
        return self.data.get("nonce")

    def get_auth_time(self):
        return self.data["auth_time"]

    def get_acr(self):
        return self.data["acr"]

    def get_amr(self):
        return self.data["amr"]

    @property
    def code_challenge(self):
        return self.data.get("code_challenge")

    @property
    def code_challenge_method(self):
        return self.data.get("code_challenge_method")

    @property
    def user_id(self):
        return self.data["uid"]

    def context(self):
        d = self.data
        return {"family": d["fam"], "sid": d["sid"], "acr": d["acr"], "amr": d["amr"],
                "auth_time": d["auth_time"], "claims": d.get("claims_userinfo") or []}


def save_code(code, data, ttl=None):
    set_json(store(), "code:" + digest(code), data, ttl or current_app.config["CODE_TTL"])


def consume_code(code, client):
    """Take a code out of the store; None if unknown, expired, spent or not this client's."""
    key = digest(code)
    data = pop_json(store(), "code:" + key)
    if data is None:
        family = store().get("code-used:" + key)
        if family:
            revoke_family(family)
            audit.record("authorization_code_reused", actor="client:" + client.client_id,
                         family=family)
        return None
    store().set("code-used:" + key, data["fam"], REUSE_WINDOW)
    if data["client_id"] != client.client_id:
        return None
    return AuthorizationCode(data)
