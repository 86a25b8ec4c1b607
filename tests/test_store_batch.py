"""The store's batch of writes (idp/store.py): what a token save sends in one round
trip is there afterwards, with its expiry, on both stores."""

import pytest


@pytest.fixture
def shared(app):
    return app.extensions["idp_store"]


def test_a_batch_writes_values_and_set_members(shared):
    with shared.batch() as batch:
        batch.set("batch:at", "record", 60)
        batch.sadd("batch:fam", "batch:at", 60)
        batch.sadd("batch:fam", "batch:other", 60)
    assert shared.get("batch:at") == "record"
    assert shared.smembers("batch:fam") == {"batch:at", "batch:other"}


def test_batched_keys_expire(shared):
    with shared.batch() as batch:
        batch.set("batch:short", "x", 1)
        batch.sadd("batch:short-set", "m", 1)
    if hasattr(shared, "client"):  # Redis: the expiry is set on the keys
        assert 0 < shared.client.ttl(shared._k("batch:short")) <= 1
        assert 0 < shared.client.ttl(shared._k("batch:short-set")) <= 1
    else:
        import time

        time.sleep(1.05)
        assert shared.get("batch:short") is None and shared.smembers("batch:short-set") == set()


def test_a_failed_batch_sends_nothing_to_redis(shared):
    if not hasattr(shared, "client"):
        pytest.skip("the in-process store writes at once")
    with pytest.raises(RuntimeError):
        with shared.batch() as batch:
            batch.set("batch:never", "x", 60)
            raise RuntimeError("the token was not issued")
    assert shared.get("batch:never") is None
