"""Resource indicators (RFC 8707): a token asked for the payment API has that
audience; unknown or unauthorized resources are invalid_target."""

import pytest
from werkzeug.datastructures import MultiDict

API = "https://ebank.example/api"


@pytest.fixture(autouse=True)
def resources(app):
    app.config["RESOURCES"] = [API, "https://other.example/api"]


def introspect(client, rp, access_token):
    return client.post("/introspect", data={"token": access_token},
                       auth=(rp.client_id, rp.secret)).get_json()


def test_token_for_a_resource_has_its_audience(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret,
                        resource=API).get_json()
    assert introspect(client, rp, tokens["access_token"])["aud"] == API


def test_resource_named_at_authorize_carries_to_the_token(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si", resource=API)["code"],
                        secret=rp.secret).get_json()
    assert introspect(client, rp, tokens["access_token"])["aud"] == API


def test_without_resource_the_audience_is_the_client(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    assert introspect(client, rp, tokens["access_token"])["aud"] == rp.client_id


def test_unknown_resource_at_the_token_endpoint(client, flow, rp, ana):
    f = flow(rp)
    response = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret,
                          resource="https://evil.example/api")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_resource_other_than_the_authorized_one(client, flow, rp, ana):
    f = flow(rp)
    response = f.exchange(f.code("ana@example.si", resource=API)["code"], secret=rp.secret,
                          resource="https://other.example/api")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_unknown_resource_at_authorize_is_answered_to_the_rp(client, flow, rp, ana_person):
    reply, location = flow(rp).follow_to_rp(flow(rp).start(resource="https://evil.example/"))
    assert location.startswith("https://rp.example/cb?")
    assert reply["error"] == "invalid_target"


def test_two_resources_for_one_token(client, flow, rp, ana):
    f = flow(rp)
    code = f.code("ana@example.si")["code"]
    response = client.post("/token", data=MultiDict([
        ("grant_type", "authorization_code"), ("code", code),
        ("redirect_uri", rp.redirect_uris[0]), ("code_verifier", f.verifier),
        ("resource", API), ("resource", "https://other.example/api")]),
        auth=(rp.client_id, rp.secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_a_refresh_keeps_to_the_resource_it_was_authorized_for(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si", resource=API)["code"],
                        secret=rp.secret).get_json()
    other = client.post("/token", auth=(rp.client_id, rp.secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "resource": "https://other.example/api"})
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_target"
    same = client.post("/token", auth=(rp.client_id, rp.secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert same.status_code == 200
    assert introspect(client, rp, same.get_json()["access_token"])["aud"] == API
    again = client.post("/token", auth=(rp.client_id, rp.secret), data={
        "grant_type": "refresh_token", "refresh_token": same.get_json()["refresh_token"],
        "resource": "https://other.example/api"})
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_target"
