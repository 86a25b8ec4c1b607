"""The operator's ``idp`` command."""

import json

from idp.audit import AuditEvent
from idp.extensions import db
from idp.oauth.models import OAuthClient, digest


def create(runner, *extra):
    return runner.invoke(args=["clients", "create", "--name", "E-banka", "--redirect-uri",
                               "https://rp.example/cb", "--json", *extra])


def test_clients_create_shows_the_secret_once_and_stores_a_digest(runner):
    result = create(runner, "--min-acr", "substantial", "--post-logout-redirect-uri",
                    "https://rp.example/bye")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    client = db.session.execute(db.select(OAuthClient)).scalar_one()
    assert client.secret_digest == digest(data["client_secret"])
    assert data["client_secret"] not in json.dumps(client.client_metadata)
    assert client.min_acr == "http://eidas.europa.eu/LoA/substantial"
    assert len(data["client_secret"]) >= 40
    shown = json.loads(runner.invoke(args=["clients", "show", data["client_id"], "--json"]).output)
    assert "client_secret" not in shown and shown["redirect_uris"] == ["https://rp.example/cb"]


def test_clients_create_human_summary(runner):
    result = runner.invoke(args=["clients", "create", "--name", "Trgovina", "--public",
                                 "--redirect-uri", "http://localhost:3000/cb"])
    assert result.exit_code == 0
    assert "client_id:" in result.output and "public client" in result.output


def test_clients_create_refuses_bad_input(runner):
    assert runner.invoke(args=["clients", "create", "--name", "X"]).exit_code != 0
    bad_uri = runner.invoke(args=["clients", "create", "--name", "X", "--redirect-uri",
                                  "http://rp.example/cb"])
    assert bad_uri.exit_code != 0 and "plain http" in bad_uri.output
    assert create(runner, "--min-acr", "extreme").exit_code != 0
    assert create(runner, "--scope", "openid admin").exit_code != 0
    assert create(runner, "--client-id", "dup").exit_code == 0
    assert create(runner, "--client-id", "dup").exit_code != 0


def test_clients_list_delete_and_rotate_secret(runner):
    data = json.loads(create(runner, "--client-id", "ebank").output)
    listed = json.loads(runner.invoke(args=["clients", "list", "--json"]).output)
    assert [c["client_id"] for c in listed] == ["ebank"]
    rotated = json.loads(runner.invoke(args=["clients", "rotate-secret", "ebank",
                                             "--json"]).output)
    assert rotated["client_secret"] != data["client_secret"]
    client = db.session.execute(db.select(OAuthClient)).scalar_one()
    assert not client.check_client_secret(data["client_secret"])
    assert client.check_client_secret(rotated["client_secret"])
    assert runner.invoke(args=["clients", "delete", "ebank", "--yes"]).exit_code == 0
    assert runner.invoke(args=["clients", "show", "ebank"]).exit_code != 0
    events = [e.event for e in db.session.execute(db.select(AuditEvent)).scalars()]
    assert events == ["client_created", "client_secret_rotated", "client_deleted"]


def test_users_create(runner):
    result = runner.invoke(args=["users", "create", "--email", "Ana@Example.si", "--phone",
                                 "041 123 123", "--password", "Geslo-Test-1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "ana@example.si" and data["phone"] == "+38641123123"
    again = runner.invoke(args=["users", "create", "--email", "ana@example.si", "--password",
                                "Geslo-Test-1"])
    assert again.exit_code != 0 and "already exists" in again.output
    assert runner.invoke(args=["users", "create", "--email", "ana@example.si", "--password",
                               "Geslo-Test-1", "--if-missing"]).exit_code == 0
    weak = runner.invoke(args=["users", "create", "--email", "b@example.si", "--password", "abc"])
    assert weak.exit_code != 0 and "password" in weak.output


def test_keys_list_and_rotate(runner, app):
    before = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    result = runner.invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0
    added = json.loads(result.output)["added"]
    after = json.loads(runner.invoke(args=["keys", "list", "--json"]).output)
    active = {e["kid"] for e in after if not e["retired_at"]}
    assert active == {k["kid"] for k in added}
    assert {e["kid"] for e in before} <= {e["kid"] for e in after}


def test_client_ids_never_look_like_options(monkeypatch):
    """A generated id starting with "-" would be read as an option by
    ``idp clients show ID``; such draws are skipped."""
    from idp.oauth import clients

    draws = iter(["-leading-dash-0000000", "_fine-id-0000000000"])
    monkeypatch.setattr(clients.secrets, "token_urlsafe", lambda n: next(draws))
    assert clients.new_client_id() == "_fine-id-0000000000"
