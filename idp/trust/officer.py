"""The branch officer console: find a person, record the identity document
checked, and issue an ID key. Officers log in with a second factor; every
step is audited with the officer's identity; nobody raises their own account."""

import re

from flask import (Blueprint, abort, flash, make_response, redirect, render_template, request,
                   url_for)
from ..i18n import lazy_gettext as _l

from .. import audit
from ..accounts.models import User
from ..accounts.service import AccountError, normalise_email, normalise_phone
from ..authn.current import require_login
from ..extensions import db
from ..forms import CsrfForm
from .forms import BranchForm, FindPersonForm
from .messages import REFUSALS
from ..stepup import strong_login
from .service import (NOT_HIGHER, OTHER_PERSON, TAKEN, TrustError, evidence_of, issue_id_key,
                      officer_problem, waiting_id_key)

# The service's refusals speak to the account's owner ("ask at a branch"); the
# officer is the branch and reads what to do instead.
OFFICER_WORDS = {
    TAKEN: _l("This person already has another account with a verified identity, and one "
              "person may have only one. Do not issue a key for this account."),
    NOT_HIGHER: _l("This account is at the high level already: it needs no ID key."),
    OTHER_PERSON: _l("This account was verified for a different person. Check the document "
                     "and the account again."),
}


def for_officer(code):
    """The service's refusal in the officer's words where the person's would mislead."""
    return OFFICER_WORDS.get(code) or REFUSALS[code]

bp = Blueprint("officer", __name__, url_prefix="/officer")
SUB = re.compile(r"[0-9a-f-]{36}")


def require_officer():
    """The officer's login, or the request ends: 403 for non-officers, and a
    page asking for a second factor when this login had none."""
    login = require_login()
    if not login.user.is_officer:
        abort(403)
    if not strong_login(login.strength):
        abort(make_response(render_template("officer_second_factor.html"), 403))
    return login


def _actor(login):
    return f"officer:{login.user_id}"


def find_people(query):
    """Accounts whose e-mail or mobile number is exactly ``query``."""
    conditions = []
    try:
        conditions.append(User.email == normalise_email(query))
    except AccountError:
        pass
    try:
        conditions.append(User.phone == normalise_phone(query))
    except AccountError:
        pass
    if not conditions:
        return []
    return db.session.execute(
        db.select(User).where(db.or_(*conditions), User.active.is_(True))).scalars().all()


@bp.route("", methods=["GET", "POST"])
def console():
    login = require_officer()
    form = FindPersonForm()
    people = None
    if form.validate_on_submit():
        people = find_people(form.query.data.strip())
        audit.record("officer_searched", user_id=login.user_id, actor=_actor(login),
                     ip=request.remote_addr, found=[p.id for p in people])
    return render_template("officer.html", form=form, people=people)


def _person(sub):
    if not SUB.fullmatch(sub):
        abort(404)
    person = db.session.execute(db.select(User).filter_by(sub=sub)).scalar_one_or_none()
    if person is None or not person.active:
        abort(404)
    return person


@bp.route("/people/<sub>", methods=["GET", "POST"])
def person(sub):
    login = require_officer()
    person = _person(sub)
    refusal = officer_problem(login.user, person)
    refusal = refusal and for_officer(refusal)
    form = BranchForm(data={"given_name": person.given_name, "family_name": person.family_name,
                            "birthdate": person.birthdate, "tax_number": person.tax_number}
                      if request.method == "GET" else None)
    status = 200
    if refusal:
        audit.record("officer_refused", user_id=person.id, actor=_actor(login),
                     ip=request.remote_addr, reason="own_account")
        status = 403
    elif form.validate_on_submit():
        try:
            key = issue_id_key(login.user, person, form.person(), form.document(),
                               ip=request.remote_addr)
        except TrustError as error:
            audit.record("officer_refused", user_id=person.id, actor=_actor(login),
                         ip=request.remote_addr, reason="evidence")
            form.tax_number.errors = [for_officer(error.code)]
            status = 400
        else:
            response = make_response(render_template("officer_key.html", person=person,
                                                     key=key,
                                                     expires_at=waiting_id_key(person.id)))
            response.headers["Cache-Control"] = "no-store"
            return response
    elif request.method == "POST":
        status = 400
    else:
        audit.record("officer_viewed_person", user_id=person.id, actor=_actor(login),
                     ip=request.remote_addr)
    return render_template("officer_person.html", person=person, form=form, refusal=refusal,
                           evidence=evidence_of(person.id),
                           back=url_for("officer.console")), status



@bp.post("/people/<sub>/unlock-puk")
def unlock_puk(sub):
    """After too many wrong PUKs the PUK route is locked until a branch visit."""
    login = require_officer()
    person = _person(sub)
    if officer_problem(login.user, person):
        abort(403)
    if not CsrfForm().validate_on_submit():
        abort(400)
    if person.puk_locked_at is not None:
        person.puk_locked_at, person.puk_failures = None, 0
        audit.record("puk_unlocked", user_id=person.id, actor=_actor(login),
                     ip=request.remote_addr, commit=False)
        db.session.commit()
        flash(_l("The PUK works again."), "success")
    return redirect(url_for("officer.person", sub=person.sub))
