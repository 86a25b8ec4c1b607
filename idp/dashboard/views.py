"""The dashboard's overview and its read-mostly pages: sessions, connected
services and the security history."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from ..i18n import lazy_gettext as _l

from .. import account_changes as changes
from ..audit import AuditEvent
from ..authn.methods import methods_of
from ..authn.sessions import LoginSession
from ..authn.sessions import end_session as end_login_session
from ..authn.current import require_login
from ..extensions import db
from ..forms import CsrfForm
from ..trust.service import waiting_id_key

bp = Blueprint("dashboard", __name__)

HISTORY_LENGTH = 100
# The audit events a person sees in their security history, in their words.
HISTORY_EVENTS = {
    "login_succeeded": _l("Logged in"),
    "login_failed": _l("Failed login attempt"),
    "account_locked": _l("Account locked after failed attempts"),
    "logout": _l("Logged out"),
    "reauthenticated": _l("Confirmed it was you"),
    "account_registered": _l("Account created"),
    "account_created": _l("Account created"),
    "password_changed": _l("Password changed"),
    "password_reset": _l("Password reset with the PUK"),
    "password_removed": _l("Password removed"),
    "puk_issued": _l("New PUK issued"),
    "puk_failed": _l("Wrong PUK entered"),
    "puk_locked": _l("PUK locked after wrong attempts"),
    "puk_unlocked": _l("PUK unlocked at a branch"),
    "method_added": _l("Login method added"),
    "method_renamed": _l("Login method renamed"),
    "method_removed": _l("Login method removed"),
    "passkey_counter_regressed": _l("A key's counter went backwards (possible copy)"),
    "email_changed": _l("E-mail address changed"),
    "phone_changed": _l("Mobile number changed"),
    "consent_granted": _l("Service connected"),
    "service_disconnected": _l("Service disconnected"),
    "trust_level_changed": _l("Trust level changed"),
    "stepped_up": _l("Login confirmed with a stronger method"),
    "id_key_issued": _l("ID key issued at a branch"),
    "id_key_redeemed": _l("ID key entered"),
    "id_key_failed": _l("Wrong ID key entered"),
    "officer_viewed_person": _l("A branch officer opened your account"),
    "card_check_failed": _l("Bank card check failed"),
    "certificate_rejected": _l("Certificate refused"),
}


@bp.get("/")
def home():
    login = require_login()
    user = login.user
    return render_template("home.html", login=login, user=user, methods=methods_of(user.id),
                           id_key_until=waiting_id_key(user.id) if user.trust_level != "high"
                           else None)


@bp.get("/account/sessions")
def sessions():
    login = require_login()
    live = [s for s in changes.live_sessions(login.user_id) if not s.expired()]
    return render_template("sessions.html", sessions=live, current=login)


@bp.post("/account/sessions/<public_id>/end")
def end_session(public_id):
    login = require_login()
    if CsrfForm().validate_on_submit():
        target = None
        if len(public_id) <= 32 and public_id.isprintable():
            target = db.session.execute(
                db.select(LoginSession).filter_by(public_id=public_id, user_id=login.user_id)
            ).scalar_one_or_none()
        if target is None or target.ended_at is not None:
            abort(404)
        end_login_session(target, "ended_by_owner", ip=request.remote_addr)
        if target.id == login.id:
            return redirect(url_for("authn.login"))
        flash(_l("The session was ended and its tokens revoked."), "success")
    return redirect(url_for("dashboard.sessions"))


@bp.post("/account/sessions/end-others")
def end_other_sessions():
    login = require_login()
    if CsrfForm().validate_on_submit():
        ended = changes.end_other_sessions(login.user, login, ip=request.remote_addr)
        flash(_l("Sessions ended: %(count)s.", count=ended), "success")
    return redirect(url_for("dashboard.sessions"))


@bp.get("/account/services")
def services():
    login = require_login()
    return render_template("services.html", services=changes.connected_services(login.user_id))


@bp.post("/account/services/<client_id>/disconnect")
def disconnect(client_id):
    login = require_login()
    if CsrfForm().validate_on_submit():
        if client_id not in {c.client_id for c in changes.connected_services(login.user_id)}:
            abort(404)
        changes.disconnect_service(login.user, client_id, ip=request.remote_addr)
        flash(_l("The service was disconnected; its access was revoked."), "success")
    return redirect(url_for("dashboard.services"))


@bp.get("/account/history")
def history():
    login = require_login()
    events = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.user_id == login.user_id,
                                    AuditEvent.event.in_(HISTORY_EVENTS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(HISTORY_LENGTH)
    ).scalars().all()
    return render_template("history.html", events=events, labels=HISTORY_EVENTS)
