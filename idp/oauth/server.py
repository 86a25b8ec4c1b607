"""The Authlib authorization server and the endpoints registered on it."""

import binascii
import json
import secrets
from urllib.parse import parse_qsl

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6750 import BearerTokenValidator as BaseBearerTokenValidator
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as BaseRevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as BaseIntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter as BaseIssuerParameter
from authlib.oidc.core import UserInfoEndpoint as BaseUserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as BaseEndSessionEndpoint
from flask import current_app
from flask import request as flask_request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from ..authn.current import log_out_current
from ..timeutil import epoch
from . import backchannel, grants, lookups, registration
from . import client_auth, dpop, par, resources, session_events
from .claims import SCOPES_SUPPORTED, user_claims
from .lookups import query_client, query_user
from .payloads import ParamsRequest
from .tokens import (AccessToken, query_access_token, query_refresh_token, revoke_access_token,
                     revoke_family, save_token)


class AuthorizationServer(resources.ResourceIndicators, dpop.DPoPTokenEndpoint,
                          FlaskAuthorizationServer):
    """Authlib's Flask server; it also keeps, as public attributes, what was
    registered on it, which the discovery document (``metadata.py``) lists."""

    def __init__(self):
        super().__init__()
        self.registered_grants = []  # (grant class, its extensions), in the order registered
        self.registered_endpoints = {}  # ENDPOINT_NAME -> the endpoint
        self.registered_extensions = []
        # Authlib's ClientAuthentication has these three built in.
        self.client_auth_methods = ["none", "client_secret_basic", "client_secret_post"]

    def register_grant(self, grant_cls, extensions=None):
        super().register_grant(grant_cls, extensions)
        self.registered_grants.append((grant_cls, list(extensions or ())))

    def register_endpoint(self, endpoint):
        if isinstance(endpoint, type):
            endpoint = endpoint(self)
        super().register_endpoint(endpoint)
        self.registered_endpoints.setdefault(endpoint.ENDPOINT_NAME, endpoint)

    def register_extension(self, extension):
        super().register_extension(extension)
        self.registered_extensions.append(extension)

    def register_client_auth_method(self, method, func):
        super().register_client_auth_method(method, func)
        if method not in self.client_auth_methods:
            self.client_auth_methods.append(method)

    def authenticate_client(self, request, methods, endpoint="token"):
        try:
            return super().authenticate_client(request, methods, endpoint)
        except (UnicodeDecodeError, binascii.Error):
            # Authlib decodes the Basic credentials as UTF-8; garbage is a bad
            # client, which RFC 6749 5.2 answers with 401 and a Basic challenge.
            raise InvalidClientError(description="Malformed client credentials.",
                                     status_code=401) from None

    def handle_error_response(self, request, error):
        response = super().handle_error_response(request, error)
        header = response.headers.get("WWW-Authenticate", "")
        if header.lower().startswith("bearer"):
            # RFC 6750 3.1: the scheme is "Bearer"; a request without a token,
            # or with another scheme ("Basic …"), gets no error code in the challenge.
            if error.error in ("missing_authorization", "unsupported_token_type"):
                response.headers["WWW-Authenticate"] = (
                    f'Bearer realm="{current_app.config["ISSUER"]}"')
                response.set_data(json.dumps({"error": "invalid_token",
                                              "error_description": "No access token."}))
            else:
                response.headers["WWW-Authenticate"] = "Bearer" + header[len("bearer"):]
        return response

    def create_oauth2_request(self, request):
        # The authorization pipeline resumes stored requests (after login or
        # consent); those arrive here as ready OAuth2Request objects.
        if isinstance(request, OAuth2Request):
            return request
        # The issuer is the public base URL (TLS may end at a proxy); it is what
        # Authlib's transport check should see. The small urlencoded bodies of
        # OAuth requests are parsed once with ``parse_qsl`` (Werkzeug's general
        # form parser costs more than the rest of a token request).
        return ParamsRequest(flask_request.method,
                             current_app.config["ISSUER"] + flask_request.path,
                             headers=flask_request.headers, args=flask_request.args,
                             form=_parse_form(flask_request))


def _parse_form(request):
    if request.method != "POST":
        return MultiDict()
    if request.mimetype != "application/x-www-form-urlencoded" or "form" in request.__dict__:
        return request.form  # other types, or a body Werkzeug has already parsed
    body = request.get_data(cache=True).decode("utf-8", "replace")
    form = MultiDict(parse_qsl(body, keep_blank_values=True))
    # Later readers of request.form (the token metrics) get this one rather than
    # Werkzeug parsing the body again; such a body carries no files.
    request.__dict__.update(form=form, files=ImmutableMultiDict())
    return form


class IssuerParameter(BaseIssuerParameter):
    """RFC 9207: ``iss`` in every authorization response."""

    def get_issuer(self):
        return current_app.config["ISSUER"]


def _query_any_token(token_string, hint):
    if hint == "refresh_token":
        return query_refresh_token(token_string) or query_access_token(token_string)
    return query_access_token(token_string) or query_refresh_token(token_string)


class RevocationEndpoint(BaseRevocationEndpoint):
    CLIENT_AUTH_METHODS = grants.SECRET_OR_PUBLIC

    def query_token(self, token_string, token_type_hint):
        return _query_any_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        if isinstance(token, AccessToken):
            revoke_access_token(token)
        else:
            # Revoking a refresh token revokes its whole grant (RFC 7009 2.1).
            revoke_family(token.family)


class IntrospectionEndpoint(BaseIntrospectionEndpoint):
    CLIENT_AUTH_METHODS = client_auth.CONFIDENTIAL_METHODS

    def query_token(self, token_string, token_type_hint):
        return _query_any_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        # A client may introspect the tokens issued to it, while their person is active.
        if not token.check_client(client):
            return False
        user_id = token.record.get("uid") if isinstance(token, AccessToken) else token.user_id
        return user_id is None or query_user(user_id) is not None

    def introspect_token(self, token):
        issuer = current_app.config["ISSUER"]
        if isinstance(token, AccessToken):
            r = token.record
            payload = {"active": True, "client_id": r["client_id"], "scope": r["scope"],
                       "token_type": "Bearer", "exp": r["exp"], "iat": r["iat"], "iss": issuer}
            if "sub" in r:
                payload.update(sub=r["sub"], aud=r["client_id"], acr=r["acr"],
                               auth_time=r["auth_time"])
            if r.get("aud"):  # asked for a resource server (RFC 8707)
                payload["aud"] = r["aud"]
            if r.get("jkt"):  # DPoP-bound (RFC 9449 6.2)
                payload.update(token_type="DPoP", cnf={"jkt": r["jkt"]})
            return payload
        return {"active": True, "client_id": token.client_id, "scope": token.scope,
                "token_type": "refresh_token", "exp": epoch(token.expires_at),
                "iat": epoch(token.issued_at), "iss": issuer, "acr": token.acr,
                "auth_time": token.auth_time, "sub": _sub_of(token.user_id)}


def _sub_of(user_id):
    user = query_user(user_id)
    return user.sub if user else None


class BearerTokenValidator(BaseBearerTokenValidator):
    def authenticate_token(self, token_string):
        return query_access_token(token_string)

    def validate_token(self, token, scopes, request):
        dpop.refuse_as_bearer(token)
        super().validate_token(token, scopes, request)


class DPoPTokenValidator(BaseBearerTokenValidator):
    """``Authorization: DPoP <token>`` with a proof over the request (RFC 9449 7)."""

    TOKEN_TYPE = "dpop"

    def authenticate_token(self, token_string):
        return query_access_token(token_string)

    def validate_token(self, token, scopes, request):
        token_string = request.headers.get("Authorization", "").split(None, 1)[1]
        dpop.check_resource_request(request, token_string, token)
        if self.scope_insufficient(token.get_scope(), scopes):
            raise InsufficientScopeError()


class UserInfoEndpoint(BaseUserInfoEndpoint):
    """OIDC Core 5.3: the claims of the token's scopes (JSON; we sign no userinfo).

    ``__call__`` is Authlib's without what we do not use: it validates the request
    the server already built, where Authlib's ``acquire_token`` builds another from
    the Flask request (``request.url`` included), and it does not look the client up
    for signed userinfo, which registration refuses (``userinfo_signed_response_alg``
    is in ``registration.UNSUPPORTED_FIELDS``). Measured in-process (CPU per
    request), Authlib's own, fed by ``generate_user_info``, costs 20-30 µs more
    (+10-15 %); and a live access token of a deleted client would meet
    ``client.client_metadata`` there as a 500."""

    def __call__(self, request):
        token = self.resource_protector.validate_request(["openid"], request)
        user = token.get_user()
        if user is None:
            raise InvalidTokenError()
        claims = user_claims(user, token.get_scope(), extra=token.record.get("claims", ()))
        return 200, dict(claims), [
            ("Content-Type", "application/json"), ("Cache-Control", "no-store")]

    def get_issuer(self):
        return current_app.config["ISSUER"]


class EndSessionEndpoint(BaseEndSessionEndpoint):
    def get_server_jwks(self):
        return current_app.extensions["idp_keys"].hint_keyset()

    def is_post_logout_redirect_uri_legitimate(self, request, uri, client, logout_hint):
        # Exact match with a registered URI of the named client is checked first.
        return True

    def end_session(self, end_session_request):
        log_out_current(reason="rp_initiated")


def new_token(*args, **kwargs):
    return secrets.token_urlsafe(32)


def init_app(app):
    """Build this app's authorization server (one per app, so tests can differ)."""
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": app.config["ACCESS_TOKEN_TTL"],
        "refresh_token": app.config["ACCESS_TOKEN_TTL"],
        "client_credentials": app.config["ACCESS_TOKEN_TTL"],
    }
    # 256-bit random tokens (Authlib's default draws 42 characters one by one).
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = new_token
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = new_token
    lookups.init_app(app)
    backchannel.init_app(app)
    session_events.connect()  # tokens and back-channel logout follow login sessions
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES_SUPPORTED
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    client_auth.init_app(app, server)
    require_token = ResourceProtector()
    require_token.register_token_validator(BearerTokenValidator())
    require_token.register_token_validator(DPoPTokenValidator())
    server.register_grant(grants.AuthorizationCodeGrant,
                          [grants.PKCE(required=True), grants.OpenIDCode(require_nonce=False)])
    server.register_grant(grants.RefreshTokenGrant)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(par.PushedAuthorizationEndpoint)
    server.register_extension(par.PushedAuthorizationRequests())
    server.register_endpoint(UserInfoEndpoint(resource_protector=require_token))
    server.register_endpoint(EndSessionEndpoint)
    registration.init_app(app, server)
    server.register_extension(IssuerParameter())
    app.extensions["idp_oauth"] = server


def oauth_server():
    return current_app.extensions["idp_oauth"]
