"""No two nodes answer differently after a change: two apps (two processes or
machines) share one PostgreSQL database and one Redis prefix; whatever changes
on one is what the other answers with at once, not after IDP_CACHE_SECONDS."""

import time
from datetime import date

import pytest

from helpers import PASSWORD, csrf_token
from idp import create_app
from idp.accounts.passwords import hash_password
from idp.extensions import db
from idp.oauth import clients as client_service
from idp.trust import service as trust


@pytest.fixture
def node_b(app, backend):
    """The other node. Without Redis there is one process only: nothing to share."""
    if backend["BACKEND"] == "sqlite":
        pytest.skip("several processes need IDP_REDIS_URL")
    assert app.config["CACHE_SECONDS"] == 5  # long enough to notice a stale answer
    other = create_app(dict(backend))
    yield other.test_client()
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def tokens(flow, rp, ana):
    """Ana's tokens for the e-bank, issued by node A."""
    f = flow(rp)
    reply = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret)
    assert reply.status_code == 200
    return reply.get_json()


def _userinfo(node, tokens):
    return node.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})


def _refresh(node, rp, secret, tokens):
    return node.post("/token", data={"grant_type": "refresh_token",
                                     "refresh_token": tokens["refresh_token"]},
                     auth=(rp.client_id, secret))


def _client_credentials(node, client_id, secret):
    return node.post("/token", data={"grant_type": "client_credentials"},
                     auth=(client_id, secret))


def test_a_raised_trust_level_is_answered_by_the_other_node_at_once(client, node_b, tokens, ana):
    assert _userinfo(node_b, tokens).get_json()["trust_level"] == "low"  # B caches Ana now
    trust.raise_trust_level(ana, "substantial",
                            trust.Person("Ana", "Novak", date(1990, 5, 17), None), "branch",
                            {"document": "passport"})
    for node in (node_b, client):
        info = _userinfo(node, tokens).get_json()
        assert (info["trust_level"], info["name"]) == ("substantial", "Ana Novak")


def test_a_deactivated_account_is_refused_by_the_other_node_at_once(node_b, tokens, rp, ana):
    assert _userinfo(node_b, tokens).status_code == 200
    ana.active = False
    db.session.commit()
    reply = _userinfo(node_b, tokens)
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    refreshed = _refresh(node_b, rp, rp.secret, tokens)
    assert (refreshed.status_code, refreshed.get_json()["error"]) == (400, "invalid_grant")


def test_a_changed_password_holds_on_the_other_node_at_once(node_b, ana):
    def log_in(password):
        page = node_b.get("/login")
        return node_b.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                           "email": "ana@example.si", "password": password})

    ana.password_hash = hash_password("Zelenjava-Kolo-48")  # as the dashboard and recovery do
    db.session.commit()
    refused = log_in(PASSWORD)
    assert refused.status_code == 400  # the form again, with its error
    assert 'id="password-error"' in refused.get_data(as_text=True)
    assert node_b.get("/").status_code == 302  # not logged in
    assert log_in("Zelenjava-Kolo-48").status_code == 302


def test_a_rotated_client_secret_holds_on_the_other_node_at_once(node_b, make_client, runner):
    service, secret = make_client(grant_types=["client_credentials"], redirect_uris=[])
    assert _client_credentials(node_b, service.client_id, secret).status_code == 200
    result = runner.invoke(args=["clients", "rotate-secret", service.client_id, "--json"])
    assert result.exit_code == 0, result.output
    new_secret = __import__("json").loads(result.output)["client_secret"]
    old = _client_credentials(node_b, service.client_id, secret)
    assert (old.status_code, old.get_json()["error"]) == (401, "invalid_client")
    assert _client_credentials(node_b, service.client_id, new_secret).status_code == 200


def test_changed_redirect_uris_hold_on_the_other_node_at_once(node_b, rp, flow):
    def authorize(redirect_uri):
        return node_b.get("/authorize", query_string=flow(rp).params(redirect_uri=redirect_uri))

    assert authorize("https://rp.example/cb").status_code == 302  # B caches the e-bank now
    rp.redirect_uris = ["https://rp.example/new-cb"]
    db.session.commit()
    assert authorize("https://rp.example/cb").status_code == 400
    reply = authorize("https://rp.example/new-cb")
    assert (reply.status_code, reply.headers["Location"].split("?")[0]) == (302, "/login")


def test_a_new_or_deleted_client_is_known_to_the_other_node_at_once(node_b, make_client):
    unknown = _client_credentials(node_b, "nova-storitev", "x")  # B caches "no such client"
    assert (unknown.status_code, unknown.get_json()["error"]) == (401, "invalid_client")
    service, secret = make_client(client_id="nova-storitev", redirect_uris=[],
                                  grant_types=["client_credentials"])
    assert _client_credentials(node_b, "nova-storitev", secret).status_code == 200
    client_service.delete_client(service)
    gone = _client_credentials(node_b, "nova-storitev", secret)
    assert (gone.status_code, gone.get_json()["error"]) == (401, "invalid_client")


def test_a_cache_hit_costs_one_round_trip_to_the_store(app, node_b, make_client):
    """The price of coherence: one MGET per cached row used, no database query."""
    from sqlalchemy import event

    service, secret = make_client(grant_types=["client_credentials"], redirect_uris=[])
    cache = app.extensions["idp_clients"]
    assert cache.get(service.client_id).client_id == service.client_id
    redis = app.extensions["idp_store"].client
    calls, queries = [], []
    original = redis.mget
    redis.mget = lambda *a, **k: calls.append(a) or original(*a, **k)
    listener = lambda *args: queries.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        started = time.perf_counter()
        for _ in range(100):
            assert cache.get(service.client_id).client_id == service.client_id
        elapsed = time.perf_counter() - started
    finally:
        redis.mget = original
        event.remove(db.engine, "before_cursor_execute", listener)
    assert (len(calls), queries) == (100, [])
    assert elapsed < 1.0
