"""Regression tests for problems found in review: each would have been a way in,
a silently ignored requirement, or a 500."""


import pytest

from helpers import csrf_token, query_of
from people import Person


def log_in(client, email):
    return Person(client, email).login()


def test_a_strangers_id_token_does_not_log_anyone_out(app, client, flow, rp, ana, make_user):
    make_user(email="mallory@example.si")
    attacker = app.test_client()
    f = flow(rp)
    f.http = attacker
    mallory_tokens = f.exchange(f.code("mallory@example.si")["code"], secret=rp.secret).get_json()
    log_in(client, "ana@example.si")
    page = client.get("/logout", query_string={"id_token_hint": mallory_tokens["id_token"],
                                                "post_logout_redirect_uri": "https://rp.example/bye"})
    assert page.status_code == 200 and "Se želite odjaviti?" in page.get_data(as_text=True)
    assert client.get("/").status_code == 200  # Ana is still logged in


@pytest.mark.parametrize("param, error", [("request", "request_not_supported"),
                                          ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_not_ignored(client, flow, rp, param, error):
    response = flow(rp).start(**{param: "eyJhbGciOiJub25lIn0.e30."})
    assert query_of(response.headers["Location"])["error"] == error


@pytest.mark.parametrize("name", ["nonce", "acr_values", "prompt", "max_age", "claims"])
def test_repeated_parameters_are_refused(client, flow, rp, name):
    query = flow(rp).params()
    pairs = list(query.items()) + [(name, "1"), (name, "2")]
    response = client.get("/authorize?" + "&".join(f"{k}={v}" for k, v in pairs))
    reply = query_of(response.headers["Location"])
    assert reply["error"] == "invalid_request" and name in reply["error_description"]


def test_deactivated_person_tokens_stop_working(client, flow, rp, ana):
    from idp.extensions import db

    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    ana.active = False
    db.session.commit()
    for token in (tokens["access_token"], tokens["refresh_token"]):
        record = client.post("/introspect", data={"token": token},
                             auth=(rp.client_id, rp.secret)).get_json()
        assert record == {"active": False}
    refresh = client.post("/token", data={"grant_type": "refresh_token",
                                          "refresh_token": tokens["refresh_token"]},
                          auth=(rp.client_id, rp.secret))
    assert refresh.get_json()["error"] == "invalid_grant"


def test_post_authorization_request_continues_as_get(client, flow, rp, ana):
    f = flow(rp)
    params = f.params()
    response = client.post("/authorize", data=params)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/authorize?")
    reply, _ = f.follow_to_rp(f.login(client.get(response.headers["Location"]),
                                      "ana@example.si"))
    assert reply["state"] == params["state"] and "code" in reply


def test_narrower_refresh_scope_does_not_shrink_the_grant(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si", scope="openid email")["code"],
                        secret=rp.secret).get_json()

    def refresh(token, scope=None):
        data = {"grant_type": "refresh_token", "refresh_token": token}
        if scope:
            data["scope"] = scope
        return client.post("/token", data=data, auth=(rp.client_id, rp.secret)).get_json()

    narrow = refresh(tokens["refresh_token"], "openid")
    assert narrow["scope"] == "openid"
    wide_again = refresh(narrow["refresh_token"], "openid email")
    assert wide_again["scope"] == "openid email"


def test_a_new_login_ends_the_previous_session_of_the_browser(client, flow, rp, ana, make_user):
    make_user(email="bor@example.si")
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    assert log_in(client, "bor@example.si").status_code == 302
    record = client.post("/introspect", data={"token": tokens["refresh_token"]},
                         auth=(rp.client_id, rp.secret)).get_json()
    assert record == {"active": False}


@pytest.mark.parametrize("method, url, status", [
    ("GET", "/token?lang=en", 405),
    ("GET", "/authorize/resume/x?iid=y", 400),
    ("GET", "/authorize/consent/x?iid=y&lang=en", 400),
    ("GET", "/login?_method=x&_external=1", 200),
    ("GET", "/nope?lang=en", 404),
])
def test_odd_urls_get_a_page_not_a_500(client, method, url, status):
    response = client.open(url, method=method)
    assert response.status_code == status


def test_deeply_nested_claims_parameter(client, flow, rp):
    response = flow(rp).start(claims="[" * 1000)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


@pytest.mark.parametrize("client_id", ["a\x00b", "\u2028", "x" * 65])
def test_odd_client_ids(client, client_id):
    response = client.get("/authorize", query_string={"client_id": client_id,
                                                     "response_type": "code"})
    assert response.status_code == 400
    token = client.post("/token", data={"grant_type": "client_credentials",
                                        "client_id": client_id, "client_secret": "x"})
    # RFC 6749 5.2: 400 invalid_client, since no Authorization header was used.
    assert token.status_code == 400 and token.get_json()["error"] == "invalid_client"


def test_logging_in_again_as_the_same_person_keeps_the_tokens(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    reply, _ = f.follow_to_rp(f.login(f.start(prompt="login"), "ana@example.si"))
    assert "code" in reply
    record = client.post("/introspect", data={"token": tokens["refresh_token"]},
                         auth=(rp.client_id, rp.secret)).get_json()
    assert record["active"] is True


def test_logging_out_after_logging_in_again_ends_the_earlier_tokens_too(client, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    f.follow_to_rp(f.login(f.start(prompt="login"), "ana@example.si"))
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    for kind in ("refresh_token", "access_token"):
        record = client.post("/introspect", data={"token": tokens[kind]},
                             auth=(rp.client_id, rp.secret)).get_json()
        assert record == {"active": False}, kind


def test_logging_out_ends_the_tokens_of_many_earlier_logins_in_this_browser(client, flow, rp,
                                                                            ana):
    """A chain of re-logins of the same person (more than the old limit of 20
    links) is followed to its start at logout."""
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    for _ in range(22):
        f.follow_to_rp(f.login(f.start(prompt="login"), "ana@example.si"))
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    record = client.post("/introspect", data={"token": tokens["refresh_token"]},
                         auth=(rp.client_id, rp.secret)).get_json()
    assert record == {"active": False}
