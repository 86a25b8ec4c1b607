"""A small demo e-bank: logs in through the IdP with Authlib's standard OIDC
client (discovery, PKCE, nonce, ID token validation), shows the claims it got,
and asks for ``http://eidas.europa.eu/LoA/high`` before a payment.

It deliberately knows nothing of the IdP's internals: only its issuer URL and
the client credentials."""

import json
import os
import time

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, redirect, render_template, request, session, url_for

HIGH = "http://eidas.europa.eu/LoA/high"
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


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.update(
        ISSUER="http://localhost:5000",
        URL="http://localhost:5001",
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

    client_id, client_secret = _credentials(app.config)
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=app.config["ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email phone", "code_challenge_method": "S256"},
    )

    @app.get("/")
    def home():
        return render_template("ebank_home.html", login=session.get("login"),
                               level_names=LEVEL_NAMES)

    @app.get("/login")
    def login():
        extra = {}
        if request.args.get("acr"):
            extra["acr_values"] = request.args["acr"]
        session["after_login"] = request.args.get("next", "/")
        return oauth.idp.authorize_redirect(app.config["URL"] + "/callback", **extra)

    @app.get("/callback")
    def callback():
        if "error" in request.args:
            # e.g. access_denied (cancelled) or unmet_authentication_requirements
            return render_template("ebank_error.html", error=request.args["error"],
                                   description=request.args.get("error_description")), 400
        try:
            token = oauth.idp.authorize_access_token()
        except OAuthError as exc:
            return render_template("ebank_error.html", error=exc.error,
                                   description=exc.description), 400
        claims = dict(token["userinfo"])  # the validated ID token's claims
        userinfo = dict(oauth.idp.userinfo(token=token))
        session["login"] = {"id_token": token["id_token"], "claims": claims,
                            "userinfo": userinfo, "at": int(time.time())}
        return redirect(session.pop("after_login", "/"))

    @app.route("/payment", methods=["GET", "POST"])
    def payment():
        login = session.get("login")
        if not login:
            return redirect(url_for("login", next="/payment"))
        acr = login["claims"].get("acr")
        if acr != HIGH:
            return render_template("ebank_payment.html", allowed=False, acr=acr,
                                   level_names=LEVEL_NAMES)
        done = request.method == "POST"
        return render_template("ebank_payment.html", allowed=True, done=done, acr=acr,
                               level_names=LEVEL_NAMES)

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
