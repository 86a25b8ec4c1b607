"""Resource indicators (RFC 8707): an access token for one resource server.

A client names the API it wants a token for with ``resource`` (at
``/authorize``, at ``/token``, or both); the token's audience (``aud`` in
introspection) is then that API, which refuses tokens meant for anyone else.
Only the resource servers configured in ``IDP_RESOURCES`` can be named, one
per token; anything else is ``invalid_target``."""

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import current_app


class InvalidTargetError(OAuth2Error):
    error = "invalid_target"
    status_code = 400


def requested_resource(values, **error_args):
    """The one resource asked for in ``values`` (a list), or None."""
    values = [v for v in values or () if v is not None]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTargetError("One resource per access token.", **error_args)
    if values[0] not in current_app.config["RESOURCES"]:
        raise InvalidTargetError("Unknown resource.", **error_args)
    return values[0]


class ResourceIndicators:
    """Authorization server mixin: the ``resource`` of token requests."""

    def create_token_response(self, request=None):
        request = self.create_oauth2_request(request)
        try:
            request.resource = requested_resource(request.form.getlist("resource"))
        except OAuth2Error as error:
            return self.handle_error_response(request, error)
        return super().create_token_response(request)


def token_audience(request):
    return getattr(request, "resource", None)
