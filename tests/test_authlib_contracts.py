"""idp/oauth uses Authlib through what it documents: no private attribute of
Authlib's requests, payloads, server, client authentication, hooks, resource
protector or grants is read or set (an Authlib upgrade may rename them
silently), and the requests handed to Authlib are its public OAuth2Request."""

import pathlib
import re

import authlib
import pytest
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from werkzeug.datastructures import MultiDict

from idp.oauth import grants, par
from idp.oauth.payloads import ParamsPayload, ParamsRequest, ResolvedAuthorizationRequest

AUTHLIB = pathlib.Path(authlib.__file__).parent
OAUTH = pathlib.Path(__file__).parent.parent / "idp" / "oauth"
AUTHLIB_MODULES = [
    "oauth2/rfc6749/requests.py", "oauth2/rfc6749/authorization_server.py",
    "oauth2/rfc6749/authenticate_client.py", "oauth2/rfc6749/hooks.py",
    "oauth2/rfc6749/resource_protector.py", "oauth2/rfc6749/grants/base.py",
    "integrations/flask_oauth2/requests.py", "integrations/flask_oauth2/authorization_server.py",
    "integrations/flask_oauth2/resource_protector.py", "oidc/core/userinfo.py",
]


def authlib_private_attributes():
    names = set()
    for module in AUTHLIB_MODULES:
        names |= set(re.findall(r"self\.(_[a-z]\w*)\s*=", (AUTHLIB / module).read_text()))
    return names


def test_no_private_attribute_of_authlib_is_used():
    private = authlib_private_attributes()
    assert {"_data", "_datalist", "_request", "_endpoints", "_extensions"} <= private
    uses = [f"{path.name}:{number}: {line.strip()}"
            for path in sorted(OAUTH.glob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            for name in re.findall(r"\.(_[a-z]\w*)\b", line) if name in private]
    assert uses == []


def test_the_requests_are_authlibs_public_request_and_payload():
    args = MultiDict([("scope", "openid"), ("resource", "https://a.example"),
                      ("resource", "https://b.example")])
    request = ParamsRequest("POST", "https://prijava.example.si/token", headers={},
                            form=args)
    assert isinstance(request, OAuth2Request)
    assert isinstance(request.payload, OAuth2Payload)
    assert request.payload.scope == "openid"
    assert request.payload.datalist == {"scope": ["openid"],
                                        "resource": ["https://a.example", "https://b.example"]}
    assert request.form is args
    assert request.args == MultiDict()
    assert (request.resource, request.dpop_jkt) == (None, None)  # declared, not smuggled


def test_a_pushed_payload_keeps_the_pushed_parameters():
    pushed = {"client_id": ["rp"], "scope": ["openid email"]}
    payload = par.PushedPayload(pushed)
    assert isinstance(payload, ParamsPayload)
    assert payload.pushed is pushed
    assert payload.client_id == "rp"
    assert payload.datalist == pushed


def test_a_resolved_request_is_left_alone_by_the_par_extension():
    request = ResolvedAuthorizationRequest(MultiDict({"request_uri": "urn:x"}),
                                           "https://prijava.example.si/authorize")
    # No server, no store needed: the extension returns before it looks.
    assert par.PushedAuthorizationRequests().resolve(None, request) is None


def test_the_login_context_is_declared_on_the_grant():
    assert grants.AuthorizationCodeGrant.login is None
    assert [f for f in grants.LoginContext.__dataclass_fields__] == [
        "sid", "auth_time", "acr", "amr", "family"]


def test_a_code_is_never_saved_without_a_login():
    request = ParamsRequest("GET", "https://prijava.example.si/authorize")
    grant = grants.AuthorizationCodeGrant(request, None)
    with pytest.raises(RuntimeError) as caught:
        grant.save_authorization_code("code", request)
    assert str(caught.value) == ("A code is issued only for a login "
                                 "(authorize.py sets grant.login).")
