"""The cluster's key ring: keys in the database, private keys sealed under a
rotatable key-encryption secret, rotation seen by every node, old tokens valid."""

import json
import os
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import event

from idp import create_app
from idp.audit import AuditEvent
from idp.config import secret_list
from idp.extensions import db
from idp.signing import KeyEncryption, KeyEncryptionError, KeyRing
from idp.signing.models import SigningKey

KEK_A = "kek-a-0123456789abcdefghijklmnopqrstuvwxyz"
KEK_B = "kek-b-0123456789abcdefghijklmnopqrstuvwxyz"


def _wipe():
    db.session.execute(db.delete(SigningKey))
    db.session.commit()


@pytest.fixture
def ring(app):
    """An empty key ring (the keys of other tests are put aside, and dropped after)."""
    _wipe()
    yield app.extensions["idp_keys"]
    db.session.rollback()
    _wipe()


def _other_node(backend, **overrides):
    """A second process or machine: its own app on the same database."""
    return create_app({**backend, **overrides})


def _published(ring):
    return {k["kid"] for k in json.loads(ring.jwks_json())["keys"]}


def _events(name):
    return db.session.execute(db.select(AuditEvent).filter_by(event=name)).scalars().all()


def test_first_use_generates_rs256_and_es256_sealed_in_the_database(ring):
    assert len(_published(ring)) == 2
    rows = db.session.execute(db.select(SigningKey)).scalars().all()
    assert sorted(row.alg for row in rows) == ["ES256", "RS256"]
    for row in rows:
        assert b"PRIVATE KEY" not in row.private_key
        assert row.kek_id == ring.sealer.primary_id
        assert "d" not in row.public_jwk  # only the public half in the clear
        pem = ring.sealer.open(row.kek_id, row.private_key, row.kid.encode())
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    [generated] = _events("signing_keys_generated")
    assert sorted(generated.details["added"]) == sorted(row.kid for row in rows)


def test_ensure_is_idempotent(ring):
    ring.ensure()
    before = [e["kid"] for e in ring.entries()]
    assert ring.ensure() == []
    assert [e["kid"] for e in ring.entries()] == before


def test_rotation_keeps_old_public_keys_until_their_tokens_expire(ring):
    old_key = ring.signing_key("RS256")
    token = jwt.encode({"alg": "RS256", "kid": old_key.kid}, {"sub": "x"}, old_key)
    added, pruned = ring.rotate(actor="operator:test")
    new_key = ring.signing_key("RS256")
    assert new_key.kid != old_key.kid
    assert {old_key.kid, new_key.kid} <= _published(ring)
    assert jwt.decode(token, ring.keyset(), algorithms=["RS256"]).claims["sub"] == "x"
    [rotated] = _events("signing_keys_rotated")
    assert rotated.actor == "operator:test"
    assert rotated.details == {"added": [k["kid"] for k in added], "pruned": []}


def test_rotation_prunes_keys_whose_tokens_have_all_expired(ring):
    old_kid = ring.signing_key("ES256").kid
    ring.rotate(now=1_000)  # retired long ago...
    added, pruned = ring.rotate()  # ...so the next rotation prunes it
    assert old_kid in {k["kid"] for k in pruned}
    assert old_kid not in {e["kid"] for e in ring.entries()}
    assert old_kid not in _published(ring)


def test_retired_keys_still_verify_hints_after_they_leave_the_jwks(ring):
    old = ring.signing_key("RS256")
    hint = jwt.encode({"alg": "RS256", "kid": old.kid}, {"sub": "x"}, old)
    ring.rotate(now=time.time() - ring.retire_after - 60)  # no longer published...
    assert old.kid not in _published(ring)
    # ...but an expired ID token still serves as a hint while a session may live.
    assert jwt.decode(hint, ring.hint_keyset(), algorithms=["RS256"]).claims["sub"] == "x"


def test_a_rotation_on_another_node_is_seen_within_the_check_interval(ring, backend):
    ring.jwks_json()
    other = _other_node(backend, CACHE_SECONDS=0.2)
    with other.app_context():
        other_ring = other.extensions["idp_keys"]
        assert other_ring.signing_key("RS256").kid == ring.signing_key("RS256").kid
        assert other_ring.jwks_json() == ring.jwks_json()  # the same JWKS on every node
        ring.rotate()
        new_kid = ring.signing_key("RS256").kid
        started = time.monotonic()
        while other_ring.signing_key("RS256").kid != new_kid:
            assert time.monotonic() - started < 1.0, "the rotation did not reach the other node"
            time.sleep(0.02)
        assert other_ring.jwks_json() == ring.jwks_json()
        db.session.remove()


def test_signing_and_the_jwks_ask_the_database_nothing_between_checks(ring):
    ring.jwks_json()
    queries = []
    listener = lambda *args: queries.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for _ in range(200):
            ring.jwks_json()
            ring.signing_key("ES256")
            ring.hint_keyset()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert queries == []


def test_tokens_signed_before_rotation_still_validate_at_the_jwks_endpoint(app, client, flow,
                                                                         make_client, make_user):
    make_user(email="ana@example.si")
    rp, secret = make_client()
    f = flow(rp)
    old = f.exchange(f.code("ana@example.si")["code"], secret=secret).get_json()["id_token"]
    app.extensions["idp_keys"].rotate()
    f2 = flow(rp)
    reply, _ = f2.follow_to_rp(f2.start())  # still logged in: no login page
    new = f2.exchange(reply["code"], secret=secret).get_json()["id_token"]
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    old_token = jwt.decode(old, keys, algorithms=["RS256"])
    new_token = jwt.decode(new, keys, algorithms=["RS256"])
    assert old_token.header["kid"] != new_token.header["kid"]


def test_the_key_encryption_secret_rotates_with_rewrap(ring, backend, runner):
    with_a = _other_node(backend, KEY_ENCRYPTION_KEYS=[KEK_A])
    with with_a.app_context():
        kid = with_a.extensions["idp_keys"].signing_key("ES256").kid
        db.session.remove()
    kek_a, kek_b = KeyEncryption([KEK_A]).primary_id, KeyEncryption([KEK_B]).primary_id
    assert {e["kek_id"] for e in ring.entries()} == {kek_a}

    # B in front, A still there: every key still opens; rewrap seals them under B.
    both = _other_node(backend, KEY_ENCRYPTION_KEYS=[KEK_B, KEK_A])
    with both.app_context():
        assert both.extensions["idp_keys"].signing_key("ES256").kid == kid
        result = both.test_cli_runner().invoke(args=["keys", "rewrap", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"rewrapped": [e["kid"] for e in ring.entries()],
                                             "kek_id": kek_b}
        db.session.remove()
    assert {e["kek_id"] for e in ring.entries()} == {kek_b}
    [rewrapped] = _events("signing_keys_rewrapped")
    assert rewrapped.actor == "operator:cli" and rewrapped.details["kek_id"] == kek_b

    only_b = _other_node(backend, KEY_ENCRYPTION_KEYS=f"{KEK_B}")  # A can now be dropped
    with only_b.app_context():
        assert only_b.extensions["idp_keys"].signing_key("ES256").kid == kid
        db.session.remove()
    only_a = _other_node(backend, KEY_ENCRYPTION_KEYS=[KEK_A])  # a node left behind
    with only_a.app_context():
        with pytest.raises(KeyEncryptionError, match=f"key-encryption key {kek_b}, which is not"):
            only_a.extensions["idp_keys"].signing_key("ES256")
        # It cannot sign, but still publishes the same keys (they are public).
        assert only_a.extensions["idp_keys"].jwks_json() == ring.jwks_json()
        db.session.remove()


def test_a_tampered_ciphertext_does_not_open(ring):
    ring.jwks_json()
    row = db.session.execute(db.select(SigningKey).filter_by(alg="ES256")).scalar_one()
    other = db.session.execute(db.select(SigningKey).filter_by(alg="RS256")).scalar_one()
    with pytest.raises(KeyEncryptionError, match="does not open"):
        # A ciphertext moved to another key's row fails: the kid is authenticated too.
        ring.sealer.open(row.kek_id, row.private_key, other.kid.encode())


@pytest.mark.parametrize("value, expected", [
    ('["a", "b"]', ["a", "b"]), (["a", "b"], ["a", "b"]), ("a, b,", ["a", "b"]),
    ("", []), (None, []),
])
def test_key_encryption_keys_setting_is_a_list(value, expected):
    assert secret_list(json.loads(value) if isinstance(value, str) and value.startswith("[")
                       else value) == expected


def test_short_key_encryption_keys_are_refused():
    with pytest.raises(KeyEncryptionError, match="32\\+ characters"):
        KeyEncryption([KEK_A, "too-short"])


def test_the_development_secret_is_kept_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path))
    first = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    again = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    path = tmp_path / "key_encryption_key"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert first.config["KEY_ENCRYPTION_KEYS"] == again.config["KEY_ENCRYPTION_KEYS"] == [
        path.read_text()]


def _old_key_folder(folder, retired_rs256=False):
    """A key folder as nodes kept them before the ring moved to the database."""
    os.makedirs(folder)
    entries = []
    for alg, key in (("RS256", RSAKey.generate_key(2048)), ("ES256", ECKey.generate_key("P-256"))):
        kid = key.thumbprint()
        with open(os.path.join(folder, kid + ".pem"), "wb") as fh:
            fh.write(key.as_pem(private=True))
        entries.append({"kid": kid, "alg": alg, "created_at": 1_700_000_000,
                        "retired_at": None})
    with open(os.path.join(folder, "keys.json"), "w") as fh:
        json.dump({"keys": entries}, fh)
    return {e["alg"]: e["kid"] for e in entries}


def test_init_imports_a_former_key_folder_once(ring, runner, tmp_path):
    folder = str(tmp_path / "keys")
    kids = _old_key_folder(folder)
    ring.jwks_json()  # the ring has keys already: an explicit import retires the old ones
    result = runner.invoke(args=["keys", "import", folder, "--json"])
    assert result.exit_code == 0, result.output
    imported = json.loads(result.output)
    assert {k["kid"] for k in imported} == set(kids.values())
    assert all(k["retired_at"] is not None for k in imported)
    assert set(kids.values()) <= _published(ring)  # tokens they signed still verify
    assert ring.signing_key("RS256").kid != kids["RS256"]
    [audit] = _events("signing_keys_imported")
    assert sorted(audit.details["imported"]) == sorted(kids.values())
    again = runner.invoke(args=["keys", "import", folder])
    assert again.output == "Nothing to import: the ring has every key.\n"

    _wipe()  # a cluster's first init takes the folder's keys as they are
    current_app_config = runner.app.config
    current_app_config["KEYS_DIR"] = folder
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert f"Imported 2 signing key(s) from {folder}" in result.output
    assert ring.signing_key("RS256").kid == kids["RS256"]
    assert ring.signing_key("ES256").kid == kids["ES256"]
    result = runner.invoke(args=["init"])
    assert "Imported" not in result.output


def test_import_of_a_folder_without_keys_fails(runner, tmp_path):
    result = runner.invoke(args=["keys", "import", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no keys.json in {tmp_path}" in result.output


def test_keys_list_and_rotate_as_json(ring, runner):
    ring.jwks_json()
    before = ring.entries()
    result = runner.invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)
    assert sorted(k["alg"] for k in rotated["added"]) == ["ES256", "RS256"]
    listed = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    assert [k["kid"] for k in listed] == [k["kid"] for k in before + rotated["added"]]
    assert [k["retired_at"] is None for k in listed] == [False, False, True, True]


def test_no_key_encryption_keys_is_an_error():
    with pytest.raises(KeyEncryptionError, match="empty"):
        KeyRing(KeyEncryption([]), retire_after=60)
