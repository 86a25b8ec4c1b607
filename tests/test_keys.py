"""Signing keys: generated once, private files 0600, rotation keeps old tokens valid."""

import os
import stat

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.signing import KeyRing


@pytest.fixture
def ring(tmp_path):
    ring = KeyRing(str(tmp_path / "keys"), retire_after=600)
    ring.ensure()
    return ring


def test_first_start_generates_rs256_and_es256(ring):
    entries = ring.entries()
    assert sorted(e["alg"] for e in entries) == ["ES256", "RS256"]
    for entry in entries:
        path = os.path.join(ring.folder, entry["kid"] + ".pem")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_ensure_is_idempotent(ring):
    before = [e["kid"] for e in ring.entries()]
    assert ring.ensure() == []
    assert [e["kid"] for e in ring.entries()] == before


def test_rotation_keeps_old_public_keys_until_their_tokens_expire(ring):
    old_key = ring.signing_key("RS256")
    token = jwt.encode({"alg": "RS256", "kid": old_key.kid}, {"sub": "x"}, old_key)
    ring.rotate()
    new_key = ring.signing_key("RS256")
    assert new_key.kid != old_key.kid
    published = {k["kid"] for k in KeySet.import_key_set(
        __import__("json").loads(ring.jwks_json())).as_dict()["keys"]}
    assert {old_key.kid, new_key.kid} <= published
    assert jwt.decode(token, ring.keyset(), algorithms=["RS256"]).claims["sub"] == "x"


def test_rotation_prunes_keys_whose_tokens_have_all_expired(ring):
    old_kid = ring.signing_key("ES256").kid
    ring.rotate(now=1_000)  # retired long ago...
    ring.rotate()  # ...so the next rotation prunes it
    kids = {e["kid"] for e in ring.entries()}
    assert old_kid not in kids
    assert not os.path.exists(os.path.join(ring.folder, old_kid + ".pem"))


def test_a_running_server_notices_a_rotation_by_another_process(ring):
    other = KeyRing(ring.folder, retire_after=600)
    other.ensure()
    before = ring.signing_key("RS256").kid
    other.rotate()
    ring._checked = 0  # skip the once-a-second throttle
    assert ring.signing_key("RS256").kid != before


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


def test_missing_keys_folder_is_a_clear_error(tmp_path):
    ring = KeyRing(str(tmp_path / "none"), retire_after=60)
    with pytest.raises(RuntimeError, match="idp init"):
        ring.jwks_json()
