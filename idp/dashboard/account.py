"""The account's own data on the dashboard: password, PUK, e-mail and mobile
(each confirmed with a code sent to the new one), and deleting the account
(confirmed with a code sent by e-mail). All need a recent authentication."""

from flask import (Blueprint, flash, make_response, redirect, render_template, request,
                   url_for)
from ..i18n import lazy_gettext as _l

from .. import account_changes as changes
from ..accounts.service import AccountError, normalise_email, normalise_phone
from ..flows.factor import require_recent_auth
from ..authn.current import current_login, log_out_current
from ..flows.code_step import discard_flow
from ..flows.common import PASSWORD_CHECK, PASSWORD_RULE, flow_expired
from ..flows.contact import CODE_STEPS, begin_change, own_flow, send_again
from ..flows.state import end_flow
from ..forms import CsrfForm
from ..problems import validate_all
from .methods import weak_login_refusal
from .forms import ConfirmForm, EmailChangeForm, PasswordChangeForm, PhoneChangeForm

bp = Blueprint("account", __name__)

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
        changes.change_password(login.user, form.password.data, login, ip=request.remote_addr)
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
        new_puk = changes.issue_new_puk(login.user, ip=request.remote_addr)
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
    refusal = weak_login_refusal(current_login())
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
    logged in which addresses are registered): ``begin_change`` tells that owner."""
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
    flow = begin_change(field, value, current_login())
    return redirect(url_for("account.confirm", fid=flow.id))


@bp.route("/account/confirm/<fid>", methods=["GET", "POST"])
@require_recent_auth
def confirm(fid):
    login = current_login()
    flow = own_flow(fid, login)
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
            changes.change_email(user, value, ip=ip)
        else:
            changes.change_phone(user, value, ip=ip)
    except AccountError:
        flash(TAKEN, "warning")
        return redirect(url_for("dashboard.home"))
    flash(_l("Saved and confirmed."), "success")
    return redirect(url_for("dashboard.home"))


@bp.post("/account/confirm/<fid>/resend")
@require_recent_auth
def resend(fid):
    flow = own_flow(fid, current_login())
    if flow is None:
        return flow_expired(url_for("dashboard.home"))
    return CODE_STEPS[flow.data.field].resend(flow, flow.data.value, send_again)


@bp.post("/account/confirm/<fid>/cancel")
def cancel(fid):
    flow = own_flow(fid, current_login())
    if flow is not None and CsrfForm().validate_on_submit():
        discard_flow(flow)
    return redirect(url_for("dashboard.home"))
