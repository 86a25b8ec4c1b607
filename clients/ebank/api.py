"""The e-bank's payment API, a resource server: ``POST /api/payments``.

It takes only DPoP-bound access tokens (RFC 9449; FAPI 2.0 wants sender-
constrained tokens): ``Authorization: DPoP <token>`` with a ``DPoP`` proof
over the request and the token (``proofs.py``). It trusts nothing it cannot
ask the IdP about: each token is checked at the IdP's introspection endpoint
(RFC 7662, found by discovery, the e-bank authenticating with private_key_jwt),
which must say the token is active, bound to the proof's key (``cnf.jkt``)
and meant for this API (``aud``, RFC 8707). A payment needs a login at the
eIDAS ``high`` level, made within ``PAYMENT_MAX_AGE`` seconds; a token that
falls short gets the RFC 9470 step-up challenge, for example::

    HTTP/1.1 401 Unauthorized
    WWW-Authenticate: DPoP error="insufficient_user_authentication",
        error_description="A payment needs a high level of assurance",
        acr_values="http://eidas.europa.eu/LoA/high"
"""

import re
import time
from dataclasses import dataclass, field
import requests
from flask import Blueprint, current_app, jsonify, request

from . import proofs
from .challenge import INSUFFICIENT_USER_AUTHENTICATION, format_challenge
from .ledger import PaymentError, parse_order

HIGH = "http://eidas.europa.eu/LoA/high"
REALM = "ebank"
SCHEME = "DPoP"
# RFC 9449 7.1 (as RFC 6750 2.1): "DPoP" 1*SP b64token
_CREDENTIALS = re.compile(r"(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

bp = Blueprint("api", __name__, url_prefix="/api")


class IdpUnavailable(Exception):
    """The IdP could not say whether a token is good (down, slow, or odd answers)."""


class Introspector:
    """Asks the IdP about access tokens (RFC 7662). The endpoint comes from the
    IdP's discovery document, read once it has been read successfully."""

    def __init__(self, issuer, client_id, authenticate, timeout):
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.client_id = client_id
        self.authenticate = authenticate  # the form fields of a fresh client assertion
        self.timeout = timeout
        self._endpoint = None

    def endpoint(self):
        if self._endpoint is None:
            metadata = self._json(requests.get, self.discovery_url)
            endpoint = metadata.get("introspection_endpoint")
            if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise IdpUnavailable("the discovery document names no introspection_endpoint")
            self._endpoint = endpoint
        return self._endpoint

    def __call__(self, token):
        """The IdP's answer about ``token``, a dict with at least ``active``."""
        answer = self._json(requests.post, self.endpoint(),
                            data={"token": token, "token_type_hint": "access_token",
                                  **self.authenticate()},
                            headers={"Accept": "application/json"})
        if not isinstance(answer.get("active"), bool):
            raise IdpUnavailable("an introspection answer without a boolean 'active'")
        return answer

    def _json(self, send, url, **kwargs):
        try:
            response = send(url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise IdpUnavailable(f"{url}: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            # 401 here means the e-bank's own credentials were refused: a setup problem.
            raise IdpUnavailable(f"{url} answered {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise IdpUnavailable(f"{url} did not answer JSON") from exc
        if not isinstance(data, dict):
            raise IdpUnavailable(f"{url} did not answer a JSON object")
        return data


@dataclass
class Refusal:
    """Why a token may not make a payment, as an RFC 6750 / RFC 9470 challenge."""

    error: str
    description: str
    challenge: dict = field(default_factory=dict)  # the extra challenge parameters

    def header(self):
        return format_challenge(SCHEME, {"error": self.error,
                                           "error_description": self.description,
                                           **self.challenge})


def assess(answer, client_id, max_age, now, jkt=None, audience=None):
    """What a payment makes of the IdP's introspection answer: None when it may
    go ahead, else the refusal. ``max_age`` None means any login time will do;
    ``jkt`` is the thumbprint of the proof's key, ``audience`` this API."""
    token_type = answer.get("token_type") or "Bearer"
    if (answer.get("active") is not True or token_type.lower() != "dpop"
            or answer.get("client_id") != client_id or not answer.get("sub")):
        # Refresh tokens are introspected as active too: only our own access
        # tokens, of a person, bound to a key, may pay.
        return Refusal("invalid_token", "The access token is not valid")
    cnf = answer.get("cnf")
    if not isinstance(cnf, dict) or cnf.get("jkt") != jkt:
        return Refusal("invalid_token", "The access token is bound to another key")
    aud = answer.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        return Refusal("invalid_token", "The access token is meant for another service")
    wanted = {}
    if answer.get("acr") != HIGH:
        wanted["acr_values"] = HIGH
    if max_age is not None and not _recent(answer.get("auth_time"), max_age, now):
        wanted["max_age"] = str(max_age)
    if not wanted:
        return None
    if "max_age" not in wanted:
        description = "A payment needs a high level of assurance"
    elif "acr_values" not in wanted:
        description = "A payment needs a recent authentication"
    else:
        description = "A payment needs a recent authentication at a high level of assurance"
    return Refusal(INSUFFICIENT_USER_AUTHENTICATION, description, wanted)


def _recent(auth_time, max_age, now):
    if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
        return False  # no login time: we cannot tell it is recent
    return now - auth_time <= max_age


def credentials(authorization):
    """``(scheme, token)`` of an ``Authorization: DPoP|Bearer`` header, or None."""
    match = _CREDENTIALS.fullmatch((authorization or "").strip())
    return (match.group(1).lower(), match.group(2)) if match else None


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/payments")
def create_payment():
    given = credentials(request.headers.get("Authorization"))
    if given is None:
        # RFC 6750 section 3.1: no error code when no credentials were given.
        return _error(401, "missing_token", "A DPoP-bound access token is required",
                      www_authenticate=format_challenge(SCHEME, {
                          "realm": REALM, "algs": " ".join(proofs.ALGORITHMS)}))
    scheme, token = given
    if scheme != "dpop":  # RFC 9449 7.2: a bound token is no bearer token
        return _invalid_token("Send the access token with a DPoP proof")
    try:
        jkt = proofs.verify(request.headers.get("DPoP"), "POST",
                            current_app.config["API_URL"] + "/payments", token,
                            current_app.extensions["ebank_seen_proofs"])
    except proofs.ProofError as exc:
        return _error(401, "invalid_dpop_proof", str(exc), www_authenticate=format_challenge(
            SCHEME, {"error": "invalid_dpop_proof", "error_description": str(exc)}))
    introspect = current_app.extensions["ebank_introspector"]
    try:
        answer = introspect(token)
    except IdpUnavailable as exc:
        current_app.logger.warning("payment refused, token introspection failed: %s", exc)
        return _error(503, "temporarily_unavailable",
                      "The bank cannot check the access token now; try again later")
    refusal = assess(answer, introspect.client_id, current_app.config["PAYMENT_MAX_AGE"],
                     time.time(), jkt=jkt, audience=current_app.config["API_URL"])
    if refusal is not None:
        if refusal.error == "invalid_token":
            return _invalid_token(refusal.description)
        return _error(401, refusal.error, refusal.description, www_authenticate=refusal.header())

    try:
        amount, to = parse_order(request.get_json(silent=True))
    except PaymentError as exc:
        return _error(400, "invalid_request", exc.message, field=exc.field)
    payment = current_app.extensions["ebank_ledger"].record(answer["sub"], amount, to)
    current_app.logger.info("payment %s of %s EUR by %s", payment["id"], amount, answer["sub"])
    return jsonify(payment), 201


def _invalid_token(description):
    return _error(401, "invalid_token", description,
                  www_authenticate=format_challenge(SCHEME, {"error": "invalid_token"}))


def _error(status, error, description, www_authenticate=None, field=None):
    body = {"error": error, "error_description": description}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    if www_authenticate:
        response.headers["WWW-Authenticate"] = www_authenticate
    return response
