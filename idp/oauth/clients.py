"""Registering relying parties (OAuth clients): the operator's service."""

import secrets
from urllib.parse import urlsplit

from flask import current_app

from .. import audit
from ..config import is_loopback
from ..extensions import db
from ..levels import ACR_URI, level_of
from ..signing import ALGORITHMS
from .claims import SCOPES_SUPPORTED
from .client_auth import SECRET_METHODS, public_keyset
from .models import OAuthClient, digest

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
ID_TOKEN_ALGS = ALGORITHMS  # the key ring's: one active key of each
FAPI2_ID_TOKEN_ALGS = ("ES256",)  # FAPI 2.0 5.4: PS256 or ES256; our keys are RS256 and ES256
AUTH_METHODS = (*SECRET_METHODS, "private_key_jwt", "none")
PROFILES = ("fapi2",)


class ClientError(ValueError):
    pass


def _check_uri(uri):
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise ClientError(f"{uri!r} must be an absolute http(s) URL without a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ClientError(f"{uri!r}: plain http is only allowed on loopback hosts")
    return uri


def _min_acr(value):
    if not value:
        return None
    level = level_of(value) or (value if value in ACR_URI else None)
    if level is None:
        raise ClientError(f"unknown level {value!r}; use low, substantial or high")
    return ACR_URI[level]


def create_client(name, redirect_uris=(), post_logout_redirect_uris=(), public=False,
                  scope=None, min_acr=None, grant_types=None, first_party=False,
                  id_token_alg="RS256", client_id=None, actor="operator",
                  backchannel_logout_uri=None, backchannel_logout_session_required=False,
                  auth_method=None, jwks=None, jwks_uri=None, require_par=False,
                  dpop_bound=False, profile=None):
    """Register a client; returns ``(client, secret)`` (secret None for public clients).

    The secret is shown once: only its SHA-256 digest is stored. A client of the
    ``fapi2`` profile (or with ``auth_method="private_key_jwt"``) has no secret:
    it authenticates with the keys of ``jwks`` or ``jwks_uri``."""
    security = client_security(public=public, auth_method=auth_method, jwks=jwks,
                               jwks_uri=jwks_uri, require_par=require_par,
                               dpop_bound=dpop_bound, profile=profile,
                               id_token_alg=id_token_alg)
    public = security["token_endpoint_auth_method"] == "none"
    grant_types = list(grant_types or ("authorization_code", "refresh_token"))
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise ClientError(f"unknown grant type {grant!r}")
    if public and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("at least one --redirect-uri is needed for the code flow")
    scope = scope or " ".join(SCOPES_SUPPORTED)
    unknown = set(scope.split()) - set(SCOPES_SUPPORTED)
    if unknown:
        raise ClientError(f"unknown scopes: {', '.join(sorted(unknown))}")
    if id_token_alg not in ID_TOKEN_ALGS:
        raise ClientError(f"id token algorithm must be one of {', '.join(ID_TOKEN_ALGS)}")
    client_id = client_id or new_client_id()
    if get_client(client_id):
        raise ClientError(f"a client with id {client_id!r} already exists")
    uses_secret = security["token_endpoint_auth_method"] in SECRET_METHODS
    secret = secrets.token_urlsafe(32) if uses_secret else None
    client = OAuthClient(
        client_id=client_id, secret_digest=digest(secret) if secret else None, name=name,
        redirect_uris=[_check_uri(u) for u in redirect_uris],
        post_logout_redirect_uris=[_check_uri(u) for u in post_logout_redirect_uris],
        grant_types=grant_types, scope=scope, min_acr=_min_acr(min_acr),
        first_party=first_party, id_token_signed_response_alg=id_token_alg, **security,
        backchannel_logout_uri=_check_uri(backchannel_logout_uri) if backchannel_logout_uri
        else None,
        backchannel_logout_session_required=bool(backchannel_logout_session_required),
    )
    db.session.add(client)
    audit.record("client_created", actor=actor, commit=False, client_id=client_id)
    db.session.commit()
    _forget_cached_clients()
    return client, secret


def client_security(public=False, auth_method=None, jwks=None, jwks_uri=None,
                    require_par=False, dpop_bound=False, profile=None, id_token_alg="RS256"):
    """The authentication and FAPI 2.0 columns of a new client, checked.

    The ``fapi2`` profile (FAPI 2.0 Security Profile) needs ``private_key_jwt``,
    pushed authorization requests, DPoP-bound tokens and ES256 ID tokens; what
    contradicts it is refused, never quietly changed."""
    if profile not in (None, "fapi2"):
        raise ClientError(f"unknown profile {profile!r}; the one profile is fapi2")
    if auth_method is None:
        auth_method = ("private_key_jwt" if profile == "fapi2" or jwks or jwks_uri
                       else "none" if public else "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise ClientError(f"authentication method must be one of {', '.join(AUTH_METHODS)}")
    if public and auth_method != "none":
        raise ClientError("a public client authenticates with 'none'")
    if profile == "fapi2":
        if auth_method != "private_key_jwt":
            raise ClientError("the fapi2 profile needs --auth-method private_key_jwt")
        if id_token_alg not in FAPI2_ID_TOKEN_ALGS:
            raise ClientError("the fapi2 profile signs ID tokens with ES256: "
                              "add --id-token-alg ES256")
        require_par = dpop_bound = True
    if auth_method == "private_key_jwt":
        if bool(jwks) == bool(jwks_uri):
            raise ClientError("private_key_jwt needs exactly one of --jwks or --jwks-uri")
        if jwks:
            try:
                public_keyset(jwks)
            except ValueError as exc:
                raise ClientError(f"jwks: {exc}") from None
        if jwks_uri:
            _check_uri(jwks_uri)
    elif jwks or jwks_uri:
        raise ClientError("keys (--jwks, --jwks-uri) are only for private_key_jwt")
    return {"token_endpoint_auth_method": auth_method, "jwks": jwks or None,
            "jwks_uri": jwks_uri or None,
            "require_pushed_authorization_requests": bool(require_par),
            "dpop_bound_access_tokens": bool(dpop_bound), "profile": profile}


def _forget_cached_clients():
    cache = current_app.extensions.get("idp_clients")
    if cache is not None:
        cache.forget()


def get_client(client_id):
    return db.session.execute(
        db.select(OAuthClient).filter_by(client_id=client_id)).scalar_one_or_none()


def list_clients():
    return db.session.execute(db.select(OAuthClient).order_by(OAuthClient.id)).scalars().all()


def new_client_id():
    """A random client id (128 bits) that never starts with "-", which a
    command line (``idp clients show ID``) would read as an option."""
    while True:
        value = secrets.token_urlsafe(16)
        if not value.startswith("-"):
            return value


def delete_client(client, actor="operator"):
    audit.record("client_deleted", actor=actor, commit=False, client_id=client.client_id)
    db.session.delete(client)
    db.session.commit()
    _forget_cached_clients()


def rotate_secret(client, actor="operator"):
    if client.public:
        raise ClientError("a public client has no secret")
    if client.auth_method not in SECRET_METHODS:
        raise ClientError("this client authenticates with its keys, not a secret")
    secret = secrets.token_urlsafe(32)
    client.secret_digest = digest(secret)
    audit.record("client_secret_rotated", actor=actor, commit=False, client_id=client.client_id)
    db.session.commit()
    _forget_cached_clients()
    return secret


def describe(client, secret=None):
    data = {
        "client_id": client.client_id, "name": client.name,
        "public": client.public, "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types, "scope": client.scope, "min_acr": client.min_acr,
        "first_party": client.first_party,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "token_endpoint_auth_method": client.auth_method, "profile": client.profile,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "jwks_uri": client.jwks_uri,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
    }
    if secret:
        data["client_secret"] = secret
    return data
