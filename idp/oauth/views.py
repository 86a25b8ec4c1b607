"""HTTP endpoints of the OpenID Provider: discovery, JWKS, authorize (with its
resume and consent steps), token, userinfo, revocation, introspection, logout."""

import json

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import SubmitField, ValidationError

from .. import audit
from ..authn.current import current_login
from ..extensions import csrf
from ..interactions import (deny_interaction, give_up_interaction, interaction_expired,
                            load_interaction, save_interaction)
from . import authorize as pipeline
from . import dpop
from .claims import released_scopes
from .lookups import query_client
from .metadata import discovery_document
from .server import oauth_server

bp = Blueprint("oauth", __name__)

# Endpoints that carry no cookies, so any origin may call them from a browser.
CORS_ENDPOINTS = {"oauth.discovery", "oauth.jwks", "oauth.token", "oauth.userinfo",
                  "oauth.revoke"}
# Where clients use DPoP proofs, and learn our next nonce (RFC 9449 8).
DPOP_ENDPOINTS = {"oauth.token", "oauth.userinfo"}


@bp.after_request
def cors(response):
    if request.endpoint in CORS_ENDPOINTS:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
        response.headers["Access-Control-Expose-Headers"] = "DPoP-Nonce, WWW-Authenticate"
    if (request.endpoint in DPOP_ENDPOINTS and current_app.config["DPOP_REQUIRE_NONCE"]
            and "DPoP-Nonce" not in response.headers):
        response.headers["DPoP-Nonce"] = dpop.current_nonce()
    return response


def _json(body, max_age):
    return Response(body, mimetype="application/json",
                    headers={"Cache-Control": f"public, max-age={max_age}"})


@bp.get("/.well-known/openid-configuration")
def discovery():
    cache = current_app.extensions.setdefault("idp_discovery", {})
    if "body" not in cache:
        cache["body"] = json.dumps(discovery_document(current_app.config["ISSUER"]))
    return _json(cache["body"], 3600)


@bp.get("/jwks.json")
def jwks():
    return _json(current_app.extensions["idp_keys"].jwks_json(), 300)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # RPs may POST authorization requests (OIDC Core 3.1.2.1)
def authorize():
    if request.method == "POST":
        # A cross-site POST arrives without our SameSite=Lax cookie: continue as
        # a top-level GET, which carries it, so single sign-on still works.
        return redirect(url_for("oauth.authorize", **request.form.to_dict(flat=False)), 303)
    params = request.args.to_dict(flat=False)
    return pipeline.authorize(current_login(), request_params=params)


@bp.get("/authorize/resume/<iid>")
def resume(iid):
    interaction = load_interaction(iid)
    if interaction is None:
        return interaction_expired()
    return pipeline.authorize(current_login(), iid=iid, interaction=interaction)


class DecisionForm(FlaskForm):
    allow = SubmitField()
    deny = SubmitField()


@bp.route("/authorize/consent/<iid>", methods=["GET", "POST"])
def consent(iid):
    interaction = load_interaction(iid)
    login = current_login()
    if interaction is None:
        return interaction_expired()
    if login is None:
        return redirect(url_for("authn.login", interaction=iid))
    params = dict(interaction["params"])
    client = query_client(interaction["client_id"])
    if client is None:
        return interaction_expired()
    # Every scope whose claims would be released: asked for, or implied by a
    # claim asked for by name, within what the client is registered for.
    scopes = released_scopes(client, params.get("scope", [""])[0],
                             params.get("claims", [None])[0])
    form = DecisionForm()
    if form.validate_on_submit():
        if form.allow.data:
            pipeline.record_consent(login.user, interaction["client_id"], " ".join(scopes))
            audit.record("consent_granted", user_id=login.user_id, ip=request.remote_addr,
                         client_id=interaction["client_id"], scope=" ".join(scopes))
            interaction["consent"] = "granted"
        else:
            interaction["consent"] = "denied"
        save_interaction(iid, interaction)
        return redirect(url_for("oauth.resume", iid=iid))
    return render_template("consent.html", form=form, client_name=interaction["client_name"],
                           scopes=[s for s in scopes if s != "openid"], user=login.user)


class CsrfOnlyForm(FlaskForm):
    """A form whose only field is its CSRF token."""


@bp.post("/authorize/abort/<iid>")
def abort(iid):
    """The person cancelled: the RP gets ``access_denied``."""
    return _end_interaction_with(iid, deny_interaction)


@bp.post("/authorize/give-up/<iid>")
def give_up(iid):
    """The person cannot reach the level asked for now: the RP gets
    ``unmet_authentication_requirements``."""
    return _end_interaction_with(iid, give_up_interaction)


def _end_interaction_with(iid, mark):
    interaction = load_interaction(iid)
    if interaction is None:
        return interaction_expired()
    mark(iid, interaction)
    return redirect(url_for("oauth.resume", iid=iid))


@bp.post("/token")
@csrf.exempt
def token():
    return oauth_server().create_token_response()


@bp.post("/par")
@csrf.exempt
def pushed_authorization_request():
    return oauth_server().create_endpoint_response("pushed_authorization")


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    return oauth_server().create_endpoint_response("userinfo")


@bp.post("/revoke")
@csrf.exempt
def revoke():
    return oauth_server().create_endpoint_response("revocation")


@bp.post("/introspect")
@csrf.exempt
def introspect():
    return oauth_server().create_endpoint_response("introspection")


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # RPs may POST here; our own confirmation form is checked by hand
def logout():
    """RP-initiated logout: immediate with a valid id_token_hint, else confirmed."""
    from authlib.oauth2.rfc6749.errors import OAuth2Error

    server = oauth_server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template("oauth_error.html", error=error.error,
                               description=error.get_error_description()), 400
    confirmed = False
    if request.method == "POST" and "csrf_token" in request.form:
        try:
            validate_csrf(request.form["csrf_token"])
            confirmed = True
        except ValidationError:  # a wrong or expired token
            return render_template("error.html", code=400,
                                   message=_("The form has expired. Please try again.")), 400
    login = current_login()
    hint = end_request.id_token_claims or {}
    # Without confirmation only when the hint names the person logged in here
    # (RP-Initiated Logout 1.0, 2): a stranger's ID token must not log anyone out.
    own_hint = login is not None and hint.get("sub") == login.user.sub
    if login is not None and not confirmed and not own_hint:
        return render_template("logout_confirm.html", form=CsrfOnlyForm(),
                               params=request.values,
                               client_name=end_request.client.name if end_request.client else None)
    response = server.create_endpoint_response("end_session", end_request)
    if response is not None:
        return response
    return render_template("logged_out.html")
