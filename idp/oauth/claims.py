"""Which user claims each scope releases (OIDC Core 5.4), plus ``trust_level``."""

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from ..timeutil import epoch

SCOPES_SUPPORTED = ["openid", "profile", "email", "phone"]
CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
    "trust_level", "name", "given_name", "family_name", "locale", "updated_at",
    "email", "email_verified", "phone_number", "phone_number_verified",
]


def user_claims(user, scope):
    scopes = set(scope_to_list(scope or ""))
    claims = {"sub": user.sub, "trust_level": user.trust_level}
    if "profile" in scopes:
        for name in ("name", "given_name", "family_name", "locale"):
            value = getattr(user, name)
            if value:
                claims[name] = value
        claims["updated_at"] = epoch(user.updated_at)
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    if "phone" in scopes and user.phone:
        claims["phone_number"] = user.phone
        claims["phone_number_verified"] = bool(user.phone_verified)
    return UserInfo(claims)
