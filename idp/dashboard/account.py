"""The account's own data on the dashboard: password, PUK, e-mail and mobile
(each confirmed with a code sent to the new one), and deleting the account
(confirmed with a code sent by e-mail). All need a recent authentication."""

import time
from dataclasses import dataclass

from flask import (Blueprint, flash, make_response, redirect, render_template, request,
                   session, url_for)
from ..i18n import lazy_gettext as _l

from .. import account_changes as changes
from ..accounts.service import AccountError, find_by_email, normalise_email, normalise_phone
from ..authn.factors import require_recent_auth
from ..authn.current import current_login, log_out_current
from ..flows.code_step import CodeStep, discard_flow
from ..delivery import mask_email, mask_phone
from ..flows.common import (PASSWORD_CHECK, PASSWORD_RULE, flow_expired, send_code,
                            send_code_limited)
from ..forms import CsrfForm
from ..flows.state import FlowState, begin_flow, end_flow, load_flow, save_flow
from ..problems import validate_all
from ..web import issuer_url
from .forms import ConfirmForm, EmailChangeForm, PasswordChangeForm, PhoneChangeForm

bp = Blueprint("account", __name__)

KIND = "change"


@dataclass(kw_only=True)
class ContactChange(FlowState):
    """A change of the e-mail address or mobile number, or the deletion of the
    account, waiting for the code sent to ``value``."""
    KIND = KIND
    TRANSITIONS = {}  # one step: "confirm"
    field: str  # "email", "phone" or "delete"
    value: str  # the new address or number; for "delete" the account's address
    user_id: int
    taken: bool  # another account uses the address: its owner gets a notice
    lang: str | None  # that owner's language


# What each confirmation flow changes: the channel its code goes by, and where.
CHANNELS = {"email": "email", "phone": "sms", "delete": "email"}
CODE_STEPS = {
    field: CodeStep(CHANNELS[field], "account.confirm", title, 2, 2,
                    "account.resend", "account.cancel")
    for field, title in (("email", _l("Change the e-mail address")),
                         ("phone", _l("Change the mobile number")),
                         ("delete", _l("Delete the account")))
}
TAKEN = _l("Another account uses this address. Nothing was changed.")
CONTACT_MESSAGES = {
    "email": {"invalid": _l("Enter an e-mail address like name@example.si."),
              "same": _l("This is your address already.")},
    "phone": {"invalid": _l("Enter a mobile phone number, such as 041 123 123."),
              "same": _l("This is your number already.")},
}


@bp.route("/account/password", methods=["GET", "POST"])
@require_recent_auth
def password():
    login = current_login()
    form = PasswordChangeForm()
    if validate_all(form, PASSWORD_CHECK):
        changes.change_password(login.user, form.password.data, login, ip=request.remote_addr,
                                what=_l("Your password was changed."))
        flash(_l("Your password is changed. Other devices were logged out."), "success")
        return redirect(url_for("dashboard.home"))
    return render_template("account_password.html", form=form, rule=PASSWORD_RULE,
                           has_password=bool(login.user.password_hash)), \
        400 if form.errors else 200


@bp.route("/account/puk", methods=["GET", "POST"])
@require_recent_auth
def puk():
    login = current_login()
    form = ConfirmForm()
    if form.validate_on_submit():
        new_puk = changes.issue_new_puk(
            login.user, ip=request.remote_addr,
            what=_l("A new PUK was issued; the old one no longer works."))
        response = make_response(render_template("account_puk_new.html", puk=new_puk))
        response.headers["Cache-Control"] = "no-store"
        return response
    return render_template("account_puk.html", form=form)


@bp.route("/account/email", methods=["GET", "POST"])
@require_recent_auth
def email():
    return _change_contact("email", EmailChangeForm(),
                           lambda form: normalise_email(form.email.data))


@bp.route("/account/phone", methods=["GET", "POST"])
@require_recent_auth
def phone():
    # A new mobile receives SMS codes: on a verified account, not on a password alone.
    refusal = changes.verified_login_problem(current_login().user.trust_level,
                                             current_login().strength,
                                             session.get("id_key_at"), time.time())
    if refusal:
        flash(refusal, "warning")
        return redirect(url_for("dashboard.home"))
    return _change_contact("phone", PhoneChangeForm(), lambda form: normalise_phone(
        form.phone.data, region=form.phone_region.data, mobile=True))


def _change_contact(kind, form, read):
    """The first page of an e-mail or mobile change: read the new value, then
    send it a code (``_begin``)."""
    if form.validate_on_submit():
        try:
            value = read(form)
        except AccountError:
            form[kind].errors = [CONTACT_MESSAGES[kind]["invalid"]]
        else:
            problem = contact_problem(kind, value, current_login().user)
            if problem is None:
                return _begin(kind, value)
            form[kind].errors = [CONTACT_MESSAGES[kind][problem]]
    return render_template("account_contact.html", form=form, kind=kind), \
        400 if form.errors else 200


def contact_problem(kind, value, user):
    """Why ``value`` cannot become the account's e-mail or mobile, or None.
    Whether another account uses it is not said here (that would tell anyone
    logged in which addresses are registered): ``_begin`` tells that owner."""
    if value == getattr(user, kind):
        return "same"
    return None


@bp.route("/account/delete", methods=["GET", "POST"])
@require_recent_auth
def delete():
    form = ConfirmForm()
    if form.validate_on_submit():
        return _begin("delete", current_login().user.email)
    return render_template("account_delete.html", form=form)


def _begin(field, value):
    login = current_login()
    owner = find_by_email(value) if field == "email" else None
    flow = begin_flow(KIND, "confirm", state=ContactChange(
        field=field, value=value, user_id=login.user_id,
        taken=owner is not None and owner.id != login.user_id,
        lang=owner.locale if owner is not None else None))
    send_code_limited(flow, CHANNELS[field], value, kind=_message(flow), **_context(flow))
    save_flow(flow)
    return redirect(url_for("account.confirm", fid=flow.id))


def _message(flow):
    """An address another account uses gets a notice to its owner instead of a
    code; the page looks the same either way."""
    if flow.data.taken:
        return "address_in_use"
    return "one_time_password" if CHANNELS[flow.data.field] == "sms" else "confirmation_code"


def _context(flow):
    if flow.data.taken:
        return {"lang": flow.data.lang, "login_url": issuer_url("authn.login"),
                "recover_url": issuer_url("recover.start")}
    return {}


def _own_flow(fid):
    login = current_login()
    flow = load_flow(KIND, fid)
    if flow is None or login is None or flow.data.user_id != login.user_id:
        return None, login
    return flow, login


@bp.route("/account/confirm/<fid>", methods=["GET", "POST"])
@require_recent_auth
def confirm(fid):
    flow, login = _own_flow(fid)
    if flow is None:
        return flow_expired(url_for("dashboard.home"))
    field = flow.data.field

    def confirmed(flow):
        response = _apply(field, flow.data.value, login)
        end_flow(flow)
        return response

    return CODE_STEPS[field].confirm(flow, flow.data.value, confirmed)


def _apply(field, value, login):
    user, ip = login.user, request.remote_addr
    if field == "delete":
        log_out_current("account_deleted")
        changes.delete_account(user, ip=ip)
        return render_template("account_deleted.html")
    try:
        if field == "email":
            changes.change_email(user, value, ip=ip, what=_l(
                "The e-mail address of your account was changed to %(address)s.",
                address=mask_email(value)))
        else:
            changes.change_phone(user, value, ip=ip, what=_l(
                "The mobile number of your account was changed to %(number)s.",
                number=mask_phone(value)))
    except AccountError:
        flash(TAKEN, "warning")
        return redirect(url_for("dashboard.home"))
    flash(_l("Saved and confirmed."), "success")
    return redirect(url_for("dashboard.home"))


@bp.post("/account/confirm/<fid>/resend")
@require_recent_auth
def resend(fid):
    flow, _ = _own_flow(fid)
    if flow is None:
        return flow_expired(url_for("dashboard.home"))
    step = CODE_STEPS[flow.data.field]
    return step.resend(flow, flow.data.value, lambda flow: send_code(
        flow, step.channel, flow.data.value, kind=_message(flow), **_context(flow)))


@bp.post("/account/confirm/<fid>/cancel")
def cancel(fid):
    flow, _ = _own_flow(fid)
    if flow is not None and CsrfForm().validate_on_submit():
        discard_flow(flow)
    return redirect(url_for("dashboard.home"))
