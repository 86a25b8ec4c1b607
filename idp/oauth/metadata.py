"""The provider's metadata (OpenID Connect Discovery 1.0, RFC 8414): what the
discovery document says, kept apart from the pages so that the registration
endpoint and the prepared documents can read it without importing a view."""

from flask import current_app

from ..levels import ACR_VALUES_SUPPORTED
from . import client_auth, dpop
from .claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED


def discovery_document(issuer):
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks.json",
        "revocation_endpoint": issuer + "/revoke",
        "introspection_endpoint": issuer + "/introspect",
        "end_session_endpoint": issuer + "/logout",
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": client_auth.ALL_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": client_auth.ALL_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": client_auth.CONFIDENTIAL_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["sl", "en"],
        "claims_locales_supported": ["sl", "en"],
        "authorization_response_iss_parameter_supported": True,
        "pushed_authorization_request_endpoint": issuer + "/par",
        "require_pushed_authorization_requests": bool(current_app.config["REQUIRE_PAR"]),
        "dpop_signing_alg_values_supported": dpop.ALGORITHMS,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "registration_endpoint": issuer + "/connect/register",
    }
