"""A request asks the shared store for a row's version once (idp/cache.py): later
lookups in the same request reuse the answer, a change made in the request is
seen at once, and outside requests nothing is kept."""

import pytest

from idp.oauth.lookups import query_client


@pytest.fixture
def asked(app, monkeypatch):
    """How often the client cache asked the store for versions."""
    cache = app.extensions["idp_clients"]
    calls = []
    if cache._versions is not None:
        real = cache._versions.current
        monkeypatch.setattr(cache._versions, "current",
                            lambda key: calls.append(key) or real(key))
    else:  # the cache asks nothing without a store of versions: count the reads instead
        real = cache._get
        monkeypatch.setattr(cache, "_get", lambda key: calls.append(key) or real(key))
    return calls


def test_one_request_asks_once_per_row(app, make_client, asked):
    rp, _ = make_client()
    with app.test_request_context("/introspect", method="POST"):
        first = query_client(rp.client_id)
        assert query_client(rp.client_id) is first
        assert query_client(rp.client_id) is first
        assert query_client("no-such-client") is None
        assert query_client("no-such-client") is None
    assert asked == [rp.client_id, "no-such-client"]


def test_each_request_asks_again(app, make_client, asked):
    rp, _ = make_client()
    for _ in range(3):
        with app.test_request_context("/introspect", method="POST"):
            query_client(rp.client_id)
            query_client(rp.client_id)
    assert asked == [rp.client_id] * 3


def test_a_change_in_the_request_is_seen_in_the_request(app, make_client, asked):
    from idp.extensions import db

    rp, _ = make_client()
    with app.test_request_context("/connect/register", method="PUT"):
        assert query_client(rp.client_id).name == "E-banka"
        row = db.session.get(type(rp), rp.id)
        row.name = "Nova banka"
        db.session.commit()
        assert query_client(rp.client_id).name == "Nova banka"
        db.session.remove()


def test_outside_a_request_nothing_is_kept(app, make_client, asked):
    rp, _ = make_client()
    with app.app_context():
        query_client(rp.client_id)
        query_client(rp.client_id)
    assert asked == [rp.client_id] * 2


def test_a_tokens_client_and_account_are_asked_in_one_round_trip(app, make_client,
                                                                 make_user, monkeypatch):
    from idp.oauth.lookups import prefetch_token_rows, query_user

    rp, _ = make_client()
    user = make_user(email="ana@example.si")
    shared = app.extensions["idp_store"]
    calls = []
    real = shared.get_many
    monkeypatch.setattr(shared, "get_many", lambda *keys: calls.append(keys) or real(*keys))
    with app.test_request_context("/userinfo"):
        prefetch_token_rows(rp.client_id, user.id)
        assert query_client(rp.client_id).client_id == rp.client_id
        assert query_user(user.id).id == user.id
        assert query_user(user.id).id == user.id
    assert len(calls) == 1 and len(calls[0]) == 4


def test_a_change_after_the_prefetch_is_seen_in_the_request(app, make_client, asked):
    from idp.extensions import db
    from idp.oauth.lookups import prefetch_token_rows

    rp, _ = make_client()
    with app.test_request_context("/userinfo"):
        prefetch_token_rows(rp.client_id, None)
        row = db.session.get(type(rp), rp.id)
        row.name = "Nova banka"
        db.session.commit()
        assert query_client(rp.client_id).name == "Nova banka"
        db.session.remove()
