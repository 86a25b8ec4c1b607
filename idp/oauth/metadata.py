"""The provider's metadata (OpenID Connect Discovery 1.0, RFC 8414): what the
discovery document says, kept apart from the pages so that the registration
endpoint and the prepared documents can read it without importing a view.

The lists are read from what is registered on the authorization server (its
grants, their PKCE extension, its endpoints and their client authentication
methods, the client authentication methods it knows, its extensions), from the
key ring's algorithms and from the DPoP module, so the document cannot promise
what the server does not do. ``tests/test_discovery_metadata.py`` validates it
with Authlib's ``OpenIDProviderMetadata``."""

from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import current_app

from ..levels import ACR_VALUES_SUPPORTED
from ..signing import ALGORITHMS as ID_TOKEN_ALGORITHMS
from . import client_auth, dpop
from .claims import CLAIMS_SUPPORTED

# Where each registered endpoint is served (oauth/views.py), by Authlib's ENDPOINT_NAME.
ENDPOINT_PATHS = {
    "userinfo": ("userinfo_endpoint", "/userinfo"),
    "revocation": ("revocation_endpoint", "/revoke"),
    "introspection": ("introspection_endpoint", "/introspect"),
    "end_session": ("end_session_endpoint", "/logout"),
    "pushed_authorization": ("pushed_authorization_request_endpoint", "/par"),
    "client_registration": ("registration_endpoint", "/connect/register"),
}


def discovery_document(issuer):
    server = current_app.extensions["idp_oauth"]
    grants = [grant for grant, _ in server.registered_grants]
    endpoints = server.registered_endpoints
    token_auth = _known(server, _union(g.TOKEN_ENDPOINT_AUTH_METHODS for g in grants
                                       if hasattr(g, "check_token_endpoint")))
    document = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": None,
        "jwks_uri": issuer + "/jwks.json",
        "revocation_endpoint": None,
        "introspection_endpoint": None,
        "end_session_endpoint": None,
        "scopes_supported": list(server.scopes_supported),
        "response_types_supported": _union(sorted(g.RESPONSE_TYPES) for g in grants
                                           if hasattr(g, "check_authorization_endpoint")),
        "response_modes_supported": ["query"],
        "grant_types_supported": [g.GRANT_TYPE for g in grants],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
        "token_endpoint_auth_methods_supported": token_auth,
        "token_endpoint_auth_signing_alg_values_supported": _assertion_algs(token_auth),
    }
    for name in ("revocation", "introspection"):
        if name in endpoints:
            methods = _known(server, endpoints[name].CLIENT_AUTH_METHODS)
            document[f"{name}_endpoint_auth_methods_supported"] = methods
            document[f"{name}_endpoint_auth_signing_alg_values_supported"] = (
                _assertion_algs(methods))
    document.update({
        "code_challenge_methods_supported": _union(
            ext.SUPPORTED_CODE_CHALLENGE_METHOD for _, extensions in server.registered_grants
            for ext in extensions if isinstance(ext, CodeChallenge)),
        "claims_supported": CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["sl", "en"],
        "claims_locales_supported": ["sl", "en"],
        "authorization_response_iss_parameter_supported": any(
            isinstance(ext, IssuerParameter) for ext in server.registered_extensions),
        "pushed_authorization_request_endpoint": None,
        "require_pushed_authorization_requests": bool(current_app.config["REQUIRE_PAR"]),
        "dpop_signing_alg_values_supported": dpop.ALGORITHMS,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "registration_endpoint": None,
    })
    for name, (key, path) in ENDPOINT_PATHS.items():
        if name in endpoints:
            document[key] = issuer + path
    if "pushed_authorization" not in endpoints:
        del document["require_pushed_authorization_requests"]
    return {key: value for key, value in document.items() if value is not None}


def _union(lists):
    """The values of several lists, each once, in the order first met."""
    seen = []
    for values in lists:
        seen.extend(v for v in values if v not in seen)
    return seen


def _known(server, methods):
    """Only the client authentication methods the server can check."""
    return [m for m in methods if m in server.client_auth_methods]


def _assertion_algs(methods):
    return client_auth.ASSERTION_ALGS if "private_key_jwt" in methods else None
