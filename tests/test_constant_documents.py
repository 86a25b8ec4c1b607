"""Discovery and the JWKS as prepared bytes (idp/oauth/documents.py): validators,
caching, conditional requests, and the same answers as the Flask views."""

import json

import pytest

ISSUER = "http://localhost:5000"
DOCUMENTS = [("/.well-known/openid-configuration", 3600), ("/jwks.json", 300)]


@pytest.mark.parametrize("path,max_age", DOCUMENTS)
def test_documents_carry_an_etag_cache_control_and_cors(client, path, max_age):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == f"public, max-age={max_age}"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Length"] == str(len(response.get_data()))
    assert response.headers["X-Request-ID"]  # still inside the ops layer
    assert client.get(path).headers["ETag"] == etag  # the same bytes, the same tag


@pytest.mark.parametrize("path,max_age", DOCUMENTS)
@pytest.mark.parametrize("if_none_match", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
def test_a_matching_if_none_match_gets_304_without_a_body(client, path, max_age,
                                                          if_none_match):
    etag = client.get(path).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": if_none_match.format(tag=etag)})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == f"public, max-age={max_age}"


@pytest.mark.parametrize("path,max_age", DOCUMENTS)
@pytest.mark.parametrize("if_none_match", ['"stale"', "", 'W/"stale", "older"'])
def test_another_tag_gets_the_whole_document(client, path, max_age, if_none_match):
    response = client.get(path, headers={"If-None-Match": if_none_match})
    assert response.status_code == 200
    assert json.loads(response.get_data())


@pytest.mark.parametrize("path,max_age", DOCUMENTS)
def test_head_answers_the_headers_only(client, path, max_age):
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Content-Length"] == got.headers["Content-Length"]


@pytest.mark.parametrize("path,max_age", DOCUMENTS)
def test_other_methods_and_hosts_are_answered_as_before(client, path, max_age):
    assert client.post(path).status_code == 405
    assert client.get(path, headers={"Host": "evil.example"}).status_code == 400


def test_discovery_is_the_document_of_the_settings(app, client):
    from idp.oauth.views import discovery_document

    with app.app_context():
        expected = discovery_document(ISSUER)
    assert client.get("/.well-known/openid-configuration").get_json() == expected


def test_a_rotation_changes_the_jwks_and_its_etag_at_once(app, client):
    before = client.get("/jwks.json")
    app.extensions["idp_keys"].rotate()
    after = client.get("/jwks.json")
    assert after.headers["ETag"] != before.headers["ETag"]
    old_kids = {key["kid"] for key in before.get_json()["keys"]}
    new_kids = {key["kid"] for key in after.get_json()["keys"]}
    assert old_kids < new_kids  # the old keys stay published beside the new ones
    stale = client.get("/jwks.json", headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200 and stale.get_json() == after.get_json()
