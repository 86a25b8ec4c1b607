"""PostgreSQL stopping in the middle of a request (our own server, stopped with
``pg_ctl -m immediate``): a 503 page or JSON error, or the view's own answer
when the view had finished, never a 500; and the IdP recovers when it is back."""

import re
import secrets

import pytest
from sqlalchemy import text

from idp import create_app
from idp.extensions import db
from pgserver import PostgresServer

pytestmark = pytest.mark.skipif(not PostgresServer.available,
                                reason="needs Debian's PostgreSQL binaries")


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer()
    yield server
    server.destroy()


@pytest.fixture
def outage(pg, tmp_path, monkeypatch):
    """An IdP on our own PostgreSQL, with two views that stop the database:
    after their last query, and between two queries."""
    url = pg.create_database("idp_" + secrets.token_hex(4))
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "RATELIMIT_ENABLED": False,
                      "KEY_ENCRYPTION_KEYS": ["outage-test-key-encryption-key-0123456789"]})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=app.extensions["migrate"].directory)

    @app.get("/_outage/after-view")
    def read_then_stop():  # the transaction is open when the teardown rolls it back
        db.session.execute(text("SELECT 1"))
        pg.stop()
        return "answered"

    @app.get("/_outage/in-view")
    def stop_between_queries():
        db.session.execute(text("SELECT 1"))
        pg.stop()
        db.session.execute(text("SELECT 1"))
        return "never"

    yield app.test_client()
    try:
        pg.start()
    except Exception:
        pass  # it is running
    with app.app_context():
        db.engine.dispose()




def test_database_gone_after_the_view_keeps_the_views_answer(outage, pg, caplog):
    reply = outage.get("/_outage/after-view")  # no exception out of the teardown
    assert (reply.status_code, reply.get_data(as_text=True)) == (200, "answered")
    assert "backend unavailable after the view: OperationalError" in caplog.text
    pg.start()
    reply = outage.get("/_outage/after-view")  # the broken connection was dropped
    assert reply.status_code == 200


def test_database_gone_in_the_middle_of_the_view_is_a_503_page(outage, pg):
    reply = outage.get("/_outage/in-view")
    assert reply.status_code == 503
    html = reply.get_data(as_text=True)
    assert "Storitev trenutno ni na voljo" in html and "Traceback" not in html


def test_database_gone_answers_503_everywhere_and_comes_back(outage, pg):
    keys = outage.get("/jwks.json")
    assert keys.status_code == 200  # the ring is read while the database is up
    page = outage.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    pg.stop()
    login = outage.post("/login", data={"csrf_token": csrf, "email": "ana@example.si",
                                        "password": "Geslo-Test-1"})
    assert login.status_code == 503
    token = outage.post("/token", data={"grant_type": "client_credentials"},
                        auth=("e-banka", "secret"))
    assert (token.status_code, token.get_json()["error"]) == (503, "temporarily_unavailable")
    # Keys in memory still publish (and sign) while the database is away.
    assert outage.get("/jwks.json").get_json() == keys.get_json()
    pg.start()
    login = outage.post("/login", data={"csrf_token": csrf, "email": "ana@example.si",
                                        "password": "Geslo-Test-1"})
    assert login.status_code == 400  # an answer again: no such account
    token = outage.post("/token", data={"grant_type": "client_credentials"},
                        auth=("e-banka", "secret"))
    assert (token.status_code, token.get_json()["error"]) == (401, "invalid_client")
