"""Proving a factor: the second step of a login, a passwordless login with a
passkey ("Prijava s ključem"), step-up of a login that is too weak for what
an RP asked, and re-authentication before sensitive changes.

All four are one stored flow (kind "factor") on one page: the person picks a
method (the last used is offered first), the method's strategy prepares and
verifies, and ``_finish`` does what the flow's purpose says. Failures count
towards the account's lock-out like wrong passwords."""

import time
from dataclasses import dataclass, field
from functools import wraps

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   session, url_for)
from ..i18n import lazy_gettext as _l

from .. import audit
from ..accounts.models import User
from ..accounts.service import clear_login_failures, login_locked, record_login_failure
from ..extensions import db
from ..forms import CsrfForm
from ..interactions import attach_login, interaction_expired, load_interaction
from ..levels import HIGH, SUBSTANTIAL
from ..stepup import reaches
from ..authn.current import (continue_to_rp, current_login, establish_login, renew_login,
                             require_login, safe_next)
from ..authn.methods import (METHODS, Proof, combine, mark_used, second_factor_kinds,
                             session_proof, step_up_kinds)
from ..authn.methods.password import LOCKED, PasswordMethod
from ..authn.sessions import step_up_session
from .common import flow_expired
from .state import FlowState, begin_flow, end_flow, load_flow, save_flow

bp = Blueprint("factor", __name__)

KIND = "factor"
LOGIN, ALONE, REAUTH, STEP_UP = "login", "alone", "reauth", "step_up"
# Purposes that prove a factor for the session that is already logged in.
SAME_SESSION = (REAUTH, STEP_UP)

# A login by one method alone is named after the method (its ``alone_title``).
TITLES = {LOGIN: _l("Confirm your login"), REAUTH: _l("Confirm it is you"),
          STEP_UP: _l("A stronger confirmation is needed")}
TOO_WEAK = _l("This confirmation is not strong enough for the service. Choose another way.")


@dataclass(kw_only=True)
class Factor(FlowState):
    """Proving a factor on the one verify page, for ``purpose``."""
    KIND = KIND
    TRANSITIONS = {"verify": set()}  # one page; the flow ends when a proof lands
    purpose: str  # LOGIN, ALONE, REAUTH or STEP_UP
    kinds: list  # the methods offered, the first one shown first
    user_id: int | None = None  # None: a login by one method alone names the account
    proofs: list = field(default_factory=list)  # what is proven already (Proof.as_dict)
    next: str | None = None  # where a login without an RP or a re-authentication goes
    required: str | None = None  # the level a step-up must reach
    scratch: dict = field(default_factory=dict)  # the method's own (flow.scratch)

    def with_proof(self, proof):
        return [Proof.from_dict(p) for p in self.proofs] + [proof]


def begin_factor_flow(purpose, kinds, user=None, iid=None, proofs=(), next_url=None,
                      required=None):
    return begin_flow(KIND, "verify", iid=iid, state=Factor(
        purpose=purpose, kinds=list(kinds), user_id=user.id if user else None,
        proofs=[p.as_dict() for p in proofs], next=next_url, required=required))


def start_second_factor(user, iid, next_url=None):
    """After a right password: the second step if the account has second
    factors, else None (the password alone makes the login)."""
    kinds = second_factor_kinds(user.id)
    if not kinds:
        return None
    flow = begin_factor_flow(LOGIN, kinds, user=user, iid=iid,
                             proofs=[PasswordMethod.proof()], next_url=next_url)
    return redirect(url_for("factor.verify", fid=flow.id))


@bp.get("/login/<kind>")
def login_alone(kind):
    """A login by one method that names the account itself (one with an
    ``alone_title``): a discoverable passkey ("Prijava s ključem") or a
    certificate ("Prijava s potrdilom")."""
    if kind not in METHODS or METHODS[kind].alone_title is None:
        abort(404)
    iid = request.args.get("interaction") or None
    if iid and load_interaction(iid) is None:
        return interaction_expired()
    flow = begin_factor_flow(ALONE, [kind], iid=iid,
                             next_url=None if iid else safe_next(request.args.get("next")))
    return redirect(url_for("factor.verify", fid=flow.id))


@bp.post("/login/passkey/options")
def passkey_options():
    """A passkey login offered in the login page's e-mail field (WebAuthn
    conditional mediation, static/passkey-autofill.js): the options with a
    fresh challenge, and where the browser's answer goes. The same flow as
    "Log in with a passkey", so it lands where that would."""
    iid = request.form.get("interaction") or None
    if iid and load_interaction(iid) is None:
        return jsonify(error="interaction_expired"), 400
    flow = begin_factor_flow(ALONE, ["passkey"], iid=iid,
                             next_url=None if iid else safe_next(request.form.get("next")))
    options = METHODS["passkey"].prepare(flow, None)["webauthn_options"]
    save_flow(flow)
    return jsonify(action=url_for("factor.verify", fid=flow.id), options=options)


@bp.route("/login/<fid>/verify", methods=["GET", "POST"])
def verify(fid):
    flow = load_flow(KIND, fid)
    if flow is None:
        return flow_expired(url_for("authn.login"))
    user = db.session.get(User, flow.data.user_id) if flow.data.user_id else None
    if flow.data.user_id and (user is None or not user.active):
        end_flow(flow)
        return flow_expired(url_for("authn.login"))
    if flow.data.purpose in SAME_SESSION and not _same_login(user):
        end_flow(flow)
        return redirect(url_for("authn.login"))

    kinds = flow.data.kinds
    kind = request.values.get("method")
    kind = kind if kind in kinds else kinds[0]
    method = METHODS[kind]
    form = method.form_class()
    notice, status = None, 200

    if user is not None and login_locked(user.email, user):
        end_flow(flow)
        return _locked_page(flow)
    if request.method == "POST" and "resend" in request.form and hasattr(method, "resend"):
        if CsrfForm().validate_on_submit():
            notice = method.resend(flow, user) or _l("We have sent a new code.")
    elif form.validate_on_submit():
        outcome = method.verify(flow, user, form)
        save_flow(flow)  # a challenge or code is spent, right or wrong
        if outcome.ok and _too_weak(flow, outcome):
            outcome.error = TOO_WEAK
        elif outcome.ok:
            return _finish(flow, outcome, kind)
        method.answer_field(form).errors = [outcome.error]
        status = 400
        owner = user or (db.session.get(User, outcome.user_id) if outcome.user_id else None)
        if outcome.failed and owner is not None:
            if record_login_failure(owner.email, owner, ip=request.remote_addr, reason=kind):
                end_flow(flow)
                return _locked_page(flow)
    elif request.method == "POST":
        status = 400

    context = method.prepare(flow, user)
    save_flow(flow)
    return render_template(
        "factor.html", flow=flow, form=form, kind=kind, method=method, notice=notice,
        title=TITLES.get(flow.data.purpose) or method.alone_title,
        purpose=flow.data.purpose, step_up=_step_up_reason(flow),
        others=[METHODS[k] for k in kinds if k != kind], user=user,
        cancel=_cancel_url(flow), **context), status


def _step_up_reason(flow):
    """Which service asks a step-up for which level, for the page to say."""
    if flow.data.purpose != STEP_UP:
        return None
    interaction = load_interaction(flow.iid)
    return {"service": interaction["client_name"] if interaction else None,
            "level": flow.data.required}


def _locked_page(flow):
    return render_template("factor_locked.html", message=LOCKED,
                           login_url=url_for("authn.login", interaction=flow.iid)), 429


def _cancel_url(flow):
    if flow.data.purpose == REAUTH:
        return url_for("dashboard.home")
    if flow.data.purpose == STEP_UP:
        return url_for("factor.step_up", interaction=flow.iid, cancel=1)
    return url_for("authn.login", interaction=flow.iid)


def _too_weak(flow, outcome):
    """A step-up whose proof still leaves the login below the level asked for
    (a key that did not verify the person, say)."""
    if flow.data.purpose != STEP_UP:
        return False
    return not reaches(combine(flow.data.with_proof(outcome.proof))[1], flow.data.required)


def _same_login(user):
    login = current_login()
    return login is not None and user is not None and login.user_id == user.id


def _finish(flow, outcome, kind):
    end_flow(flow)
    if outcome.method is not None:
        mark_used(outcome.method)
    purpose = flow.data.purpose
    user = db.session.get(User, outcome.user_id or flow.data.user_id)
    if purpose == REAUTH:
        renew_login()
        session["verified_at"] = int(time.time())
        audit.record("reauthenticated", user_id=user.id, ip=request.remote_addr,
                     method=kind)
        return redirect(flow.data.next or url_for("dashboard.home"))

    amr, strength = combine(flow.data.with_proof(outcome.proof))
    # A phishing-resistant method alone (a passkey that verifies the person, a
    # certificate) cannot be guessed: a lock-out that a stranger can cause
    # with wrong passwords must not shut the owner out of it as well.
    unguessable = purpose == ALONE and reaches(strength, HIGH)
    if not user.active or (login_locked(user.email, user) and not unguessable):
        return _locked_page(flow)
    clear_login_failures(user.email, user)
    interaction = load_interaction(flow.iid)
    if purpose == STEP_UP:
        # Not a fresh login: prompt=login, max_age and id_token_hint still
        # judge the session by its first login.
        step_up_session(current_login(), amr, strength, ip=request.remote_addr)
        renew_login()
        session["verified_at"] = int(time.time())
        return continue_to_rp(flow.iid, interaction)
    started = establish_login(user, amr, strength)
    if interaction is not None:
        attach_login(flow.iid, interaction, started)
    return continue_to_rp(flow.iid, interaction, flow.data.next)


# -- step-up -------------------------------------------------------------------------

@bp.get("/login/step-up")
def step_up():
    """An RP asked for more than this login gives: prove a stronger factor in
    the same session, or (without one) add a passkey or give up."""
    login = require_login()
    iid = request.args.get("interaction") or None
    interaction = load_interaction(iid)
    if interaction is None:
        return interaction_expired()
    if interaction.get("step_up_sid") != login.public_id:
        # Only where the policy asked this session for a step-up.
        return redirect(url_for("oauth.resume", iid=iid))
    required = interaction.get("required_level") or SUBSTANTIAL
    kinds = step_up_kinds(login.user_id, required)
    if "passkey" in kinds:  # the account's passkey first: one touch
        kinds = ["passkey"] + [k for k in kinds if k != "passkey"]
    if kinds and not request.args.get("cancel"):
        flow = begin_factor_flow(STEP_UP, kinds, user=login.user, iid=iid, required=required,
                                 proofs=[session_proof(login.amr, login.strength)])
        return redirect(url_for("factor.verify", fid=flow.id))
    return render_template("step_up.html", iid=iid, required=required, has_kinds=bool(kinds),
                           client_name=interaction["client_name"], form=CsrfForm())


# -- re-authentication ------------------------------------------------------------

def recently_verified():
    """Whether this session proved a factor within ``REAUTH_MAX_AGE`` seconds."""
    verified_at = session.get("verified_at", 0)
    return time.time() - verified_at <= current_app.config["REAUTH_MAX_AGE"]


def require_recent_auth(view):
    """Sensitive pages: log in first, and prove a factor again when the last
    proof is older than ``REAUTH_MAX_AGE``; then come back to this page (a POST
    that was too late comes back as the page's GET)."""
    @wraps(view)
    def guarded(*args, **kwargs):
        require_login()
        if not recently_verified():
            next_url = request.full_path if request.query_string else request.path
            return redirect(url_for("factor.reauth", next=next_url))
        return view(*args, **kwargs)
    return guarded


@bp.get("/reauth")
def reauth():
    login = require_login()
    kinds = second_factor_kinds(login.user_id)
    if login.user.password_hash:
        kinds.append("password")
    if not kinds:
        return redirect(url_for("authn.login"))
    flow = begin_factor_flow(REAUTH, kinds, user=login.user,
                             next_url=safe_next(request.args.get("next")))
    return redirect(url_for("factor.verify", fid=flow.id))
