"""Flask extensions, created unbound and attached in ``create_app``."""

from flask import current_app, request
from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Stable constraint names keep Alembic migrations portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()

LOCALES = ("sl", "en")


def select_locale():
    """``?lang=`` switch, then ``ui_locales`` of the authorization request, then
    the browser's languages; Slovenian first."""
    from flask import session
    from flask.sessions import NullSession

    chosen = request.args.get("lang")
    if chosen in LOCALES:
        if not isinstance(session, NullSession):  # API endpoints have no session
            session["lang"] = chosen
        return chosen
    if session.get("lang") in LOCALES:
        return session["lang"]
    return request.accept_languages.best_match(LOCALES, default="sl")


def store():
    """The short-lived state store of the current app (Redis or in-process)."""
    return current_app.extensions["idp_store"]
