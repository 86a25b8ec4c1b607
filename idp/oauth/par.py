"""Pushed authorization requests (RFC 9126).

The client POSTs its authorization request to ``/par``, authenticated as at the
token endpoint; we validate it as ``/authorize`` would and keep it in the
shared store under a random ``request_uri`` that lives ``PAR_TTL`` seconds and
can be used once, by that client only. ``/authorize?client_id=…&request_uri=…``
then carries on with exactly the pushed parameters: anything else in the
browser's URL is ignored, so nobody on the front channel can change them.

Two pieces, as Authlib builds its RFC modules: an endpoint registered on the
server, and an extension that hooks ``get_authorization_grant`` to swap the
pushed parameters in (after RFC 9101's ``JWTAuthenticationRequest``)."""

import secrets
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc9101.errors import InvalidRequestUriError, RequestNotSupportedError
from flask import current_app
from werkzeug.datastructures import MultiDict

from ..extensions import store
from ..store import get_json, pop_json, set_json
from .client_auth import ALL_METHODS
from .dpop import InvalidDPoPProofError, proof_header, verify_proof
from .models import digest
from .payloads import ParamsPayload, ResolvedAuthorizationRequest
from .syntax import describable, syntax_problem

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def par_required(client):
    """Whether this client may only use pushed authorization requests."""
    return bool(current_app.config["REQUIRE_PAR"] or client.require_pushed_authorization_requests
                or client.fapi2)


class PushedPayload(ParamsPayload):
    """The parameters of a pushed request, in place of the browser's; ``pushed``
    keeps them as stored (``{name: [values]}``) for the interaction."""

    def __init__(self, pushed):
        super().__init__(MultiDict(pushed))
        self.pushed = pushed


@dataclass
class PushedAuthorizationRequest(EndpointRequest):
    params: dict = field(default_factory=dict)


class PushedAuthorizationEndpoint(Endpoint):
    """``POST /par``: answers ``201 {"request_uri", "expires_in"}``."""

    ENDPOINT_NAME = "pushed_authorization"
    CLIENT_AUTH_METHODS = ALL_METHODS

    def validate_request(self, request):
        client = self.server.authenticate_client(request, self.CLIENT_AUTH_METHODS,
                                                 self.ENDPOINT_NAME)
        request.client = client
        form = request.form
        if form.get("client_id") not in (None, client.client_id):
            raise InvalidRequestError("client_id is not the authenticated client.")
        if "request_uri" in form:
            raise InvalidRequestError("request_uri cannot be pushed (RFC 9126 2.1).")
        if "request" in form:
            raise RequestNotSupportedError()
        if client.fapi2 and not form.get("redirect_uri"):
            # FAPI 2.0 5.3.2.2: the redirect URI is always pushed.
            raise InvalidRequestError("redirect_uri is required in pushed requests.")
        params = {k: form.getlist(k) for k in form
                  if k not in ("client_assertion", "client_assertion_type", "client_secret")}
        params["client_id"] = [client.client_id]
        # The same rules as at /authorize: no repeated parameters (RFC 6749 3.1),
        # and each in its syntax (quoted safely in the error).
        repeated = sorted(k for k, values in params.items() if len(values) > 1 and k != "resource")
        if repeated:
            raise InvalidRequestError(f"Repeated parameters: {describable(repeated)}.")
        bad = syntax_problem(params)
        if bad is not None:
            raise InvalidRequestError(f"The {bad} parameter has characters its syntax does not "
                                      "allow.")
        self._bind_code(request, params)
        # Validated as /authorize would (client, redirect URI, response type,
        # scope, PKCE, nonce); the person's part comes at /authorize.
        pushed = ResolvedAuthorizationRequest(MultiDict(params),
                                              current_app.config["ISSUER"] + "/authorize")
        try:
            self.server.get_consent_grant(request=pushed)
        except OAuth2Error as error:
            error.redirect_uri = None  # answered here, never by redirect
            raise
        return PushedAuthorizationRequest(request=request, client=client, params=params)

    def _bind_code(self, request, params):
        """RFC 9449 10: a DPoP proof (or ``dpop_jkt``) here binds the code to that key."""
        proof = proof_header(request.headers)
        if proof is None:
            return
        jkt = verify_proof(proof, "POST", request.uri,
                           require_nonce=current_app.config["DPOP_REQUIRE_NONCE"])
        if params.get("dpop_jkt", [jkt]) != [jkt]:
            raise InvalidDPoPProofError(description="dpop_jkt is not the proof's key.")
        params["dpop_jkt"] = [jkt]

    def create_response(self, validated):
        ttl = current_app.config["PAR_TTL"]
        reference = secrets.token_urlsafe(32)
        set_json(store(), "par:" + digest(reference),
                 {"client_id": validated.client.client_id, "params": validated.params}, ttl)
        body = {"request_uri": REQUEST_URI_PREFIX + reference, "expires_in": ttl}
        return 201, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


class PushedAuthorizationRequests:
    """Authorization server extension: ``/authorize`` with a ``request_uri``
    uses the pushed request (once); clients that must push are refused
    ``invalid_request`` when they do not."""

    def __call__(self, server):
        server.register_hook("before_get_authorization_grant", self.resolve)

    def resolve(self, server, request):
        if isinstance(request, ResolvedAuthorizationRequest):
            return  # a pushed request being validated, or one resumed after login
        payload = request.payload
        client = server.query_client(payload.client_id)
        request_uri = payload.data.get("request_uri")
        if request_uri is None:
            if client is not None and par_required(client):
                raise InvalidRequestError(
                    "This client must push its authorization requests (RFC 9126).",
                    state=payload.state)
            return
        if not request_uri.startswith(REQUEST_URI_PREFIX):
            return  # a request object by reference: refused later (request_uri_not_supported)
        params = self._take(request_uri, client)
        request.payload = PushedPayload(params)  # Authlib's documented payload slot

    def _take(self, request_uri, client):
        if client is None or len(request_uri) > 200:
            raise InvalidRequestUriError()
        key = "par:" + digest(request_uri[len(REQUEST_URI_PREFIX):])
        data = get_json(store(), key)
        if data is None or data["client_id"] != client.client_id:
            raise InvalidRequestUriError(description="The request_uri is unknown, expired, "
                                                     "already used or another client's.")
        data = pop_json(store(), key)  # single use: of two racing requests one wins
        if data is None:
            raise InvalidRequestUriError(description="The request_uri was already used.")
        return data["params"]
