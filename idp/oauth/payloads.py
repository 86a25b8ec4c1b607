"""The requests we hand to Authlib, built through its public interface.

Authlib documents ``OAuth2Request(method, uri, headers=...)`` with a
``payload`` that implements ``OAuth2Payload`` (``data`` and ``datalist``), and
``args``/``form`` for the grants that read them. Every request the server sees
is one of these: the live Flask request (``AuthorizationServer.
create_oauth2_request``), a request pushed to ``/par`` being validated, and an
authorization request resumed from the store after login or consent."""

from functools import cached_property

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from werkzeug.datastructures import CombinedMultiDict, MultiDict


class ParamsPayload(OAuth2Payload):
    """The parameters of a request (a ``MultiDict``), as Authlib reads them."""

    def __init__(self, params):
        self.params = params

    @property
    def data(self):
        return self.params

    @cached_property
    def datalist(self):
        return {key: self.params.getlist(key) for key in self.params}


class ParamsRequest(OAuth2Request):
    """An OAuth request whose query and form parameters are already parsed,
    merged once for Authlib's payload rather than at every lookup."""

    # Set at the token endpoint (resources.ResourceIndicators, dpop.check_token_request)
    # and read by the grants and save_token: declared here, not added to Authlib's class.
    resource = None  # RFC 8707 resource indicator
    dpop_jkt = None  # RFC 9449: thumbprint of the proof's key

    def __init__(self, method, uri, headers=None, args=None, form=None):
        super().__init__(method, uri, headers=headers)
        self.query_params = MultiDict() if args is None else args
        self.form_params = MultiDict() if form is None else form
        self.payload = ParamsPayload(
            CombinedMultiDict([self.query_params, self.form_params]) if self.form_params
            else self.query_params)

    @property
    def args(self):
        return self.query_params

    @property
    def form(self):
        return self.form_params


class ResolvedAuthorizationRequest(ParamsRequest):
    """An authorization request whose parameters are final: a pushed request
    being validated at ``/par``, or a paused one resumed from the store. The
    PAR extension (``par.PushedAuthorizationRequests``) leaves it alone."""

    def __init__(self, params, uri):
        super().__init__("GET", uri, args=params)
