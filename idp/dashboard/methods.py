"""Login methods on the dashboard: list, add (enrol), rename, remove.

Adding or removing needs a recent authentication; the last way to log in
cannot be removed. After registration, this page is also the way back to the
waiting RP (``?interaction=``)."""

import time

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from ..i18n import lazy_gettext as _l
from flask_wtf import FlaskForm

from .. import account_changes as changes
from ..accounts.service import AccountError, record_login_failure
from ..flows.factor import require_recent_auth
from ..authn.methods import METHODS, enrolable, methods_of
from ..authn.methods.models import LoginMethod
from ..authn.current import continue_to_rp, current_login, log_out_current, require_login
from ..extensions import db
from ..flows.common import flow_expired
from ..forms import CsrfForm
from ..flows.enrolment import KIND, Enrolment
from ..flows.state import begin_flow, end_flow, load_flow, save_flow
from ..interactions import load_interaction
from ..stepup import strong_enough_for_change
from .forms import ConfirmForm, RenameForm

bp = Blueprint("methods", __name__)

WEAK_LOGIN = _l("Your identity is verified, so this change needs a login with a second "
                "factor (or an ID key entered just now). Log in again with your second method.")
LAST_WAY = _l("This is your last way to log in, so it cannot be removed. Add a passkey "
              "or keep the password.")


@bp.route("/methods", methods=["GET", "POST"])
def index():
    login = require_login()
    iid = request.args.get("interaction") or None
    interaction = load_interaction(iid)
    if request.method == "POST" and FlaskForm().validate_on_submit():
        # Only resumes: whether this login satisfies the request (prompt,
        # max_age) was settled by the flow that created it.
        return continue_to_rp(iid, interaction)
    user = login.user
    rows = methods_of(user.id)
    return render_template(
        "methods.html", user=user, rows=rows, interaction=interaction, iid=iid,
        methods=METHODS,
        offered=[m for m in enrolable() if m.offered(user, rows, current_app)],
        removable={r.id for r in rows if not changes.removal_problem(r, rows,
                                                                    bool(user.password_hash))},
        password_removable=bool(user.password_hash) and not changes.removal_problem(
            "password", rows, True),
        rename_form=RenameForm())


def weak_login_refusal(login):
    """Why this login may not add a factor or change the mobile number, or
    None (``stepup.strong_enough_for_change``; the ID key's time is the one
    the trust pages keep in the session)."""
    if strong_enough_for_change(login.user.trust_level, login.strength,
                                session.get("id_key_at"), time.time()):
        return None
    return WEAK_LOGIN


def enrolment_problem(kind, login):
    """Why this login may not add a ``kind`` method, or None (some methods,
    such as SMS to the verified phone, need no strong login)."""
    if not METHODS[kind].needs_strong_login:
        return None
    return weak_login_refusal(login)


@bp.get("/methods/add/<kind>")
@require_recent_auth
def add(kind):
    method = METHODS.get(kind)
    if method is None or method.enrol_rank is None or not method.available(current_app):
        abort(404)
    login = current_login()
    refusal = method.enrol_refusal(login.user)
    if refusal:
        flash(refusal, "warning")
        return redirect(url_for("methods.index"))
    refusal = enrolment_problem(kind, login)
    if refusal:
        flash(refusal, "warning")
        return redirect(url_for("methods.index", interaction=request.args.get("interaction")))
    flow = begin_flow(KIND, "enrol", iid=request.args.get("interaction") or None,
                      state=Enrolment(method=kind, user_id=login.user_id))
    return redirect(url_for("methods.enrol", fid=flow.id))


@bp.route("/methods/enrol/<fid>", methods=["GET", "POST"])
@require_recent_auth
def enrol(fid):
    login = current_login()
    flow = load_flow(KIND, fid)
    if flow is None or flow.data.user_id != login.user_id:
        return flow_expired(url_for("methods.index"))
    user = login.user
    method = METHODS[flow.data.method]
    if enrolment_problem(method.kind, login):
        end_flow(flow)
        return redirect(url_for("methods.add", kind=method.kind, interaction=flow.iid))
    form = (method.enrol_form_class or method.form_class)()
    notice, status = None, 200
    if request.method == "POST" and "resend" in request.form and hasattr(method, "resend"):
        if CsrfForm().validate_on_submit():
            notice = method.resend(flow, user) or _l("We have sent a new code.")
    elif form.validate_on_submit():
        outcome = method.finish_enrolment(flow, user, form)
        save_flow(flow)
        if outcome.ok:
            try:
                changes.add_method(user, outcome.method, ip=request.remote_addr)
            except AccountError:
                outcome.error = _l("This key is registered already.")
            else:
                end_flow(flow)
                flash(_l("Added: %(name)s.", name=outcome.method.name), "success")
                return redirect(url_for("methods.index", interaction=flow.iid))
        status = 400
        method.answer_field(form).errors = [outcome.error]
        if outcome.failed and record_login_failure(user.email, user, ip=request.remote_addr,
                                                   reason="enrol_" + method.kind):
            end_flow(flow)
            log_out_current("locked")
            return redirect(url_for("authn.login"))
    elif request.method == "POST":
        status = 400
    context = method.begin_enrolment(flow, user)
    save_flow(flow)
    return render_template("enrol.html", form=form, flow=flow, kind=method.kind,
                           method=method, notice=notice, **context), status


MAX_ID = 2**31 - 1  # the column's range; anything above is simply not found


def _own_method(login, mid):
    row = db.session.get(LoginMethod, mid) if 0 < mid <= MAX_ID else None
    if row is None or row.user_id != login.user_id:
        abort(404)
    return row


@bp.post("/methods/<int:mid>/rename")
def rename(mid):
    login = require_login()
    row = _own_method(login, mid)
    form = RenameForm()
    if form.validate_on_submit():
        changes.rename_method(login.user, row, form.name.data.strip(), ip=request.remote_addr)
        flash(_l("Renamed."), "success")
    else:
        flash(_l("Enter a name of up to 64 characters."), "warning")
    return redirect(url_for("methods.index"))


@bp.route("/methods/<target>/remove", methods=["GET", "POST"])
@require_recent_auth
def remove(target):
    login = current_login()
    user = login.user
    rows = methods_of(user.id)
    if target == "password":
        if not user.password_hash:
            abort(404)
        row, name = "password", _l("Password")
    else:
        if not (target.isascii() and target.isdigit() and len(target) <= 10):
            abort(404)
        row = _own_method(login, int(target))
        name = row.name
    refused = changes.removal_problem(row, rows, bool(user.password_hash))
    form = ConfirmForm()
    if form.validate_on_submit() and not refused:
        ip = request.remote_addr
        if row == "password":
            changes.remove_password(user, rows, ip=ip)
        else:
            changes.remove_method(user, row, rows, ip=ip)
        flash(_l("Removed: %(name)s.", name=name), "success")
        return redirect(url_for("methods.index"))
    return render_template("method_remove.html", form=form, name=name,
                           refusal=LAST_WAY if refused else None), 409 if refused else 200
