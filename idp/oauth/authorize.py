"""The authorization endpoint as a pipeline.

1. Authlib validates the request (client, redirect URI, response type, scope,
   PKCE, nonce); errors before the redirect URI is trusted show a page.
2. The policy (``policy.decide``) says: issue a code, ask the person to log in
   or consent, or answer the RP with an error.
3. When the person is needed, the request is kept as an *interaction* in the
   store (bound to this browser) and resumed at ``/authorize/resume/<id>``,
   which re-enters the same pipeline with the stored parameters.
"""

import time

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from flask import current_app, redirect, render_template, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.datastructures import MultiDict

from ..extensions import LOCALES, db
from ..interactions import begin_interaction, end_interaction, load_interaction, save_interaction
from ..timeutil import epoch
from ..levels import acr_for
from ..signing import ALGORITHMS
from . import policy
from .claims import released_scopes
from .grants import LoginContext
from .models import Consent
from .par import PushedPayload
from .payloads import ResolvedAuthorizationRequest
from .server import oauth_server
from .syntax import describable, syntax_problem
from .tokens import new_family


# -- the pipeline -----------------------------------------------------------------

# Where the person goes when the policy needs them, and the page's parameter.
INTERACTION_PAGES = {
    "login": ("authn.login", "interaction"),
    "consent": ("oauth.consent", "iid"),
    "step_up": ("factor.step_up", "interaction"),
    "raise": ("trust.raise_level", "interaction"),
}


def authorize(current_login, request_params=None, iid=None, interaction=None):
    """Answer an authorization request (fresh, or resumed from an interaction)."""
    server = oauth_server()
    req = None
    if interaction is not None:
        # Pushed requests (par.py) were resolved when the interaction began.
        req = ResolvedAuthorizationRequest(MultiDict(interaction["params"]),
                                           current_app.config["ISSUER"] + "/authorize")
    user = current_login.user if current_login else None
    bad = syntax_problem(request_params or {})
    if bad is not None:  # before Authlib, which would quote the value back
        return error_response(InvalidRequestError(
            f"The {bad} parameter has characters its syntax does not allow."))
    try:
        grant = server.get_consent_grant(request=req, end_user=user)
    except OAuth2Error as error:
        end_interaction(iid)
        return error_response(error)
    except ValueError:  # an error Authlib could not describe: the input was odd
        end_interaction(iid)
        return error_response(InvalidRequestError("The request has invalid characters."))

    data = grant.request.payload.data
    _apply_ui_locales(data.get("ui_locales"))
    try:
        _refuse_unsupported(grant.request.payload)
        situation = _situation(grant, current_login, interaction)
    except OAuth2Error as error:
        error.redirect_uri, error.state = grant.redirect_uri, data.get("state")
        end_interaction(iid)
        return error_response(error)

    decision = policy.decide(situation)
    if decision.action == "error":
        end_interaction(iid)
        error = decision.error(description=decision.description,
                               redirect_uri=grant.redirect_uri, state=data.get("state"))
        return error_response(error)
    if decision.action in INTERACTION_PAGES:
        if iid is None:
            # A pushed request is kept as pushed (its request_uri is spent).
            payload = grant.request.payload
            params = payload.pushed if isinstance(payload, PushedPayload) else request_params
            iid = begin_interaction(params, grant.client)
            interaction = load_interaction(iid)
        asked = {"required_level": situation.required_level,
                 "step_up_sid": current_login.public_id if decision.action == "step_up"
                 else None}
        if any(interaction.get(k) != v for k, v in asked.items()):
            interaction.update(asked)
            save_interaction(iid, interaction)
        endpoint, arg = INTERACTION_PAGES[decision.action]
        return redirect(url_for(endpoint, **{arg: iid}))

    grant.login = LoginContext(
        sid=current_login.public_id, auth_time=epoch(current_login.auth_time),
        acr=acr_for(user.trust_level, current_login.strength), amr=list(current_login.amr),
        family=new_family())
    response = server.create_authorization_response(
        request=grant.request, grant_user=user, grant=grant)
    end_interaction(iid)
    return response


def _refuse_unsupported(payload):
    """Parameters we must not silently ignore (OIDC Core 6.1, 6.2; RFC 6749 3.1)."""
    if "request" in payload.data:
        raise RequestNotSupportedError()
    if "request_uri" in payload.data:
        raise RequestURINotSupportedError()
    repeated = sorted(k for k, values in payload.datalist.items() if len(values) > 1)
    if repeated:
        raise InvalidRequestError(f"Repeated parameters: {describable(repeated)}.")


def _situation(grant, current_login, interaction):
    data = grant.request.payload.data
    client = grant.client
    login = None
    if current_login is not None:
        login = policy.Login(sub=current_login.user.sub, auth_time=epoch(current_login.auth_time),
                             strength=current_login.strength,
                             trust_level=current_login.user.trust_level)
    fresh = bool(interaction and current_login
                 and interaction["login_sid"] == current_login.public_id)
    return policy.Situation(
        now=int(time.time()),
        login=login,
        prompts=set((data.get("prompt") or "").split()),
        max_age=policy.parse_max_age(data.get("max_age")),
        required_level=policy.requested_level(data.get("acr_values"), data.get("claims"),
                                              client.min_acr),
        fresh_login=fresh,
        hint_sub=_hint_sub(data.get("id_token_hint"), client),
        consent_needed=bool(current_login) and _consent_needed(
            client, current_login.user,
            released_scopes(client, grant.request.scope, data.get("claims"))),
        consent=interaction["consent"] if interaction else None,
        gave_up=bool(interaction and interaction.get("gave_up")),
    )


def _hint_sub(id_token_hint, client):
    """The subject of an ID token we issued (expired ones are fine as hints)."""
    if not id_token_hint:
        return None
    keyring = current_app.extensions["idp_keys"]
    try:
        token = jwt.decode(id_token_hint, keyring.hint_keyset(), algorithms=list(ALGORITHMS))
    except (JoseError, ValueError):
        raise InvalidRequestError("id_token_hint is not an ID token issued here.") from None
    claims = token.claims
    if claims.get("iss") != current_app.config["ISSUER"]:
        raise InvalidRequestError("id_token_hint was issued by someone else.")
    return claims.get("sub")


def _consent_needed(client, user, scopes):
    """Whether the person has yet to allow ``scopes`` (the scopes whose claims
    this request would release) to this client."""
    if client.first_party:
        return False
    consent = db.session.execute(
        db.select(Consent).filter_by(user_id=user.id, client_id=client.client_id)
    ).scalar_one_or_none()
    return consent is None or not set(scopes) <= set(consent.scope.split())


def record_consent(user, client_id, scope):
    consent = db.session.execute(
        db.select(Consent).filter_by(user_id=user.id, client_id=client_id)
    ).scalar_one_or_none()
    if consent is None:
        consent = Consent(user_id=user.id, client_id=client_id, scope="")
        db.session.add(consent)
    consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scope.split())))
    db.session.commit()


def _apply_ui_locales(ui_locales):
    for tag in (ui_locales or "").split():
        lang = tag.split("-")[0].lower()
        if lang in LOCALES:
            session["lang"] = lang
            return


def error_response(error):
    """Redirect to the RP when its redirect URI is trusted, else show a page."""
    if error.redirect_uri:
        params = error.get_body() + [("iss", current_app.config["ISSUER"])]
        return redirect(add_params_to_uri(error.redirect_uri, params,
                                          fragment=error.redirect_fragment))
    return render_template("oauth_error.html", error=error.error,
                           description=error.get_error_description()), 400
