"""Migrations keep the data: SQLite rebuilds tables in batch migrations, which
must not cascade to the rows that refer to them."""

from sqlalchemy import text

from idp import create_app
from idp.extensions import db


def test_sqlite_batch_migration_keeps_sessions_and_audit_links(tmp_path, keys_dir, monkeypatch):
    from flask_migrate import upgrade

    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path))
    app = create_app({"KEYS_DIR": keys_dir, "SECRET_KEY": "x", "TESTING": True,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/idp.sqlite3"})
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="4b56618eb92a")  # before login methods
        with db.engine.begin() as conn:
            conn.execute(text(
                "insert into users (id, sub, email, email_verified, phone_verified, "
                "password_hash, trust_level, active, created_at, updated_at, puk_failures) "
                "values (1, 's', 'a@example.si', 1, 0, 'h', 'low', 1, '2026-01-01', "
                "'2026-01-01', 0)"))
            conn.execute(text(
                "insert into login_sessions (id, public_id, user_id, created_at, auth_time, "
                "amr, strength) values ('x', 'p', 1, '2026-01-01', '2026-01-01', '[]', 'low')"))
            conn.execute(text("insert into audit_events (at, event, user_id, details) "
                              "values ('2026-01-01', 'e', 1, '{}')"))
        upgrade(directory=directory)
        with db.engine.begin() as conn:
            assert conn.execute(text("select count(*) from login_sessions")).scalar() == 1
            assert conn.execute(text("select user_id from audit_events")).scalar() == 1
            assert conn.execute(text("pragma foreign_keys")).scalar() == 1  # back on
        db.engine.dispose()
