"""Whether an authorization request may be answered now, or needs the person.

A policy made of named checks, each a small pure function of a ``Situation``
(after node-oidc-provider): the first check that objects decides. Tests call
``decide`` directly."""

import json
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (ConsentRequiredError, InteractionRequiredError,
                                      LoginRequiredError)

from ..levels import RANK, level_of
from ..stepup import reaches


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0."""

    error = "unmet_authentication_requirements"


@dataclass
class Login:
    """What we know of the current login session."""

    sub: str
    auth_time: int
    strength: str
    trust_level: str


@dataclass
class Situation:
    now: int
    login: Login | None
    prompts: set = field(default_factory=set)
    max_age: int | None = None
    required_level: str | None = None
    fresh_login: bool = False  # the person logged in during this very request
    hint_sub: str | None = None  # ``sub`` of a valid id_token_hint
    consent_needed: bool = False
    consent: str | None = None  # "granted" / "denied" during this request
    gave_up: bool = False  # the person cancelled a step-up or could not raise the level


@dataclass
class Decision:
    action: str  # "issue", "login", "step_up", "raise", "consent" or "error"
    reason: str
    error: type[OAuth2Error] | None = None
    description: str | None = None


# -- the checks, in order -----------------------------------------------------

def check_consent_denied(s):
    if s.consent == "denied":
        return Decision("error", "consent_denied", AccessDeniedError, "The person refused.")


def check_gave_up(s):
    if s.gave_up:
        return Decision("error", "gave_up", UnmetAuthenticationRequirementsError,
                        f"The person could not reach level '{s.required_level}'.")


def check_no_session(s):
    if s.login is None:
        return _login(s, "no_session")


def check_prompt_login(s):
    if "login" in s.prompts and not s.fresh_login:
        return _login(s, "prompt_login")


def check_max_age(s):
    # max_age=0 asks for a login made for this request, as prompt=login does
    # (OIDC Core 3.1.2.1), even within the second of the last one.
    if s.max_age is not None and not s.fresh_login and (
            s.max_age == 0 or s.now - s.login.auth_time > s.max_age):
        return _login(s, "max_age")


def check_id_token_hint(s):
    if s.hint_sub and s.hint_sub != s.login.sub and not s.fresh_login:
        return _login(s, "id_token_hint_mismatch")


def check_identity_level(s):
    """The account's identity is below the level asked for: show the ways to
    raise it (certificate, card, ID key from a branch)."""
    if s.required_level and RANK[s.login.trust_level] < RANK[s.required_level]:
        return _interact(s, "raise", "identity_too_weak")


def check_authentication_strength(s):
    """This login is weaker than the level asked for: prove a stronger factor
    in the same session (step-up), without logging out."""
    if s.required_level and not reaches(s.login.strength, s.required_level):
        return _interact(s, "step_up", "authentication_too_weak")


def check_consent(s):
    if s.consent != "granted" and (s.consent_needed or "consent" in s.prompts):
        if "none" in s.prompts:
            return Decision("error", "consent_required", ConsentRequiredError)
        return Decision("consent", "consent")


def _interact(s, action, reason):
    if "none" in s.prompts:
        return Decision("error", reason, InteractionRequiredError,
                        f"Level '{s.required_level}' needs the person's interaction.")
    return Decision(action, reason)


def _login(s, reason):
    if "none" in s.prompts:
        return Decision("error", reason, LoginRequiredError)
    return Decision("login", reason)


CHECKS = (check_consent_denied, check_gave_up, check_no_session, check_prompt_login, check_max_age, check_id_token_hint, check_identity_level,
          check_authentication_strength, check_consent)


def decide(situation):
    for check in CHECKS:
        decision = check(situation)
        if decision is not None:
            return decision
    return Decision("issue", "ok")


# -- reading the request --------------------------------------------------------

def parse_max_age(value):
    if value in (None, ""):
        return None
    try:
        max_age = int(value)
    except ValueError:
        max_age = -1
    if max_age < 0:
        raise InvalidRequestError("max_age must be a non-negative integer.")
    return max_age


def requested_level(acr_values=None, claims=None, client_min_acr=None):
    """The lowest level that satisfies the request, or None if none was asked for.

    ``acr_values`` lists acceptable values in order of preference, so any known
    one will do; an essential ``acr`` in ``claims`` likewise, but when none of
    its values is known the request fails; the client's registered minimum
    always applies on top."""
    levels = []
    known = [level_of(v) for v in (acr_values or "").split() if level_of(v)]
    if known:
        levels.append(min(known, key=RANK.get))
    if claims:
        levels += _claims_levels(claims)
    if client_min_acr:
        levels.append(level_of(client_min_acr))
    levels = [lvl for lvl in levels if lvl]
    return max(levels, key=RANK.get) if levels else None


MAX_CLAIMS_LENGTH = 4096


def _claims_levels(claims):
    if len(claims) > MAX_CLAIMS_LENGTH:
        raise InvalidRequestError("The claims parameter is too long.")
    try:
        parsed = json.loads(claims)
    except (ValueError, RecursionError):
        raise InvalidRequestError("The claims parameter is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise InvalidRequestError("The claims parameter must be a JSON object.")
    levels = []
    for member in ("id_token", "userinfo"):
        request = parsed.get(member) or {}
        if not isinstance(request, dict):
            raise InvalidRequestError(f"claims.{member} must be a JSON object.")
        acr = request.get("acr")
        if not isinstance(acr, dict):
            continue
        values = acr.get("values") or ([acr["value"]] if "value" in acr else [])
        if not isinstance(values, list):
            raise InvalidRequestError("claims acr values must be a list.")
        known = [level_of(v) for v in values if isinstance(v, str) and level_of(v)]
        if acr.get("essential") and values and not known:
            raise UnmetAuthenticationRequirementsError(
                "None of the essential acr values is supported.")
        if known:
            levels.append(min(known, key=RANK.get))
    return levels
