"""A small demo e-bank, a FAPI 2.0 client of the IdP (``fapi.py``): its
logins are pushed authorization requests with PKCE, it authenticates with
``private_key_jwt``, its tokens are DPoP-bound and meant for its payment API
(RFC 8707), and it checks the ID token against the IdP's keys; then it shows
the claims it got. Payments go through its own API (``api.py``), which checks
each token and proof at the IdP and asks for a step-up (RFC 9470) when the
login is not at the ``http://eidas.europa.eu/LoA/high`` level or not recent;
the payment pages (``payment.py``) turn that challenge into a new login. See
docs/ebank.md.

It deliberately knows nothing of the IdP's internals: only its issuer URL,
its client_id and its private key."""

import json
import os
import secrets
import time

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask, redirect, render_template, request, session

from . import api, backchannel, headers, payment, proofs
from .fapi import FapiClient, FapiError
from .ledger import Ledger

HIGH = api.HIGH
LEVEL_NAMES = {
    "http://eidas.europa.eu/LoA/low": "nizka / low",
    "http://eidas.europa.eu/LoA/substantial": "srednja / substantial",
    HIGH: "visoka / high",
}


def _credentials(config):
    """client_id and the private JWK of the e-bank's key pair."""
    if config.get("CLIENT_ID"):
        key = config.get("CLIENT_KEY")
        return config["CLIENT_ID"], json.loads(key) if isinstance(key, str) else key
    with open(config["CLIENT_FILE"]) as fh:
        data = json.load(fh)
    return data["client_id"], data["private_jwk"]


def _local_path(target, default="/"):
    """``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    if (not isinstance(target, str) or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 0x20 for c in target)):
        return default
    return target


def _callback_problem(asked, args, issuer):
    """Why this authorization response cannot be ours: ``(error, description)`` or None."""
    if not asked or not secrets.compare_digest(args.get("state", ""), asked["state"]):
        return "invalid_state", "This answer does not belong to a login started here."
    if args.get("iss") != issuer.rstrip("/"):  # RFC 9207, required by FAPI 2.0
        return "invalid_issuer", "The answer names another identity provider."
    if not args.get("code"):
        return "invalid_request", "The answer has no authorization code."
    return None


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

    client_id, private_jwk = _credentials(app.config)
    backchannel.init_app(app, client_id)
    fapi = FapiClient(app.config["ISSUER"], client_id, private_jwk, app.config["HTTP_TIMEOUT"])
    app.extensions["ebank_fapi"] = fapi
    app.extensions["ebank_introspector"] = api.Introspector(
        app.config["ISSUER"], client_id, fapi.client_assertion, app.config["HTTP_TIMEOUT"])
    app.extensions["ebank_seen_proofs"] = proofs.SeenProofs()
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
            extra["max_age"] = str(int(max_age))
        session["after_login"] = _local_path(request.args.get("next"))
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # RFC 7636 4.1: 43 to 128 characters
        session["authorization"] = {"state": state, "nonce": nonce, "verifier": verifier}
        try:
            url = fapi.push({
                "response_type": "code", "redirect_uri": app.config["URL"] + "/callback",
                "scope": "openid profile email phone", "state": state, "nonce": nonce,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256", "resource": app.config["API_URL"], **extra})
        except FapiError as exc:
            app.logger.warning("pushed authorization request refused: %s", exc)
            return render_template("ebank_error.html", error=exc.error,
                                   description=exc.description), 503
        return redirect(url)

    @app.get("/callback")
    def callback():
        asked = session.pop("authorization", None)
        if "error" in request.args:
            # e.g. access_denied (cancelled), unmet_authentication_requirements or
            # interaction_required; a payment waiting for this login is dropped.
            session.pop("pending_payment", None)
            return render_template("ebank_error.html", error=request.args["error"],
                                   description=request.args.get("error_description")), 400
        problem = _callback_problem(asked, request.args, app.config["ISSUER"])
        if problem:
            session.pop("pending_payment", None)
            return render_template("ebank_error.html", error=problem[0],
                                   description=problem[1]), 400
        try:
            token = fapi.exchange(request.args["code"], app.config["URL"] + "/callback",
                                  asked["verifier"], resource=app.config["API_URL"])
            claims = fapi.id_token_claims(token.get("id_token", ""), asked["nonce"])
            userinfo = fapi.userinfo(token["access_token"])
        except FapiError as exc:
            session.pop("pending_payment", None)
            return render_template("ebank_error.html", error=exc.error,
                                   description=exc.description), 400
        if userinfo.get("sub") != claims["sub"]:
            return render_template("ebank_error.html", error="invalid_userinfo"), 400
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
        end_session = requests.Request("GET", fapi.endpoint("end_session_endpoint"), params={
            "id_token_hint": login["id_token"], "client_id": client_id,
            "post_logout_redirect_uri": app.config["URL"] + "/"}).prepare().url
        return redirect(end_session)

    return app
