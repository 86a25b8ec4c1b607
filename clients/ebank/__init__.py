"""A small demo e-bank: logs in through the IdP with Authlib's standard OIDC
client (discovery, PKCE, nonce, ID token validation) and shows the claims it
got. Payments go through its own API (``api.py``), which checks each access
token at the IdP and asks for a step-up (RFC 9470) when the login is not at the
``http://eidas.europa.eu/LoA/high`` level or not recent; the payment pages
(``payment.py``) turn that challenge into a new login. See docs/ebank.md.

It deliberately knows nothing of the IdP's internals: only its issuer URL and
the client credentials."""

import json
import os
import time

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, redirect, render_template, request, session

from . import api, backchannel, headers, payment
from .ledger import Ledger

HIGH = api.HIGH
LEVEL_NAMES = {
    "http://eidas.europa.eu/LoA/low": "nizka / low",
    "http://eidas.europa.eu/LoA/substantial": "srednja / substantial",
    HIGH: "visoka / high",
}


def _credentials(config):
    if config.get("CLIENT_ID"):
        return config["CLIENT_ID"], config.get("CLIENT_SECRET")
    with open(config["CLIENT_FILE"]) as fh:
        data = json.load(fh)
    return data["client_id"], data["client_secret"]


def _local_path(target, default="/"):
    """``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    if (not isinstance(target, str) or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 0x20 for c in target)):
        return default
    return target


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.update(
        ISSUER="http://localhost:5000",
        URL="http://localhost:5001",
        API_URL=None,  # the payment API; URL + "/api" when not set
        PAYMENT_MAX_AGE=600,  # seconds since the login a payment accepts; None: any
        HTTP_TIMEOUT=5,  # seconds for each call to the IdP or the API
        CLIENT_FILE=os.path.join(os.getcwd(), "instance", "ebank-client.json"),
        SECRET_KEY=None,
        # Cookies ignore ports: the IdP on :5000 uses its own cookie name.
        SESSION_COOKIE_NAME="ebank_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    app.config.from_prefixed_env("EBANK")
    if test_config:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = os.urandom(32).hex()
    app.config["URL"] = app.config["URL"].rstrip("/")
    app.config["API_URL"] = (app.config["API_URL"] or app.config["URL"] + "/api").rstrip("/")
    if app.config["PAYMENT_MAX_AGE"] is not None:
        app.config["PAYMENT_MAX_AGE"] = int(app.config["PAYMENT_MAX_AGE"])
    app.config["HTTP_TIMEOUT"] = float(app.config["HTTP_TIMEOUT"])
    headers.init_app(app)

    client_id, client_secret = _credentials(app.config)
    backchannel.init_app(app, client_id)
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=app.config["ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email phone", "code_challenge_method": "S256",
                       "default_timeout": app.config["HTTP_TIMEOUT"]},
    )
    app.extensions["ebank_introspector"] = api.Introspector(
        app.config["ISSUER"], client_id, client_secret, app.config["HTTP_TIMEOUT"])
    app.extensions["ebank_ledger"] = Ledger()
    app.register_blueprint(api.bp)
    app.register_blueprint(payment.bp)

    @app.errorhandler(requests.RequestException)
    def idp_unreachable(exc):
        app.logger.warning("the IdP could not be reached: %s", exc)
        return render_template("ebank_error.html", error="temporarily_unavailable",
                               description="The identity provider cannot be reached."), 503

    @app.context_processor
    def levels():
        return {"level_names": LEVEL_NAMES, "HIGH": HIGH}

    @app.get("/")
    def home():
        return render_template("ebank_home.html", login=session.get("login"),
                               level_names=LEVEL_NAMES)

    @app.get("/login")
    def login():
        extra = {}
        if request.args.get("acr"):
            extra["acr_values"] = request.args["acr"]
        max_age = request.args.get("max_age", "")
        if max_age.isascii() and max_age.isdigit():
            extra["max_age"] = str(int(max_age))  # a string: Authlib drops a falsy 0
        session["after_login"] = _local_path(request.args.get("next"))
        return oauth.idp.authorize_redirect(app.config["URL"] + "/callback", **extra)

    @app.get("/callback")
    def callback():
        if "error" in request.args:
            # e.g. access_denied (cancelled), unmet_authentication_requirements or
            # interaction_required; a payment waiting for this login is dropped.
            session.pop("pending_payment", None)
            return render_template("ebank_error.html", error=request.args["error"],
                                   description=request.args.get("error_description")), 400
        try:
            token = oauth.idp.authorize_access_token()
        except OAuthError as exc:
            session.pop("pending_payment", None)
            return render_template("ebank_error.html", error=exc.error,
                                   description=exc.description), 400
        claims = dict(token["userinfo"])  # the validated ID token's claims
        userinfo = dict(oauth.idp.userinfo(token=token))
        after_login = _local_path(session.get("after_login"))
        pending = session.get("pending_payment")
        session.clear()  # a new login starts a new session (no fixation)
        if pending and after_login == payment.CONFIRM:
            session["pending_payment"] = pending
        session["login"] = {"id_token": token["id_token"], "claims": claims,
                            "userinfo": userinfo, "access_token": token["access_token"],
                            "at": int(time.time())}
        return redirect(after_login)

    @app.get("/logout")
    def logout():
        login = session.pop("login", None)
        session.clear()
        if not login:
            return redirect("/")
        metadata = oauth.idp.load_server_metadata()
        from authlib.common.urls import add_params_to_uri

        return redirect(add_params_to_uri(metadata["end_session_endpoint"], {
            "id_token_hint": login["id_token"], "client_id": client_id,
            "post_logout_redirect_uri": app.config["URL"] + "/"}))

    return app
