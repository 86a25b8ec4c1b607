"""Every counter of the IdP on one engine: the ``limits`` library (which
Flask-Limiter's per-IP limits use too), on one storage: Redis when
``IDP_REDIS_URL`` is set, else the process's memory.

Counters are keyed on what cannot be spelled two ways: a normalised e-mail
address or E.164 number (``identifier_key``), an account id once the account
is known (``account_key``), and the client IP with IPv6 taken by /64
(``ip_key``), since one host usually owns a whole /64.

A send is reserved atomically before it goes out (``reserve``), so parallel
requests cannot pass a limit together, and given back when it did not go out
(``release``), so an outage costs the person nothing; failure counters are
charged when the failure is known."""

import hashlib
import ipaddress
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItemPerHour, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter


@dataclass(frozen=True)
class Limit:
    """A named limit: ``amount`` events per ``seconds``, from the settings."""

    name: str
    amount_setting: str
    seconds_setting: str | None = None  # None: an hour

    def item(self, config):
        amount = int(config[self.amount_setting])
        if self.seconds_setting is None:
            return RateLimitItemPerHour(amount, namespace=self.name)
        return RateLimitItemPerSecond(amount, int(config[self.seconds_setting]),
                                      namespace=self.name)


# Wrong passwords, codes and keys, counted together, per e-mail and per account.
LOGIN_FAILURES = Limit("login-fail", "LOGIN_MAX_FAILURES", "LOGIN_LOCKOUT_SECONDS")
# Codes sent to one address or number, to one account, and from one client IP.
SENDS_PER_TARGET = Limit("sends", "SENDS_PER_ADDRESS_PER_HOUR")
SENDS_PER_IP = Limit("sends-ip", "SENDS_PER_IP_PER_HOUR")


# Page endpoints where a person types a password, code, PUK, ID key, card or
# an identifier that could tell whether an account exists: their POSTs share
# one per-IP limit (IDP_LOGIN_RATE_LIMIT), besides the per-identifier and
# per-account counters above.
TYPED_ENDPOINTS = (
    "authn.login", "factor.verify",
    "register.details", "register.email", "register.phone", "register.resend",
    "recover.start", "recover.sms", "recover.resend", "recover.password",
    "methods.enrol", "methods.rename",
    "account.confirm", "account.resend", "account.password", "account.email", "account.phone",
    "account.delete", "account.puk",
    "trust.id_key", "trust.card", "trust.certificate",
    "officer.console", "officer.person",
)

# POST endpoints without that limit, and why; a test fails for any POST
# endpoint in neither list.
UNLIMITED_ENDPOINTS = {
    "oauth.token": "clients authenticate with 256-bit secrets or signed keys",
    "oauth.introspect": "clients authenticate with 256-bit secrets or signed keys",
    "oauth.revoke": "clients authenticate with 256-bit secrets or signed keys",
    "oauth.userinfo": "a 256-bit access token; nothing a person types",
    "oauth.pushed_authorization_request": "clients authenticate like at the token endpoint",
    "registration_api.register": "needs an operator's initial access token (hashed, counted)",
    "wallet.request_object": "a wallet fetching a request it was given; nothing typed",
    "wallet.response": "an encrypted wallet response bound to a one-time nonce",
    "oauth.authorize": "a POST only turns into the same request as a GET",
    "factor.passkey_options": "hands out a one-time WebAuthn challenge; its answer is limited",
    "oauth.logout": "nothing typed; ends the caller's own session",
    "oauth.consent": "a yes or no on the caller's own request",
    "oauth.abort": "a button on the caller's own request",
    "oauth.give_up": "a button on the caller's own request",
    "register.puk": "a tick box in the caller's own flow",
    "register.choose": "a choice in the caller's own flow",
    "register.cancel": "cancels the caller's own flow",
    "recover.puk": "a tick box in the caller's own flow",
    "recover.cancel": "cancels the caller's own flow",
    "account.cancel": "cancels the caller's own flow",
    "methods.index": "adds nothing typed; enrolment is limited",
    "methods.remove": "behind a recent re-authentication, which is limited",
    "dashboard.disconnect": "a button on the caller's own account",
    "dashboard.end_session": "a button on the caller's own account",
    "dashboard.end_other_sessions": "a button on the caller's own account",
    "officer.unlock_puk": "a button for a logged-in officer (second factor, audited)",
}


def identifier_key(value):
    """A normalised identifier (never stored in clear in the counter's key)."""
    return "id:" + hashlib.sha256(value.encode()).hexdigest()


def account_key(user_id):
    return f"account:{user_id}"


def ip_key(address):
    """The client IP; an IPv6 address counts as its /64 network."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return "ip:" + (address or "unknown")[:64]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    if ip.version == 6:
        return "ip:" + str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return "ip:" + str(ip)


def init_app(app):
    cfg = app.config
    options = {}
    uri = cfg["RATELIMIT_STORAGE_URI"]
    if uri.startswith(("redis://", "rediss://")):
        # Under the IdP's Redis prefix, with the same short timeouts as the store.
        options = {"key_prefix": cfg["REDIS_PREFIX"] + "limits", "socket_timeout": 2,
                   "socket_connect_timeout": 2}
    app.extensions["idp_counters"] = FixedWindowRateLimiter(storage_from_string(uri, **options))


def _engine():
    return current_app.extensions["idp_counters"]


def _item(limit):
    return limit.item(current_app.config)


def exhausted(limit, *keys):
    """Whether any of ``keys`` has used up ``limit`` (another event would exceed it)."""
    item = _item(limit)
    return any(not _engine().test(item, key) for key in keys)


def charge(limit, *keys):
    """Count one event under each key; True when one of them is now used up."""
    item = _item(limit)
    for key in keys:
        _engine().hit(item, key)
    return exhausted(limit, *keys)


def reserve(limit, *keys):
    """Count one event under each key at once (one atomic increment each), so
    that parallel requests cannot all pass a check made before any of them
    counted; when one key is over the limit, give every count back and answer
    False. ``release`` gives a reservation back (the event did not happen)."""
    item = _item(limit)
    taken = []
    for key in keys:
        taken.append(key)
        if not _engine().hit(item, key):
            release(limit, *taken)
            return False
    return True


def release(limit, *keys):
    item = _item(limit)
    for key in keys:
        _engine().storage.incr(item.key_for(key), item.get_expiry(), amount=-1)


def clear(limit, *keys):
    item = _item(limit)
    for key in keys:
        _engine().clear(item, key)
