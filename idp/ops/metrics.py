"""Prometheus metrics: every counter of the IdP in one place, behind small functions.

In production ``idp serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start, and prometheus_client then keeps each worker's values in a file there;
``/metrics`` adds them up, so the numbers are the server's, not one worker's.
Without it (tests, ``flask run``) the values live in this process.
"""

import os

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest)
from prometheus_client import multiprocess

HTTP_REQUESTS = Counter("idp_http_requests", "HTTP requests answered.",
                        ["endpoint", "method", "status"])
HTTP_DURATION = Histogram("idp_http_request_duration_seconds",
                          "Time to answer an HTTP request.", ["endpoint"])
TOKEN_GRANTS = Counter("idp_token_grants", "Token endpoint requests by grant type and outcome.",
                       ["grant_type", "outcome"])
LOGINS = Counter("idp_logins", "Completed logins and failed factors.", ["method", "outcome"])
LOCKOUTS = Counter("idp_lockouts", "Accounts locked after too many failed factors.")
CODES_SENT = Counter("idp_codes_sent", "E-mail codes and SMS one-time passwords sent.",
                     ["channel", "outcome"])
STEP_UPS = Counter("idp_step_ups", "Stronger proofs completed in an existing login session.")
TRUST_LEVEL_CHANGES = Counter("idp_trust_level_changes", "Trust levels raised, by new level.",
                              ["level"])

# Label values come from requests; only known ones are kept, so a client cannot
# grow the number of series.
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# ``amr`` values that say how a person logged in; "mfa" and "user" add nothing.
AMR_IGNORED = frozenset({"mfa", "user"})


def observe_request(endpoint, method, status, seconds):
    endpoint = endpoint or "unmatched"
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
    HTTP_DURATION.labels(endpoint).observe(seconds)


def token_grant(grant_type, outcome):
    """``outcome`` is "issued" or the OAuth error code of the answer."""
    TOKEN_GRANTS.labels(grant_type if grant_type in GRANT_TYPES else "other", outcome).inc()


def login_succeeded(amr):
    """A completed login; its method is its ``amr`` values, e.g. ``pwd+otp``."""
    method = "+".join(a for a in amr if a not in AMR_IGNORED) or "other"
    LOGINS.labels(method, "success").inc()


def login_failed(kind):
    """A wrong password, code or key (``kind`` as the login methods name it)."""
    LOGINS.labels(kind or "other", "failure").inc()


def lockout():
    LOCKOUTS.inc()


def code_sent(channel, outcome):
    """``channel`` "email" or "sms"; ``outcome`` "sent", "failed" or "logged"
    (no transport configured: development)."""
    CODES_SENT.labels(channel, outcome).inc()


def step_up():
    STEP_UPS.inc()


def trust_level_changed(level):
    TRUST_LEVEL_CHANGES.labels(level).inc()


def exposition():
    """``(body, content_type)`` of the Prometheus text format for every worker."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
