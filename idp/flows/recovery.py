"""A forgotten password, reset with the PUK: e-mail and PUK → SMS one-time
password to the registered number → the new password twice → the new PUK.

Then every session and token of the account is revoked and the owner is told
by e-mail. No answer tells whether an e-mail address is registered."""

import hashlib
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from ..i18n import lazy_gettext as _l

from ..accounts.notices import notify_owner
from ..accounts.models import User
from ..account_changes import reset_password_with_puk
from ..accounts.service import AccountError, check_puk
from ..delivery import DeliveryError, send_email
from ..extensions import db
from ..interactions import load_interaction
from ..problems import validate_all
from ..timeutil import utcnow
from .code_step import CodeStep, discard_flow
from ..codes import send_code_limited
from .common import PASSWORD_CHECK, PASSWORD_RULE, flow_at, flow_expired
from ..forms import CsrfForm
from .forms import NewPasswordForm, PukAcknowledgementForm, PukForm
from .state import FlowState, begin_flow, end_flow, load_flow, save_flow

bp = Blueprint("recover", __name__)

KIND = "recover"


@dataclass(kw_only=True)
class Recovery(FlowState):
    """A password recovery after the PUK was accepted."""
    KIND = KIND
    TRANSITIONS = {"sms": {"password"}, "password": {"puk"}}
    user_id: int
    puk: str  # puk_fingerprint of the PUK it was started with
    new_puk: str | None = None  # shown on the last page


STEP_VIEWS = {"sms": "recover.sms", "password": "recover.password", "puk": "recover.puk"}
CODE_STEP = CodeStep("sms", "recover.sms", _l("Password recovery"), 2, 4,
                     "recover.resend", "recover.cancel")

WRONG_PUK = _l("The e-mail address or PUK is not correct.")
LOCKED = _l("Too many wrong PUKs: password recovery with the PUK is locked for a while. "
            "Try again later, or visit a branch with an identity document to unlock it at once.")


def puk_fingerprint(user):
    """Binds a flow to the PUK it was started with: once that PUK is spent (by
    this flow or another), the flow is dead."""
    return hashlib.sha256((user.puk_hash or "").encode()).hexdigest()


def _user_of(flow):
    user = db.session.get(User, flow.data.user_id)
    if user is None or not user.active or puk_fingerprint(user) != flow.data.puk:
        return None
    return user


def _flow_at(fid, step):
    flow, response = flow_at(KIND, fid, step, STEP_VIEWS, url_for("recover.start"))
    if response is not None:
        return None, None, response
    user = _user_of(flow) if step != "puk" else db.session.get(User, flow.data.user_id)
    if user is None:
        end_flow(flow)
        return None, None, flow_expired(url_for("recover.start"))
    return flow, user, None


@bp.route("/recover", methods=["GET", "POST"])
def start():
    iid = request.values.get("interaction") or None
    if iid and load_interaction(iid) is None:
        iid = None
    form = PukForm()
    if request.method == "GET":
        form.interaction.data = iid
    status = 200
    if form.validate_on_submit():
        result = check_puk(form.email.data, form.puk.data, ip=request.remote_addr)
        if result.ok and not result.user.phone_verified:
            form.puk.errors = [_l("Your account has no confirmed mobile number. "
                                  "Visit a branch to reset your password.")]
        elif result.ok:
            user = result.user
            flow = begin_flow(KIND, "sms", iid=iid, state=Recovery(
                user_id=user.id, puk=puk_fingerprint(user)))
            send_code_limited(flow, "sms", user.phone)
            save_flow(flow)
            return redirect(url_for("recover.sms", fid=flow.id))
        else:
            if result.lock_started is not None:
                notify_owner(result.lock_started, "puk_locked")
            form.puk.errors = [LOCKED if result.locked else WRONG_PUK]
            status = 429 if result.locked else 400
    if form.errors and status == 200:
        status = 400
    return render_template("recover_start.html", form=form, iid=iid), status


@bp.route("/recover/<fid>/sms", methods=["GET", "POST"])
def sms(fid):
    flow, user, response = _flow_at(fid, "sms")
    if response is not None:
        return response

    def confirmed(flow):
        flow.advance("password")
        save_flow(flow)
        return redirect(url_for("recover.password", fid=fid))

    return CODE_STEP.confirm(flow, user.phone, confirmed)


@bp.post("/recover/<fid>/resend")
def resend(fid):
    flow, user, response = _flow_at(fid, "sms")
    if response is not None:
        return response
    return CODE_STEP.resend(flow, user.phone)


@bp.route("/recover/<fid>/password", methods=["GET", "POST"])
def password(fid):
    flow, user, response = _flow_at(fid, "password")
    if response is not None:
        return response
    form = NewPasswordForm()
    if validate_all(form, PASSWORD_CHECK):
        try:
            new_puk = reset_password_with_puk(user, form.password.data, ip=request.remote_addr)
        except AccountError:  # a parallel submit of this flow won
            return flow_expired(url_for("recover.start"))
        _tell_owner(user)
        flow.data.new_puk = new_puk
        flow.advance("puk")
        save_flow(flow)
        return redirect(url_for("recover.puk", fid=fid))
    return render_template("recover_password.html", form=form, flow=flow, rule=PASSWORD_RULE,
                           cancel=url_for("recover.cancel", fid=fid)), \
        400 if form.errors else 200


def _tell_owner(user):
    try:
        send_email(user.email, "password_reset", lang=user.locale,
                   when=format_datetime(utcnow(), "short") + " UTC")
    except DeliveryError:
        pass  # logged by delivery; the reset itself stands


@bp.route("/recover/<fid>/puk", methods=["GET", "POST"])
def puk(fid):
    flow, user, response = _flow_at(fid, "puk")
    if response is not None:
        return response
    form = PukAcknowledgementForm()
    if form.validate_on_submit():
        end_flow(flow)
        flash(_l("Your password has been changed. Log in with the new password."), "success")
        return redirect(url_for("authn.login", interaction=flow.iid, login_hint=user.email))
    return render_template("puk.html", form=form, puk=flow.data.new_puk,
                           title=_l("Password recovery"), step=4, steps=4,
                           action=url_for("recover.puk", fid=fid), cancel=None), \
        400 if form.errors else 200


@bp.post("/recover/<fid>/cancel")
def cancel(fid):
    flow = load_flow(KIND, fid)
    if flow is None:
        return flow_expired(url_for("recover.start"))
    if flow.step == "puk" or not CsrfForm().validate_on_submit():
        return redirect(url_for(STEP_VIEWS[flow.step], fid=fid))
    discard_flow(flow)
    if flow.iid:
        return redirect(url_for("authn.login", interaction=flow.iid))
    return redirect(url_for("authn.login"))
