"""Friendly error pages in both languages, JSON for API clients; never a stack
trace. A database or Redis that goes away gives 503, not 500."""

import logging

from flask import Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from sqlalchemy.exc import (DBAPIError, InterfaceError, OperationalError, PendingRollbackError,
                            SQLAlchemyError)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, SecurityError

from .extensions import db
from .web import STATELESS_PATHS

log = logging.getLogger("idp.errors")


def _wants_json():
    return request.path in STATELESS_PATHS  # the machine endpoints answer in JSON


def _messages():
    return {
        400: _("The request could not be understood."),
        403: _("You are not allowed to do that."),
        404: _("This page does not exist."),
        405: _("This action is not allowed here."),
        413: _("The request is too large."),
        429: _("Too many attempts. Please wait a little and try again."),
        500: _("Something went wrong on our side. Please try again."),
        503: _("The service is temporarily unavailable. Please try again in a moment."),
    }


def render_error(code, message=None):
    message = message or _messages().get(code, _messages()[500])
    if _wants_json():
        return jsonify(error=_oauth_error_code(code), error_description=message), code
    return render_template("error.html", code=code, message=message), code


def _oauth_error_code(status):
    if status == 429:
        return "slow_down"
    if status == 503:
        return "temporarily_unavailable"
    return "server_error" if status >= 500 else "invalid_request"


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, _("The form has expired or was not sent from this site. "
                                   "Please go back, reload the page and try again."))

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        # A Host (or X-Forwarded-Host) that is not the issuer's: no page can be
        # built for it (URLs come from the host), so a plain answer.
        return Response("Unknown host.\n", 400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(error):
        return render_error(error.code if error.code in _messages() else 400)

    @app.errorhandler(RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)  # a connection the server closed under us
    @app.errorhandler(PendingRollbackError)  # what is left of an earlier failure
    @app.errorhandler(PoolTimeout)  # no connection to be had
    def backend_down(error):
        log.error("backend unavailable: %s", error.__class__.__name__)
        _rollback()
        return render_error(503)

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, SQLAlchemyError):
            _rollback()
            if isinstance(error, DBAPIError) and error.connection_invalidated:
                return backend_down(error)
        log.exception("unhandled error")
        return render_error(500)

    @app.teardown_appcontext
    def close_session(_error):
        # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse).
        # Its rollback fails when the database went away after the view; the
        # view's answer stands (its work was committed or is lost either way),
        # so the connection is dropped instead of the error reaching the server
        # as a 500.
        try:
            db.session.remove()
        except SQLAlchemyError as error:
            log.error("backend unavailable after the view: %s", error.__class__.__name__)
            db.session().invalidate()  # drop the connection, do not roll back on it
            db.session.remove()


def _rollback():
    try:
        db.session.rollback()
    except Exception:  # the database may be the thing that is gone
        db.session().invalidate()
