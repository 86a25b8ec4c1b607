"""Which user claims each scope releases (OIDC Core 5.4), plus ``trust_level``,
and individual claims asked for with the ``claims`` parameter (OIDC Core 5.5)."""

import json

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from ..timeutil import epoch

SCOPES_SUPPORTED = ["openid", "profile", "email", "phone"]

SCOPE_CLAIMS = {
    "profile": ("name", "given_name", "family_name", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
}

# How each user claim is read from an account; None values are left out.
USER_CLAIMS = {
    "name": lambda u: u.name,
    "given_name": lambda u: u.given_name,
    "family_name": lambda u: u.family_name,
    "locale": lambda u: u.locale,
    "updated_at": lambda u: epoch(u.updated_at),
    "email": lambda u: u.email,
    "email_verified": lambda u: bool(u.email_verified),
    "phone_number": lambda u: u.phone,
    "phone_number_verified": lambda u: bool(u.phone_verified) if u.phone else None,
}

# The scope each user claim belongs to: a claim asked for by name is released
# only where its scope is allowed to the client and consented to by the person.
CLAIM_SCOPES = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}

CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
    "trust_level", *USER_CLAIMS,
]


def user_claims(user, scope, extra=()):
    """The claims of ``user`` that ``scope`` releases, plus the ``extra`` names."""
    names = set(extra)
    for granted in scope_to_list(scope or ""):
        names.update(SCOPE_CLAIMS.get(granted, ()))
    claims = {"sub": user.sub, "trust_level": user.trust_level}
    for name in USER_CLAIMS:
        if name in names:
            value = USER_CLAIMS[name](user)
            if value is not None:
                claims[name] = value
    return UserInfo(claims)


def requested_claims(claims_parameter, member):
    """Names of user claims asked for in one member ("id_token" or "userinfo") of a
    ``claims`` parameter that the authorization pipeline has already validated."""
    if not claims_parameter:
        return []
    try:
        request = json.loads(claims_parameter).get(member) or {}
    except (ValueError, RecursionError, AttributeError):
        return []
    return sorted(name for name in request if name in USER_CLAIMS) if isinstance(
        request, dict) else []


def released_scopes(client, scope, claims_parameter):
    """The scopes whose claims a request may release, in a stable order: those
    asked for, and those of claims asked for by name (OIDC Core 5.5), but only
    among the scopes the client is registered for. This is what the consent
    page shows and what the stored consent must cover: the ``claims``
    parameter can pick among what is allowed, never add to it."""
    allowed = set(scope_to_list(client.scope or ""))
    wanted = set(scope_to_list(scope or ""))
    for member in ("id_token", "userinfo"):
        wanted.update(CLAIM_SCOPES[name] for name in requested_claims(claims_parameter, member))
    return [name for name in SCOPES_SUPPORTED if name in wanted and name in allowed]


def releasable_claims(claims_parameter, member, scopes):
    """The claims asked for by name in ``member`` whose scope is in ``scopes``."""
    return [name for name in requested_claims(claims_parameter, member)
            if CLAIM_SCOPES[name] in scopes]
