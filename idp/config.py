"""Settings: defaults here, overridden by ``IDP_*`` environment variables.

Every setting is documented in the README's settings table. Flask's
``from_prefixed_env`` parses values as JSON where it can, so ``IDP_CODE_TTL=120``
arrives as an integer and ``IDP_RATELIMIT_ENABLED=false`` as a boolean.
"""

import ipaddress
import os
import secrets
from urllib.parse import urlsplit

DEFAULTS = {
    # Public base URL; WebAuthn's origin is its scheme and host.
    "ISSUER": "http://localhost:5000",
    # WebAuthn relying party: its id defaults to the issuer's host name.
    "WEBAUTHN_RP_ID": None,
    "WEBAUTHN_RP_NAME": "Rekono IdP",
    "SECRET_KEY": None,
    "DATABASE_URL": None,  # default: sqlite file under instance/
    "REDIS_URL": None,  # unset: in-process store (one process only)
    "REDIS_PREFIX": "idp:",
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_SENDER": "Rekono IdP <no-reply@localhost>",
    "SMTP_STARTTLS": False,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_TIMEOUT": 10,  # seconds
    "SMS_GATEWAY_URL": None,
    "SMS_GATEWAY_TOKEN": None,  # sent as "Authorization: Bearer <token>"
    "SMS_TIMEOUT": 10,  # seconds
    "KEYS_DIR": "keys",  # a former on-disk key ring, imported once by ``idp init``
    # Secrets that seal the private signing keys in the database: the first seals,
    # all open (a JSON list or comma-separated). Default: one kept in instance/.
    "KEY_ENCRYPTION_KEYS": None,
    # Lifetimes in seconds.
    "CODE_TTL": 60,
    "ACCESS_TOKEN_TTL": 600,
    "ID_TOKEN_TTL": 600,
    "REFRESH_TOKEN_TTL": 30 * 24 * 3600,
    "INTERACTION_TTL": 1800,
    "SESSION_TTL": 8 * 3600,
    # Registration and recovery: how long a flow lives, and its e-mail/SMS codes.
    "FLOW_TTL": 1800,
    "CONFIRMATION_CODE_TTL": 600,
    "CONFIRMATION_CODE_TRIES": 5,
    "RESEND_COOLDOWN": 60,
    "SENDS_PER_ADDRESS_PER_HOUR": 5,
    "SENDS_PER_IP_PER_HOUR": 30,
    # Wrong PUKs before the PUK route is locked; the lock lasts PUK_LOCK_SECONDS,
    # doubling with every further wrong PUK up to PUK_LOCK_MAX_SECONDS (a branch
    # officer can lift it at once).
    "PUK_MAX_FAILURES": 5,
    "PUK_LOCK_SECONDS": 900,
    "PUK_LOCK_MAX_SECONDS": 24 * 3600,
    # Password guessing: per-account lock-out and per-IP rate limit.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_SECONDS": 900,
    "LOGIN_RATE_LIMIT": "30 per minute; 300 per hour",
    # Removing a login method, changing the password and the like need a factor
    # proved within this many seconds (else the person re-enters one).
    "REAUTH_MAX_AGE": 300,
    # Raising the trust level. An ID key from a branch is valid this long (seconds).
    "ID_KEY_TTL": 72 * 3600,
    # Qualified certificates: a folder of trusted CA certificates and their CRLs,
    # and the header in which the TLS proxy forwards the client certificate
    # (unset: not read, since only a proxy that always sets it may be trusted).
    "TRUSTED_CA_DIR": None,
    "CLIENT_CERT_HEADER": None,
    # Bank card checks. Without a URL, the sandbox gateway, which
    # CARD_GATEWAY_SANDBOX allows (default: only on a loopback issuer).
    "CARD_GATEWAY_URL": None,
    "CARD_GATEWAY_SANDBOX": None,
    "CARD_GATEWAY_TOKEN": None,
    "CARD_GATEWAY_TIMEOUT": 10,
    "CARD_CHECK_LIMIT": "5 per day",  # card checks per account
    "RATELIMIT_ENABLED": True,
    # OpenID Connect Back-Channel Logout: seconds to wait for an RP, tries in all,
    # and the pause before the first retry (doubled before each next one).
    "BACKCHANNEL_LOGOUT_TIMEOUT": 5,
    "BACKCHANNEL_LOGOUT_ATTEMPTS": 3,
    "BACKCHANNEL_LOGOUT_RETRY_DELAY": 2,
    # Dynamic client registration: default life of an initial access token (seconds).
    "REGISTRATION_TOKEN_TTL": 7 * 24 * 3600,
    # Pushed authorization requests (RFC 9126): required of every client when true
    # (else per client), and how long a request_uri lives (seconds).
    "REQUIRE_PAR": False,
    "PAR_TTL": 60,
    # DPoP (RFC 9449): require a server nonce (DPoP-Nonce) in proofs at the token
    # and userinfo endpoints.
    "DPOP_REQUIRE_NONCE": True,
    # Resource indicators (RFC 8707): the resource servers (absolute URIs) an access
    # token may be asked for with ``resource``; the token's audience is then that URI.
    "RESOURCES": [],
    # How long a process may use a client's or account's row before reading it again.
    "CACHE_SECONDS": 5,
    # Host names besides the issuer's that requests may name (list or comma-separated).
    "TRUSTED_HOSTS": None,
    # The EU Digital Identity Wallet (OpenID4VP 1.0 / HAIP 1.0, see docs/wallet.md):
    # a folder of PID providers' trust anchors (unset: the wallet is not offered),
    # the PID types accepted, the verifier's access certificate (leaf first) and key,
    # its client id prefix (x509_hash or x509_san_dns), how long a request lives,
    # how long to wait for a status list, and the countries whose PID administrative
    # number is the tax number (a list or comma-separated).
    "PID_PROVIDERS_DIR": None,
    "PID_VCTS": ["urn:eudi:pid:1"],
    "VERIFIER_CERT_FILE": None,
    "VERIFIER_KEY_FILE": None,
    "VERIFIER_CLIENT_ID_PREFIX": "x509_hash",
    "WALLET_REQUEST_TTL": 300,
    "PID_STATUS_TIMEOUT": 5,
    "PID_TAX_NUMBER_COUNTRIES": [],
    # Number of reverse proxies in front of us whose X-Forwarded-* we trust.
    "TRUSTED_PROXIES": 0,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",  # or "json": one object per line, for log collectors
    # Bearer token that /metrics asks for (unset: /metrics answers 404).
    "METRICS_TOKEN": None,
}

LOOPBACK_HOSTS = {"localhost"}


def load_settings(app, overrides=None):
    """Fill ``app.config`` from defaults, the environment and ``overrides``."""
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("IDP")
    if overrides:
        app.config.update(overrides)
    cfg = app.config

    cfg["ISSUER"] = validate_issuer(cfg["ISSUER"])
    parts = urlsplit(cfg["ISSUER"])
    cfg["WEBAUTHN_ORIGIN"] = f"{parts.scheme}://{parts.netloc}"
    cfg["WEBAUTHN_RP_ID"] = cfg.get("WEBAUTHN_RP_ID") or parts.hostname
    # Requests for any other host are refused (400), so that nothing can be
    # built from a forged Host or X-Forwarded-Host; IDP_TRUSTED_HOSTS adds names
    # (for example the one a health probe uses).
    extra = cfg.get("TRUSTED_HOSTS") or []
    if isinstance(extra, str):
        extra = [name.strip() for name in extra.split(",") if name.strip()]
    cfg["TRUSTED_HOSTS"] = [parts.hostname, *extra]
    os.makedirs(app.instance_path, exist_ok=True)
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "idp.sqlite3")
    cfg["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(cfg["DATABASE_URL"])
    # A pre-ping notices PostgreSQL restarts; a SQLite file cannot go away like that.
    is_sqlite = cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": not is_sqlite})
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(app.instance_path)
    cfg["KEY_ENCRYPTION_KEYS"] = secret_list(cfg.get("KEY_ENCRYPTION_KEYS")) or [
        _instance_secret(app.instance_path, "key_encryption_key")]

    secure = cfg["ISSUER"].startswith("https://")
    cfg.update(
        SESSION_COOKIE_NAME="idp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        MAX_CONTENT_LENGTH=64 * 1024,  # no form or OAuth request is bigger
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session instead of a clock
        BABEL_DEFAULT_LOCALE="sl",
        BABEL_DEFAULT_TIMEZONE="Europe/Ljubljana",
    )
    cfg.setdefault("RATELIMIT_STORAGE_URI", cfg["REDIS_URL"] or "memory://")
    cfg.setdefault("RATELIMIT_KEY_PREFIX", cfg["REDIS_PREFIX"] + "rl")
    cfg.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    cfg.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    return cfg


def validate_issuer(issuer):
    """The issuer must be https, except on loopback hosts (local development)."""
    parts = urlsplit(str(issuer))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"IDP_ISSUER must be an absolute http(s) URL, not {issuer!r}")
    if parts.query or parts.fragment:
        raise ValueError("IDP_ISSUER must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"IDP_ISSUER {issuer!r} uses plain http on a non-loopback host; use https"
        )
    return str(issuer).rstrip("/")


def is_loopback(host):
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_database_url(url):
    # SQLAlchemy wants an explicit driver for psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def secret_list(value):
    """A list of secrets: a JSON list (already parsed) or a comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip() for v in value or () if str(v).strip()]


def _instance_secret(instance_path, name="secret_key"):
    """A development secret kept in instance/ so sessions (and sealed signing
    keys) survive restarts.

    Production sets IDP_SECRET_KEY and IDP_KEY_ENCRYPTION_KEYS (the same on every
    machine)."""
    path = os.path.join(instance_path, name)
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
    except FileExistsError:  # another worker won the race
        with open(path) as fh:
            return fh.read().strip()
