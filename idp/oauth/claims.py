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
