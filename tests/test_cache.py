"""The per-process row caches never serve a change made in the same process late."""

from idp.extensions import db
from idp.oauth.clients import delete_client, rotate_secret


def tokens_for(flow, rp, secret, email):
    f = flow(rp)
    return f.exchange(f.code(email)["code"], secret=secret).get_json()


def test_userinfo_sees_a_changed_account_at_once(client, flow, make_client, make_user):
    user = make_user(email="ana@example.si")
    rp, secret = make_client()
    tokens = tokens_for(flow, rp, secret, "ana@example.si")
    headers = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get("/userinfo", headers=headers).get_json()["email"] == "ana@example.si"
    user.email = "ana.novak@example.si"
    db.session.commit()
    assert client.get("/userinfo", headers=headers).get_json()["email"] == "ana.novak@example.si"
    user.active = False
    db.session.commit()
    assert client.get("/userinfo", headers=headers).status_code == 401


def test_deleted_client_and_rotated_secret_take_effect_at_once(client, flow, make_client,
                                                               make_user):
    make_user(email="ana@example.si")
    rp, secret = make_client()
    tokens = tokens_for(flow, rp, secret, "ana@example.si")
    new_secret = rotate_secret(rp)
    old = client.post("/introspect", data={"token": tokens["access_token"]},
                      auth=(rp.client_id, secret))
    assert old.status_code == 401
    delete_client(rp)
    assert client.get("/userinfo", headers={
        "Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    gone = client.post("/introspect", data={"token": tokens["access_token"]},
                       auth=(rp.client_id, new_secret))
    assert gone.status_code == 401
