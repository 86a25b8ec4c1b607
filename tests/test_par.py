"""Pushed authorization requests (RFC 9126): the endpoint, request_uri use at
/authorize (once, by its client, before it expires, with nothing overridden),
and clients (or a server) that require them."""

import time

import pytest

PREFIX = "urn:ietf:params:oauth:request_uri:"


def push(client, rp, params, auth=True):
    return client.post("/par", data=params, auth=(rp.client_id, rp.secret) if auth else None)


def authorize_with(client, client_id, request_uri, **extra):
    return client.get("/authorize", query_string={"client_id": client_id,
                                                  "request_uri": request_uri, **extra})


def error_page(response):
    assert response.status_code == 400, response.status_code
    return response.get_data(as_text=True)


def test_discovery_advertises_par(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["pushed_authorization_request_endpoint"] == "http://localhost:5000/par"
    assert doc["require_pushed_authorization_requests"] is False


def test_pushed_request_gives_a_code(client, flow, rp, ana):
    f = flow(rp)
    params = f.params(state="pushed-state")
    response = push(client, rp, params)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["expires_in"] == 60 and body["request_uri"].startswith(PREFIX)
    assert len(body["request_uri"]) > len(PREFIX) + 40
    reply, location = f.follow_to_rp(f.login(
        authorize_with(client, rp.client_id, body["request_uri"]), "ana@example.si"))
    assert location.startswith("https://rp.example/cb?")
    assert reply["state"] == "pushed-state" and reply["iss"] == "http://localhost:5000"
    tokens = f.exchange(reply["code"], secret=rp.secret)
    assert tokens.status_code == 200 and tokens.get_json()["id_token"]


def test_request_uri_is_single_use(client, flow, rp, ana_person):
    f = flow(rp)
    request_uri = push(client, rp, f.params()).get_json()["request_uri"]
    reply, _ = f.follow_to_rp(authorize_with(client, rp.client_id, request_uri))
    assert "code" in reply
    again = error_page(authorize_with(client, rp.client_id, request_uri))
    assert "invalid_request_uri" in again


def test_expired_request_uri(app, client, flow, rp, ana_person):
    app.config["PAR_TTL"] = 1
    f = flow(rp)
    body = push(client, rp, f.params()).get_json()
    assert body["expires_in"] == 1
    time.sleep(2.1)
    assert "invalid_request_uri" in error_page(
        authorize_with(client, rp.client_id, body["request_uri"]))


def test_request_uri_of_another_client(client, flow, rp, make_client, ana_person):
    other, _ = make_client(name="Drugi")
    request_uri = push(client, rp, flow(rp).params()).get_json()["request_uri"]
    assert "invalid_request_uri" in error_page(
        authorize_with(client, other.client_id, request_uri))
    # The wrong client's try did not spend it: its own client can still use it.
    reply, _ = flow(rp).follow_to_rp(authorize_with(client, rp.client_id, request_uri))
    assert "code" in reply


@pytest.mark.parametrize("request_uri", [PREFIX + "unknown", PREFIX, PREFIX + "x" * 300])
def test_unknown_request_uri(client, rp, ana_person, request_uri):
    assert "invalid_request_uri" in error_page(
        authorize_with(client, rp.client_id, request_uri))


def test_request_uri_of_an_unknown_client(client, flow, rp, ana_person):
    request_uri = push(client, rp, flow(rp).params()).get_json()["request_uri"]
    assert "invalid_request_uri" in error_page(authorize_with(client, "nobody", request_uri))


def test_other_request_uris_are_not_supported(client, flow, rp, ana_person):
    # A request object by reference (OIDC Core 6.2) is not a pushed request.
    response = flow(rp).start(request_uri="https://rp.example/request.jwt")
    reply, _ = flow(rp).follow_to_rp(response)
    assert reply["error"] == "request_uri_not_supported"


def test_front_channel_parameters_cannot_override_pushed_ones(client, flow, rp, make_client,
                                                              ana_person):
    f = flow(rp)
    request_uri = push(client, rp, f.params(scope="openid", state="s1")).get_json()[
        "request_uri"]
    response = authorize_with(client, rp.client_id, request_uri,
                              redirect_uri="https://evil.example/cb", scope="openid email phone",
                              state="evil", code_challenge="A" * 43, response_type="token")
    reply, location = f.follow_to_rp(response)
    assert location.startswith("https://rp.example/cb?") and reply["state"] == "s1"
    tokens = f.exchange(reply["code"], secret=rp.secret).get_json()
    assert tokens["scope"] == "openid"


def test_client_that_requires_par_is_refused_a_plain_request(client, flow, make_client,
                                                             ana_person):
    strict, secret = make_client(require_par=True)
    page = error_page(flow(strict).start())
    assert "invalid_request" in page and "push" in page


def test_server_wide_par_requirement(app, client, flow, rp, ana_person):
    app.config["REQUIRE_PAR"] = True
    app.extensions.pop("idp_discovery", None)
    assert "invalid_request" in error_page(flow(rp).start())
    assert client.get("/.well-known/openid-configuration").get_json()[
        "require_pushed_authorization_requests"] is True
    request_uri = push(client, rp, flow(rp).params()).get_json()["request_uri"]
    reply, _ = flow(rp).follow_to_rp(authorize_with(client, rp.client_id, request_uri))
    assert "code" in reply


def test_par_needs_client_authentication(client, flow, rp):
    response = push(client, rp, flow(rp).params(), auth=False)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    wrong = client.post("/par", data=flow(rp).params(), auth=(rp.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"


def test_par_public_client_pushes_with_pkce(client, flow, make_client, ana_person):
    public, _ = make_client(public=True)
    f = flow(public)
    response = client.post("/par", data=f.params())
    assert response.status_code == 201
    reply, _ = f.follow_to_rp(authorize_with(client, public.client_id,
                                             response.get_json()["request_uri"]))
    assert f.exchange(reply["code"]).status_code == 200
    no_pkce = client.post("/par", data=f.params(code_challenge=None,
                                                code_challenge_method=None))
    assert no_pkce.status_code == 400 and no_pkce.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("change, error", [
    ({"request_uri": PREFIX + "abc"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"client_id": "someone-else"}, "invalid_request"),
])
def test_par_refuses_bad_requests_without_redirecting(client, flow, rp, change, error):
    response = push(client, rp, {**flow(rp).params(), **change})
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert "Location" not in response.headers


def test_par_is_post_only(client):
    assert client.get("/par").status_code == 405


@pytest.mark.parametrize("extra", [
    [("scope", "openid"), ("scope", "openid email")],           # repeated (RFC 6749 3.1)
    [("response_type", 'code"')], [("redirect_uri", "https://rp.example/cb\\")],
    [('x"\\', "1"), ('x"\\', "2")],
])
def test_pushed_requests_follow_the_authorization_endpoints_rules(client, flow, rp, extra):
    params = [(k, v) for k, v in flow(rp).params().items() if k not in dict(extra)]
    from werkzeug.datastructures import MultiDict

    response = client.post("/par", data=MultiDict(params + extra), auth=(rp.client_id, rp.secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
