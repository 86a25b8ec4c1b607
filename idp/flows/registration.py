"""Registration, as in the Rekono guide: details → e-mail code → SMS code →
PUK → choose. The account is created only when both codes are confirmed, in
one transaction; the paused authorization request (``iid``) survives the
whole flow and is finished at the end.

Each step is a small view; the checks are plain functions tests can call."""

from dataclasses import dataclass, field

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from ..i18n import lazy_gettext as _l

from ..accounts import passwords
from ..accounts.service import (AccountError, discard_new_account, find_by_email,
                                normalise_email, normalise_phone, register_account)
from ..accounts.models import User
from ..authn import PASSWORD_AMR, SMS_AMR
from ..authn.current import continue_to_rp, current_login, establish_login
from ..authn.methods import METHODS, combine
from ..authn.methods.password import PasswordMethod
from ..extensions import db
from ..interactions import (attach_login, deny_interaction, interaction_expired,
                            load_interaction)
from ..problems import validate_all
from ..web import issuer_url
from .. import codes
from ..codes import TOO_MANY_SENDS, send_code, send_code_limited
from .code_step import CodeStep, discard_flow
from .common import PASSWORD_CHECK, PASSWORD_RULE, flow_at, flow_expired
from ..forms import CsrfForm
from .forms import ChoiceForm, DetailsForm, PukAcknowledgementForm
from .state import FlowState, begin_flow, end_flow, load_flow, save_flow

bp = Blueprint("register", __name__)

KIND = "register"


@dataclass(kw_only=True)
class Registration(FlowState):
    """A registration between the details page and the end. The password is
    kept only as its hash, until the account is created; the PUK only until
    the person said it is stored."""
    KIND = KIND
    # The steps after the details page, and where each may lead.
    TRANSITIONS = {"email": {"phone"}, "phone": {"puk"}, "puk": {"choose"}}
    email: str
    phone: str
    password_hash: str | None
    existing: bool  # the address is registered: its owner gets a notice, not a code
    lang: str
    user_id: int | None = None
    puk: str | None = None


STEP_VIEWS = {"email": "register.email", "phone": "register.phone",
              "puk": "register.puk", "choose": "register.choose"}
# The two code steps.
CODE_STEPS = {
    "email": CodeStep("email", "register.email", _l("Registration"), 2, 5,
                      "register.resend", "register.cancel", _l("Cancel registration")),
    "phone": CodeStep("sms", "register.phone", _l("Registration"), 3, 5,
                      "register.resend", "register.cancel", _l("Cancel registration")),
}

PHONE_MESSAGES = {
    "phone": _l("Enter a mobile phone number, such as 041 123 123 or +386 41 123 123."),
    "phone_not_mobile": _l("This is not a mobile number; the code is sent by SMS."),
}


@dataclass
class Details:
    email: str | None = None
    phone: str | None = None
    errors: dict = field(default_factory=dict)


def check_details(email, region, phone):
    """Normalise the e-mail and the mobile number; messages for what is wrong."""
    details = Details()
    try:
        details.email = normalise_email(email)
    except AccountError:
        details.errors["email"] = [_l("Enter an e-mail address like name@example.si.")]
    try:
        details.phone = normalise_phone(phone, region=region, mobile=True)
    except AccountError as error:
        details.errors["phone"] = [PHONE_MESSAGES.get(error.code, PHONE_MESSAGES["phone"])]
    return details


def _start_url(flow=None):
    iid = flow.iid if flow else request.values.get("interaction")
    if iid and load_interaction(iid) is None:
        iid = None
    return url_for("register.details", interaction=iid or None)


def _flow_at(fid, step):
    return flow_at(KIND, fid, step, STEP_VIEWS, _start_url())


@bp.route("/register", methods=["GET", "POST"])
def details():
    iid = request.values.get("interaction") or None
    interaction = load_interaction(iid)
    if iid and interaction is None:
        return interaction_expired()
    form = DetailsForm()
    if request.method == "GET":
        form.interaction.data = iid
    status = 200
    checked = Details()

    def contact(form):
        found = check_details(form.email.data or "", form.phone_region.data, form.phone.data)
        checked.email, checked.phone = found.email, found.phone
        for name, messages in found.errors.items():
            if not form[name].errors:  # "enter your number" says enough
                form[name].errors = messages

    # Every problem at once: the fields' own checks, the address and number, the rule.
    if validate_all(form, ((), contact), PASSWORD_CHECK):
        if not codes.allow_send(request.remote_addr, checked.email):
            form.email.errors = [TOO_MANY_SENDS]
            status = 429
        else:
            return _begin(checked, form.password.data, iid)
    if form.errors and status == 200:
        status = 400
    return render_template("register_details.html", form=form, iid=iid, interaction=interaction,
                           rule=PASSWORD_RULE,
                           minutes=current_app.config["FLOW_TTL"] // 60), status


def _begin(checked, password, iid):
    existing = find_by_email(checked.email)
    flow = begin_flow(KIND, "email", iid=iid, state=Registration(
        email=checked.email, phone=checked.phone,
        password_hash=passwords.hash_password(password),
        existing=existing is not None, lang=str(get_locale())))
    _send_email_code(flow, existing)
    save_flow(flow)
    return redirect(url_for("register.email", fid=flow.id))


def _send_email_code(flow, existing=None):
    """The e-mail step's message. An address that is already registered gets a
    notice to its owner instead of a code, and the page looks the same."""
    if flow.data.existing:
        existing = existing or find_by_email(flow.data.email)
        if existing is not None:
            return send_code(flow, "email", flow.data.email, kind="registration_attempt",
                             lang=existing.locale or flow.data.lang,
                             login_url=issuer_url("authn.login"),
                             recover_url=issuer_url("recover.start"))
    return send_code(flow, "email", flow.data.email)


def _code_step(fid, step, on_success):
    flow, response = _flow_at(fid, step)
    if response is not None:
        return response
    # An address that is already registered got a notice, not a code.
    accept = not (step == "email" and flow.data.existing)
    return CODE_STEPS[step].confirm(flow, _target(flow), on_success, accept=accept)


def _target(flow):
    return flow.data.email if flow.step == "email" else flow.data.phone


@bp.route("/register/<fid>/email", methods=["GET", "POST"])
def email(fid):
    def confirmed(flow):
        flow.advance("phone")
        send_code_limited(flow, "sms", flow.data.phone)
        save_flow(flow)
        return redirect(url_for("register.phone", fid=flow.id))

    return _code_step(fid, "email", confirmed)


@bp.route("/register/<fid>/phone", methods=["GET", "POST"])
def phone(fid):
    def confirmed(flow):
        try:
            user, puk = register_account(flow.data.email, flow.data.phone,
                                         flow.data.password_hash, locale=flow.data.lang,
                                         ip=request.remote_addr)
        except AccountError:
            # Registered in another flow meanwhile. Both codes were confirmed,
            # so saying so reveals nothing to a stranger.
            end_flow(flow)
            return render_template("register_taken.html",
                                   login_url=url_for("authn.login", interaction=flow.iid)), 409
        flow.data.user_id, flow.data.puk, flow.data.password_hash = user.id, puk, None
        flow.advance("puk")
        save_flow(flow)
        return redirect(url_for("register.puk", fid=flow.id))

    return _code_step(fid, "phone", confirmed)


@bp.post("/register/<fid>/resend")
def resend(fid):
    flow = load_flow(KIND, fid)
    if flow is None:
        return flow_expired(_start_url())
    if flow.step not in CODE_STEPS:
        return redirect(url_for(STEP_VIEWS[flow.step], fid=fid))
    send = _send_email_code if flow.step == "email" else None
    return CODE_STEPS[flow.step].resend(flow, _target(flow), send)


@bp.route("/register/<fid>/puk", methods=["GET", "POST"])
def puk(fid):
    flow, response = _flow_at(fid, "puk")
    if response is not None:
        return response
    form = PukAcknowledgementForm()
    if form.validate_on_submit():
        user = db.session.get(User, flow.data.user_id)
        if user is None:
            end_flow(flow)
            return flow_expired(_start_url(flow))
        # The person chose the password and proved the phone with an SMS code:
        # its strength by the rule of every login. The amr stays what was done
        # (a password chosen and a phone confirmed, not a two-factor login).
        _, strength = combine([PasswordMethod.proof(), METHODS["sms"].proof()])
        establish_login(user, [PASSWORD_AMR, SMS_AMR], strength)
        flow.data.puk = None  # shown until stored, then gone
        flow.advance("choose")
        save_flow(flow)
        return redirect(url_for("register.choose", fid=flow.id))
    return render_template("puk.html", form=form, puk=flow.data.puk,
                           title=_l("Registration"), step=4, steps=5,
                           action=url_for("register.puk", fid=fid),
                           cancel=url_for("register.cancel", fid=fid)), \
        400 if form.errors else 200


@bp.route("/register/<fid>/done", methods=["GET", "POST"])
def choose(fid):
    flow, response = _flow_at(fid, "choose")
    if response is not None:
        return response
    login = current_login()
    if login is None or login.user_id != flow.data.user_id:
        end_flow(flow)  # logged out meanwhile: the account exists, log in as usual
        return redirect(url_for("authn.login", interaction=flow.iid))
    form = ChoiceForm()
    if form.validate_on_submit():
        end_flow(flow)
        interaction = load_interaction(flow.iid)
        if interaction is not None:  # this registration is the login the RP waits for
            attach_login(flow.iid, interaction, login)
        if form.methods.data:
            return redirect(url_for("methods.index", interaction=flow.iid if interaction else None))
        return continue_to_rp(flow.iid, interaction)
    waiting = load_interaction(flow.iid)
    return render_template("register_choose.html", form=form, interaction=waiting,
                           user=login.user)


@bp.post("/register/<fid>/cancel")
def cancel(fid):
    flow = load_flow(KIND, fid)
    if flow is None:
        return flow_expired(_start_url())
    if not CsrfForm().validate_on_submit():
        return redirect(url_for(STEP_VIEWS[flow.step], fid=fid))
    if flow.step == "puk":  # created a moment ago and never used: no half-made account
        discard_new_account(flow.data.user_id, ip=request.remote_addr)
    discard_flow(flow)
    return _cancelled(flow.iid)


def _cancelled(iid):
    """A waiting RP gets ``access_denied``; without one, the login page."""
    interaction = load_interaction(iid)
    if interaction is None:
        flash(_l("Registration cancelled."), "info")
        return redirect(url_for("authn.login"))
    deny_interaction(iid, interaction)
    return redirect(url_for("oauth.resume", iid=iid))


@bp.get("/terms")
def terms():
    return render_template("terms.html")
