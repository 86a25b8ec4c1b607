"""`idp users deactivate|activate`: a deactivated account cannot log in, its
sessions end (with back-channel logout to their clients) and its tokens stop
working; activating it lets it log in again. Both are audited."""

import json

from idp.audit import AuditEvent
from idp.extensions import db

from helpers import PASSWORD
from people import Person


def events(name):
    return db.session.execute(db.select(AuditEvent).filter_by(event=name)).scalars().all()


def login_status(client, email="ana@example.si", password=PASSWORD):
    return Person(client, email, password).login().status_code


def test_deactivated_account_loses_its_session_and_tokens_and_cannot_log_in(
        app, client, runner, flow, rp, ana):
    f = flow(rp)
    tokens = f.exchange(f.code("ana@example.si")["code"], secret=rp.secret).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    assert client.get("/").status_code == 200  # the browser is logged in

    result = runner.invoke(args=["users", "deactivate", "ana@example.si"])

    assert result.exit_code == 0, result.output
    assert result.output == "Account ana@example.si deactivated; 1 session(s) ended.\n"
    # The browser's session ended, and so did the tokens issued in it.
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].startswith("/login")
    assert client.get("/userinfo", headers=bearer).status_code == 401
    refreshed = client.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": tokens["refresh_token"]},
                            auth=(rp.client_id, rp.secret))
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    # The right password no longer logs in.
    assert login_status(client) == 400
    [deactivated] = events("account_deactivated")
    assert (deactivated.user_id, deactivated.actor) == (ana.id, "operator:cli")
    # The session ended the way that tells its clients (back-channel logout).
    assert [e.details["reason"] for e in events("logout")] == ["account_deactivated"]


def test_activated_account_logs_in_again(app, client, runner, ana):
    assert runner.invoke(args=["users", "deactivate", "ana@example.si"]).exit_code == 0
    assert login_status(client) == 400

    result = runner.invoke(args=["users", "activate", "ana@example.si", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"sub": ana.sub, "email": "ana@example.si",
                                         "active": True, "changed": True}
    assert login_status(client) == 302
    [activated] = events("account_activated")
    assert (activated.user_id, activated.actor) == (ana.id, "operator:cli")


def test_deactivate_and_activate_twice_change_nothing_more(app, runner, ana):
    runner.invoke(args=["users", "deactivate", "ana@example.si"])
    again = runner.invoke(args=["users", "deactivate", "ana@example.si", "--json"])
    assert again.exit_code == 0
    assert json.loads(again.output) == {"sub": ana.sub, "email": "ana@example.si",
                                        "active": False, "changed": False, "sessions_ended": 0}
    assert len(events("account_deactivated")) == 1
    runner.invoke(args=["users", "activate", "ana@example.si"])
    active = runner.invoke(args=["users", "activate", "ana@example.si"])
    assert active.output == "Account ana@example.si was already active.\n"
    assert len(events("account_activated")) == 1


def test_unknown_account(runner):
    for command in ("deactivate", "activate"):
        result = runner.invoke(args=["users", command, "nihce@example.si"])
        assert result.exit_code == 1
        assert result.output == "Error: No account with the e-mail address nihce@example.si.\n"
