"""The discovery document is built from what the server registered, and it is
valid by Authlib's own metadata models (OIDC Discovery 1.0, RFC 8414, RFC 9207,
RP-Initiated Logout)."""

import json

import pytest
from authlib.oauth2 import rfc8414, rfc9207
from authlib.oauth2.rfc7523 import JWTBearerGrant
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata

from idp.oauth import client_auth, dpop, grants
from idp.oauth.metadata import discovery_document
from idp.signing import ALGORITHMS

EXTENSIONS = [rfc9207.AuthorizationServerMetadata, rpinitiated.OpenIDProviderMetadata]


def served(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    return json.loads(response.data)


def test_the_served_document_is_valid_openid_provider_metadata(client):
    document = served(client)
    OpenIDProviderMetadata(document).validate(metadata_classes=EXTENSIONS)
    rfc8414.AuthorizationServerMetadata(document).validate(metadata_classes=EXTENSIONS)


def test_the_document_of_an_https_issuer_is_valid(app):
    document = discovery_document("https://prijava.example.si")
    OpenIDProviderMetadata(document).validate(metadata_classes=EXTENSIONS)
    assert document["token_endpoint"] == "https://prijava.example.si/token"
    assert document["end_session_endpoint"] == "https://prijava.example.si/logout"


def test_an_invalid_document_is_caught_by_the_validation(app):
    # The check above would catch a broken list: Authlib refuses, for example,
    # private_key_jwt without its signing algorithms.
    document = discovery_document("https://prijava.example.si")
    del document["token_endpoint_auth_signing_alg_values_supported"]
    with pytest.raises(ValueError) as caught:
        OpenIDProviderMetadata(document).validate()
    assert str(caught.value) == ('"token_endpoint_auth_signing_alg_values_supported" '
                                 'is required')


def test_the_lists_are_those_of_the_registered_grants_methods_and_algorithms(client):
    document = served(client)
    assert document["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials"]
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == grants.PKCE.SUPPORTED_CODE_CHALLENGE_METHOD
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    assert document["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    assert document["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt"]
    for endpoint in ("token", "revocation", "introspection"):
        assert (document[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
                == client_auth.ASSERTION_ALGS)
    assert document["id_token_signing_alg_values_supported"] == list(ALGORITHMS) == [
        "RS256", "ES256"]
    assert document["dpop_signing_alg_values_supported"] == dpop.ALGORITHMS
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["pushed_authorization_request_endpoint"] == "http://localhost:5000/par"
    assert document["require_pushed_authorization_requests"] is False


def test_a_grant_registered_on_the_server_is_announced(app, monkeypatch):
    server = app.extensions["idp_oauth"]
    monkeypatch.setattr(server, "registered_grants",
                        [*server.registered_grants, (JWTBearerGrant, [])])
    assert discovery_document("https://prijava.example.si")["grant_types_supported"] == [
        "authorization_code", "refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_an_authentication_method_the_server_cannot_check_is_not_announced(app, monkeypatch):
    server = app.extensions["idp_oauth"]
    monkeypatch.setattr(server, "client_auth_methods",
                        [m for m in server.client_auth_methods if m != "private_key_jwt"])
    document = discovery_document("https://prijava.example.si")
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    assert document["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in document
    assert "introspection_endpoint_auth_signing_alg_values_supported" not in document
    OpenIDProviderMetadata(document).validate(metadata_classes=EXTENSIONS)


def test_an_endpoint_not_registered_is_not_announced(app, monkeypatch):
    server = app.extensions["idp_oauth"]
    endpoints = {name: endpoint for name, endpoint in server.registered_endpoints.items()
                 if name not in ("pushed_authorization", "revocation")}
    monkeypatch.setattr(server, "registered_endpoints", endpoints)
    document = discovery_document("https://prijava.example.si")
    for key in ("pushed_authorization_request_endpoint", "require_pushed_authorization_requests",
                "revocation_endpoint", "revocation_endpoint_auth_methods_supported",
                "revocation_endpoint_auth_signing_alg_values_supported"):
        assert key not in document
    assert document["introspection_endpoint"] == "https://prijava.example.si/introspect"
    OpenIDProviderMetadata(document).validate(metadata_classes=EXTENSIONS)
