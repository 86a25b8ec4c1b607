"""Dynamic client registration (RFC 7591) and management (RFC 7592), on
Authlib's ``ClientRegistrationEndpoint`` and ``ClientConfigurationEndpoint``.

Registering needs an *initial access token* that an operator issues
(``idp clients registration-token``): stored as a SHA-256 digest, expiring,
good for a counted number of registrations. A registered client gets a
*registration access token* (also stored as a digest) to read, replace and
delete its registration at ``registration_client_uri``. Clients registered
here are third-party (the person is asked for consent) unless the operator's
token says otherwise. Every registration, change, deletion and refusal is
audited."""

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (InvalidRequestError, JsonPayload, JsonRequest,
                                    scope_to_list)
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims as OAuthMetadataClaims
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as BaseRegistrationEndpoint
from authlib.oauth2.rfc7591 import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint as BaseConfigurationEndpoint
from authlib.oidc.registration import ClientMetadataClaims as OIDCMetadataClaims
from flask import Blueprint, current_app
from flask import request as flask_request

from .. import audit
from ..config import is_loopback
from ..extensions import csrf, db
from ..timeutil import epoch, utcnow
from . import clients as client_service
from .metadata import discovery_document
from .egress import literal_problem
from .models import InitialAccessToken, digest
from .syntax import describable

bp = Blueprint("registration_api", __name__)

SECRET_METHODS = client_service.SECRET_METHODS
BOOLEAN_FIELDS = ("backchannel_logout_session_required",
                  "require_pushed_authorization_requests", "dpop_bound_access_tokens")
# Kept and shown back, not acted on (RFC 7591 2).
DESCRIPTIVE_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts",
                      "software_id", "software_version", "application_type")
# What we cannot honour is refused rather than silently ignored: a client that
# asks for encrypted ID tokens must not get plain ones.
UNSUPPORTED_FIELDS = ("id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
                      "userinfo_signed_response_alg", "userinfo_encrypted_response_alg",
                      "userinfo_encrypted_response_enc", "request_object_signing_alg",
                      "request_object_encryption_alg", "request_object_encryption_enc",
                      "request_uris", "sector_identifier_uri", "initiate_login_uri",
                      "tls_client_certificate_bound_access_tokens")
MAX_URIS = 20


# -- initial access tokens (the operator's service) ------------------------------

def issue_initial_access_token(uses=1, expires_in=None, first_party=False,
                               actor="operator"):
    """Issue an initial access token good for ``uses`` registrations within
    ``expires_in`` seconds; returns ``(token, row)``. The token is shown once."""
    if uses < 1:
        raise ValueError("uses must be at least 1")
    expires_in = expires_in or current_app.config["REGISTRATION_TOKEN_TTL"]
    if expires_in < 1:
        raise ValueError("expires-in must be at least 1 second")
    token = secrets.token_urlsafe(32)
    row = InitialAccessToken(token_digest=digest(token), uses_left=uses,
                             expires_at=utcnow() + timedelta(seconds=expires_in),
                             created_by=actor, first_party=first_party)
    db.session.add(row)
    db.session.flush()
    audit.record("registration_token_issued", actor=actor, commit=False, token_id=row.id,
                 uses=uses, expires_at=row.expires_at.isoformat(), first_party=first_party)
    db.session.commit()
    return token, row


def _bearer(request):
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise MissingAuthorizationError("Bearer", current_app.config["ISSUER"])
    if scheme.lower() != "bearer" or not value.strip() or len(value) > 512:
        raise InvalidTokenError()
    return value.strip()


def _refuse(event, reason, **details):
    audit.record(event, actor="registration", ip=flask_request.remote_addr, reason=reason,
                 **details)


# -- metadata --------------------------------------------------------------------

def _uri_problem(uri, what, fetched=False):
    """Why ``uri`` cannot be registered, or None: absolute, https (http only
    on loopback hosts), no fragment; and for a URL the IdP itself will call
    (``fetched``), a public one."""
    if not isinstance(uri, str) or not uri or len(uri) > 2048 or not uri.isprintable():
        return f"{what} must be a URL"
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{what} must be an absolute https URL"
    if parts.fragment or "#" in uri:
        return f"{what} must not have a fragment"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{what} must use https (plain http only on loopback hosts)"
    if fetched and not is_loopback(urlsplit(current_app.config["ISSUER"]).hostname):
        # A production IdP: nothing may aim it at its own network (SSRF).
        if parts.scheme == "http":
            return f"{what} must use https"
        if literal_problem(parts.hostname):
            return f"{what} must name a public host"
    return None


def _uri_list(data, field, error):
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_URIS:
        raise error(f"{field} must be a list of at most {MAX_URIS} URLs")
    for uri in value:
        problem = _uri_problem(uri, field)
        if problem:
            raise error(problem)
    return list(dict.fromkeys(value))


def _string_list(data, field, default):
    value = data.get(field, default)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadataError(f"{field} must be a list of strings")
    return list(dict.fromkeys(value))


def _string(data, field, max_length=255):
    value = data.get(field)
    if value is not None and (not isinstance(value, str) or len(value) > max_length):
        raise InvalidClientMetadataError(f"{field} must be a string of at most "
                                         f"{max_length} characters")
    if value is not None and any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in value):
        raise InvalidClientMetadataError(f"{field} must not contain control characters")
    return value


def check_metadata(data, server_metadata):
    """Validate registration metadata; returns the client's settings in our terms.

    Raises ``invalid_redirect_uri`` or ``invalid_client_metadata`` naming the
    field. Fields we do not know are ignored (RFC 7591 2)."""
    redirect_uris = _uri_list(data, "redirect_uris", InvalidRedirectURIError)
    post_logout = _uri_list(data, "post_logout_redirect_uris", InvalidClientMetadataError)

    grant_types = _string_list(data, "grant_types", ["authorization_code"])
    unknown = [g for g in grant_types if g not in server_metadata["grant_types_supported"]]
    if unknown or not grant_types:
        raise InvalidClientMetadataError(f"grant_types: unsupported {describable(unknown)}"
                                         if unknown else "grant_types must not be empty")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise InvalidClientMetadataError("grant_types: refresh_token needs authorization_code")
    code_flow = "authorization_code" in grant_types
    response_types = _string_list(data, "response_types", ["code"] if code_flow else [])
    if any(r not in server_metadata["response_types_supported"] for r in response_types):
        raise InvalidClientMetadataError("response_types: only code is supported")
    if code_flow != ("code" in response_types):
        # RFC 7591 2.1: the code grant and the code response type go together.
        raise InvalidClientMetadataError(
            "grant_types and response_types disagree: authorization_code goes with code")
    if code_flow and not redirect_uris:
        raise InvalidRedirectURIError("redirect_uris are needed for the authorization code flow")

    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in server_metadata["token_endpoint_auth_methods_supported"]:
        raise InvalidClientMetadataError(
            f"token_endpoint_auth_method must be one of "
            f"{', '.join(server_metadata['token_endpoint_auth_methods_supported'])}")
    if method == "none" and "client_credentials" in grant_types:
        raise InvalidClientMetadataError("grant_types: a public client (none) cannot use "
                                         "client_credentials")
    signing_alg = data.get("token_endpoint_auth_signing_alg")
    if signing_alg is not None and signing_alg not in server_metadata.get(
            "token_endpoint_auth_signing_alg_values_supported", ()):
        raise InvalidClientMetadataError("token_endpoint_auth_signing_alg is not supported")

    scope = data.get("scope")
    if scope is not None:
        if not isinstance(scope, str) or not scope.split():
            raise InvalidClientMetadataError("scope must be a space-separated string")
        unknown = set(scope_to_list(scope)) - set(server_metadata["scopes_supported"])
        if unknown:
            raise InvalidClientMetadataError(f"scope: unsupported {describable(sorted(unknown))}")
        scope = " ".join(dict.fromkeys(scope_to_list(scope)))

    id_token_alg = data.get("id_token_signed_response_alg", "RS256")
    if id_token_alg not in server_metadata["id_token_signing_alg_values_supported"]:
        raise InvalidClientMetadataError(
            "id_token_signed_response_alg must be one of "
            f"{', '.join(server_metadata['id_token_signing_alg_values_supported'])}")
    if data.get("subject_type", "public") != "public":
        raise InvalidClientMetadataError("subject_type: only public is supported")
    for field in UNSUPPORTED_FIELDS:
        if data.get(field) is not None:
            raise InvalidClientMetadataError(f"{field} is not supported")

    backchannel_uri = data.get("backchannel_logout_uri")
    if backchannel_uri is not None:
        problem = _uri_problem(backchannel_uri, "backchannel_logout_uri", fetched=True)
        if problem:
            raise InvalidClientMetadataError(problem)
    for field in BOOLEAN_FIELDS:
        if not isinstance(data.get(field, False), bool):
            raise InvalidClientMetadataError(f"{field} must be true or false")

    jwks, jwks_uri = data.get("jwks"), data.get("jwks_uri")
    if jwks is not None and jwks_uri is not None:
        raise InvalidClientMetadataError("jwks and jwks_uri must not both be present")
    if jwks_uri is not None:
        problem = _uri_problem(jwks_uri, "jwks_uri", fetched=True)
        if problem:
            raise InvalidClientMetadataError(problem)
    if "jwks" in data and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise InvalidClientMetadataError("jwks must be a JWK Set object")
    if method == "private_key_jwt" and jwks is None and jwks_uri is None:
        raise InvalidClientMetadataError("private_key_jwt needs jwks or jwks_uri")
    if method != "private_key_jwt" and (jwks is not None or jwks_uri is not None):
        raise InvalidClientMetadataError("jwks and jwks_uri are only for private_key_jwt")

    # Not a registered metadata name: our per-client FAPI 2.0 profile (``profile``
    # of ``idp clients create``), which the client may ask for itself.
    profile = data.get("profile")
    if profile is not None and profile not in client_service.PROFILES:
        raise InvalidClientMetadataError(
            f"profile must be one of {', '.join(client_service.PROFILES)}")

    name = _string(data, "client_name", 120)
    extra = {}
    for field in DESCRIPTIVE_FIELDS:
        if data.get(field) is None:
            continue
        if field == "contacts":
            extra[field] = _string_list(data, field, [])[:10]
        elif field.endswith("_uri"):
            problem = _uri_problem(data[field], field)
            if problem:
                raise InvalidClientMetadataError(problem)
            extra[field] = data[field]
        else:
            extra[field] = _string(data, field)
    if extra.get("application_type") not in (None, "web", "native"):
        raise InvalidClientMetadataError("application_type must be web or native")

    return {
        "name": name, "redirect_uris": redirect_uris, "post_logout_redirect_uris": post_logout,
        "grant_types": grant_types, "scope": scope, "auth_method": method,
        "id_token_alg": id_token_alg, "jwks": jwks, "jwks_uri": jwks_uri,
        "backchannel_logout_uri": backchannel_uri,
        "backchannel_logout_session_required": data.get("backchannel_logout_session_required",
                                                        False),
        "require_par": data.get("require_pushed_authorization_requests", False),
        "dpop_bound": data.get("dpop_bound_access_tokens", False),
        "profile": profile, "extra": extra or None,
    }


def registered_metadata(client):
    """The client's registration as RFC 7591 3.2.1 states it (never a secret)."""
    data = dict(client.client_metadata)
    data.update(client.extra_metadata or {})
    data.update({
        "client_id": client.client_id,
        "client_id_issued_at": epoch(client.created_at),
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
    })
    if client.backchannel_logout_uri:
        data["backchannel_logout_uri"] = client.backchannel_logout_uri
    if getattr(client, "jwks", None):
        data["jwks"] = client.jwks
    if getattr(client, "jwks_uri", None):
        data["jwks_uri"] = client.jwks_uri
    if getattr(client, "profile", None):
        data["profile"] = client.profile
    if not client.grant_types or "authorization_code" not in client.grant_types:
        data["response_types"] = []
    return {k: v for k, v in data.items() if v is not None}


# -- the endpoints ---------------------------------------------------------------

class SafeJsonPayload(JsonPayload):
    """The JSON body, parsed leniently: a body that is not a JSON object is an
    ``invalid_request`` answer, never an HTML error page."""

    def __init__(self, request):
        self.source = request

    @property
    def data(self):
        body = self.source.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidRequestError("The body must be a JSON object "
                                      "(Content-Type: application/json).")
        return body


def _json_request():
    request = JsonRequest(flask_request.method,
                          current_app.config["ISSUER"] + flask_request.path,
                          flask_request.headers)
    request.payload = SafeJsonPayload(flask_request)
    return request


def _server_metadata():
    return discovery_document(current_app.config["ISSUER"])


class _Validation:
    """Authlib's metadata claims first (URLs, JWK Sets), then ours."""

    claims = [OAuthMetadataClaims, OIDCMetadataClaims]
    software_statement_alg_values_supported = None  # software statements are ignored

    def create_endpoint_request(self, request):
        return _json_request()

    def get_server_metadata(self):
        return _server_metadata()

    def check(self, request):
        data = request.payload.data
        settings = check_metadata(data, self.get_server_metadata())
        try:
            BaseRegistrationEndpoint.extract_client_metadata(self, request)
        except (TypeError, ValueError, AttributeError, KeyError):
            # Authlib's own claim checks trip over some shapes (a null, an
            # empty object): still a refusal, never a 500.
            raise InvalidClientMetadataError("client metadata could not be read") from None
        return settings


class RegistrationEndpoint(_Validation, BaseRegistrationEndpoint):
    def __init__(self, server=None):
        super().__init__(server, claims_classes=_Validation.claims)

    def create_registration_response(self, request):
        token = self.authenticate_token(request)
        try:
            settings = self.check(request)
            client, secret, registration_token = self.save(token, settings)
        except (InvalidClientMetadataError, InvalidRedirectURIError, InvalidRequestError) as e:
            _refuse("client_registration_refused", e.error, token_id=token.id,
                    description=e.get_error_description())
            raise
        body = registered_metadata(client)
        if secret:
            body.update(client_secret=secret, client_secret_expires_at=0)
        body.update(registration_access_token=registration_token,
                    registration_client_uri=client_uri(client))
        return 201, body, default_json_headers

    def authenticate_token(self, request):
        value = _bearer(request)
        token = db.session.execute(db.select(InitialAccessToken).filter_by(
            token_digest=digest(value))).scalar_one_or_none()
        if token is None or token.uses_left < 1 or token.expires_at <= utcnow():
            _refuse("client_registration_refused", "invalid_token",
                    token_id=token.id if token else None)
            raise InvalidTokenError("The initial access token is unknown, expired or used up.")
        return token

    def save(self, token, settings):
        # One use of the token, taken in the transaction that creates the client:
        # of two registrations racing for the last use, one fails.
        used = db.session.execute(
            db.update(InitialAccessToken)
            .where(InitialAccessToken.id == token.id, InitialAccessToken.uses_left > 0,
                   InitialAccessToken.expires_at > utcnow())
            .values(uses_left=InitialAccessToken.uses_left - 1)).rowcount
        if used != 1:
            db.session.rollback()
            raise InvalidTokenError("The initial access token is used up.")
        client_id = client_service.new_client_id()
        try:
            client, secret = client_service.create_client(
                settings["name"] or client_id, settings["redirect_uris"],
                settings["post_logout_redirect_uris"],
                public=settings["auth_method"] == "none", scope=settings["scope"],
                grant_types=settings["grant_types"], first_party=token.first_party,
                id_token_alg=settings["id_token_alg"], client_id=client_id,
                actor=f"registration:{token.id}",
                backchannel_logout_uri=settings["backchannel_logout_uri"],
                backchannel_logout_session_required=settings[
                    "backchannel_logout_session_required"],
                auth_method=settings["auth_method"], jwks=settings["jwks"],
                jwks_uri=settings["jwks_uri"], require_par=settings["require_par"],
                dpop_bound=settings["dpop_bound"], profile=settings["profile"])
        except client_service.ClientError as exc:
            db.session.rollback()
            raise InvalidClientMetadataError(str(exc)) from None
        registration_token = secrets.token_urlsafe(32)
        client.registration_token_digest = digest(registration_token)
        client.extra_metadata = settings["extra"]
        audit.record("client_registered", actor=f"registration:{token.id}", commit=False,
                     ip=flask_request.remote_addr, client_id=client.client_id,
                     first_party=token.first_party)
        db.session.commit()
        return client, secret, registration_token


class RegistrationAccessToken:
    """The registration access token presented, once it matched its client."""

    def __init__(self, client, value):
        self.client, self.value = client, value

    def check_client(self, client):
        return client.client_id == self.client.client_id


class ConfigurationEndpoint(_Validation, BaseConfigurationEndpoint):
    def __init__(self, server=None):
        super().__init__(server, claims_classes=_Validation.claims)

    def authenticate_token(self, request):
        value = _bearer(request)
        client = self.authenticate_client(request)
        expected = client.registration_token_digest if client else None
        # A wrong token and an unknown client look the same (no enumeration).
        if not expected or not hmac.compare_digest(expected, digest(value)):
            _refuse("client_configuration_refused", "invalid_token",
                    client_id=client.client_id if client else None)
            raise InvalidTokenError("The registration access token is not valid "
                                    "for this client.")
        return RegistrationAccessToken(client, value)

    def authenticate_client(self, request):
        client_id = flask_request.view_args.get("client_id", "")
        if not client_id or len(client_id) > 64 or not client_id.isprintable():
            return None
        return client_service.get_client(client_id)

    def revoke_access_token(self, request, token):
        pass  # unreachable: the token is only found through its client

    def check_permission(self, client, request):
        return True

    def introspect_client(self, client):
        return registered_metadata(client)

    def generate_client_registration_info(self, client, request):
        info = {"registration_client_uri": client_uri(client),
                "registration_access_token": request.credential.value}
        if getattr(request, "new_secret", None):
            info.update(client_secret=request.new_secret, client_secret_expires_at=0)
        return info

    def create_read_client_response(self, client, request):
        if request.method == "GET":
            audit.record("client_registration_read", actor=f"client:{client.client_id}",
                         ip=flask_request.remote_addr, client_id=client.client_id)
        return super().create_read_client_response(client, request)

    def extract_client_metadata(self, request):
        try:
            return self.check(request)
        except (InvalidClientMetadataError, InvalidRedirectURIError, InvalidRequestError) as e:
            _refuse("client_update_refused", e.error, client_id=request.client.client_id,
                    description=e.get_error_description())
            raise

    def update_client(self, client, settings, request):
        """RFC 7592 2.2: the request replaces the whole registration; what it
        leaves out returns to its default."""
        try:
            security = client_service.client_security(
                public=settings["auth_method"] == "none", auth_method=settings["auth_method"],
                jwks=settings["jwks"], jwks_uri=settings["jwks_uri"],
                require_par=settings["require_par"], dpop_bound=settings["dpop_bound"],
                profile=settings["profile"], id_token_alg=settings["id_token_alg"])
        except client_service.ClientError as exc:
            raise InvalidClientMetadataError(str(exc)) from None
        request.new_secret = None
        if security["token_endpoint_auth_method"] in SECRET_METHODS:
            if client.secret_digest is None:  # becomes confidential: a first secret
                request.new_secret = secrets.token_urlsafe(32)
                client.secret_digest = digest(request.new_secret)
        else:
            client.secret_digest = None
        for column, value in security.items():
            setattr(client, column, value)
        client.name = settings["name"] or client.client_id
        client.redirect_uris = settings["redirect_uris"]
        client.post_logout_redirect_uris = settings["post_logout_redirect_uris"]
        client.grant_types = settings["grant_types"]
        client.scope = settings["scope"] or " ".join(client_service.SCOPES_SUPPORTED)
        client.id_token_signed_response_alg = settings["id_token_alg"]
        client.backchannel_logout_uri = settings["backchannel_logout_uri"]
        client.backchannel_logout_session_required = settings[
            "backchannel_logout_session_required"]
        client.extra_metadata = settings["extra"]
        audit.record("client_updated", actor=f"client:{client.client_id}", commit=False,
                     ip=flask_request.remote_addr, client_id=client.client_id,
                     new_secret=request.new_secret is not None)
        db.session.commit()
        current_app.extensions["idp_clients"].forget()
        return client

    def delete_client(self, client, request):
        client_service.delete_client(client, actor=f"client:{client.client_id}")


def _server():
    # The app's authorization server, as server.py stores it (importing server.py
    # here would be a cycle: it imports this module to register the endpoints).
    return current_app.extensions["idp_oauth"]


def client_uri(client):
    return f"{current_app.config['ISSUER']}/connect/register/{client.client_id}"


@bp.post("/connect/register")
def register():
    return _server().create_endpoint_response("client_registration")


@bp.route("/connect/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id):
    return _server().create_endpoint_response("client_configuration")


def init_app(app, server):
    server.register_endpoint(RegistrationEndpoint())
    server.register_endpoint(ConfigurationEndpoint())
    csrf.exempt(bp)  # bearer-token JSON API: no cookies, no CSRF
    app.register_blueprint(bp)
