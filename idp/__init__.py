"""An OpenID Connect identity provider with eIDAS trust levels."""

import logging
import os

from flask import Flask

HERE = os.path.dirname(os.path.abspath(__file__))

def create_app(test_config=None):
    """The application factory: settings, extensions, keys, blueprints, errors."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("IDP_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance"),
        template_folder=_templates_folder(),
    )
    from .catalogues import ensure_compiled
    from .config import load_settings
    from .ops.logs import configure_logging

    load_settings(app, test_config)
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    ensure_compiled(os.path.join(HERE, "translations"))  # a checkout: .mo from .po
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Authlib logs whole tokens at DEBUG; no secret belongs in a log.
    logging.getLogger("authlib").setLevel(max(logging.INFO, logging.getLogger().level))

    _init_extensions(app)
    _init_keys(app)
    _init_blueprints(app)

    from . import cli, errors, ops, web

    errors.init_app(app)
    web.init_app(app)
    ops.init_app(app)
    cli.init_app(app)
    return app


def _templates_folder():
    """``idp/templates`` in an installed wheel, else the checkout's ``templates/``."""
    packaged = os.path.join(HERE, "templates")
    return packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(HERE), "templates")


def _init_extensions(app):
    from .extensions import babel, csrf, db, migrate, select_locale
    from .store import create_store

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(HERE, "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.extensions["idp_store"] = create_store(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _tune_sqlite(app)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)


def _tune_sqlite(app):
    from sqlalchemy import event

    from .extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # WAL lets readers and one writer work at once; NORMAL sync is safe in WAL.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _init_keys(app):
    from . import signing

    signing.init_app(app)  # the cluster's key ring, in the database


def _init_blueprints(app):
    from .dashboard import account, methods
    from .dashboard import views as dashboard_views
    from .flows import factor, login, recovery, registration
    from .oauth import documents as oauth_documents
    from .oauth import server as oauth_server
    from .oauth import views as oauth_views
    from .trust import officer
    from .trust import views as trust_views
    from .trust.wallet import views as wallet_views

    oauth_server.init_app(app)
    oauth_documents.init_app(app)  # discovery and JWKS ahead of Flask's machinery
    app.register_blueprint(login.bp)
    app.register_blueprint(factor.bp)
    app.register_blueprint(dashboard_views.bp)
    app.register_blueprint(methods.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(oauth_views.bp)
    app.register_blueprint(registration.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(trust_views.bp)
    app.register_blueprint(officer.bp)
    app.register_blueprint(wallet_views.bp)
    _init_rate_limits(app)


def _init_rate_limits(app):
    """Per-IP limits on what people type (one limiter per app, Redis-backed
    when set), on the same engine and storage as every other counter."""
    from flask import request
    from flask_limiter import Limiter

    from . import ratelimits

    ratelimits.init_app(app)
    limiter = Limiter(key_func=lambda: ratelimits.ip_key(request.remote_addr), app=app)
    app.extensions["idp_limiter"] = limiter  # the decorator holds it only weakly
    typed = limiter.shared_limit(lambda: app.config["LOGIN_RATE_LIMIT"], scope="typed",
                                 methods=["POST"])
    for endpoint in ratelimits.TYPED_ENDPOINTS:
        app.view_functions[endpoint] = typed(app.view_functions[endpoint])
    # Card checks also per account, so the page is no card-testing oracle.
    per_account = limiter.limit(lambda: app.config["CARD_CHECK_LIMIT"], key_func=_account_key,
                                methods=["POST"])
    app.view_functions["trust.card"] = per_account(app.view_functions["trust.card"])


def _account_key():
    from flask import request

    from . import ratelimits
    from .authn.current import current_login

    login = current_login()
    return ratelimits.account_key(login.user_id) if login else ratelimits.ip_key(
        request.remote_addr)
