"""Raising the trust level ("Dvig nivoja zaupanja"): from the dashboard, or in
the middle of an RP's request that needs more (``?interaction=``), after
which the same request continues.

Remote ways give substantial (a qualified certificate, a bank card); an ID
key from a branch gives high."""

import time

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from ..i18n import lazy_gettext as _l

from .. import audit
from ..authn.current import continue_to_rp, renew_login, require_login
from ..authn.methods.certificate import name_problem, presented
from ..interactions import interaction_expired, load_interaction
from ..problems import validate_all
from . import cards
from ..levels import HIGH, RANK, SUBSTANTIAL
from .forms import CardForm, CertificateForm, IdKeyForm
from .messages import REFUSALS
from ..names import names_differ
from .service import (EVIDENCE_METHODS, LEVEL_NAMES, Person, TrustError, evidence_of,
                      raise_trust_level, redeem_id_key)

bp = Blueprint("trust", __name__)
# Every page (the dashboard's too) names levels and evidence in these words.
bp.record_once(lambda state: state.app.jinja_env.globals.update(
    level_names=LEVEL_NAMES, evidence_methods=EVIDENCE_METHODS))

RAISED = _l("Your trust level is now %(level)s.")
CARD_NAME_MISMATCH = _l("The name you entered is not the name on your account.")
CARD_REFUSED = {
    cards.DECLINED: _l("The card was declined. Check the data or try another card."),
    cards.NAME_MISMATCH: _l("The card does not belong to the name you entered."),
}
GATEWAY_DOWN = _l("The card check is not available right now. Try again later.")


def _pending():
    """The paused RP request this page works for, if any, and its id."""
    iid = request.args.get("interaction") or None
    return iid, load_interaction(iid)


def _done(iid, interaction, level):
    # A higher level lifts what this session's logins are worth: a new secret.
    renew_login()
    flash(RAISED % {"level": LEVEL_NAMES[level]}, "success")
    if interaction is not None:
        return continue_to_rp(iid, interaction)
    return redirect(url_for("trust.raise_level"))


@bp.get("/trust")
def raise_level():
    login = require_login()
    iid, interaction = _pending()
    if iid and interaction is None:
        return interaction_expired()
    return _trust_page(login, iid, interaction, IdKeyForm())


def _trust_page(login, iid, interaction, form, status=200):
    required = interaction.get("required_level") if interaction else None
    return render_template(
        "trust.html", user=login.user, iid=iid, interaction=interaction, required=required,
        reached=bool(required) and RANK[login.user.trust_level] >= RANK[required],
        evidence=evidence_of(login.user_id), form=form,
        card_gateway=cards.card_gateway(current_app),
        wallet=bool(current_app.config.get("PID_PROVIDERS_DIR"))), status


@bp.post("/trust/id-key")
def id_key():
    login = require_login()
    iid, interaction = _pending()
    form = IdKeyForm()
    if form.validate_on_submit():
        try:
            redeem_id_key(login.user, form.id_key.data, ip=request.remote_addr)
        except TrustError as error:
            form.id_key.errors = [REFUSALS[error.code]]
        else:
            # An ID key is proof of the person: adding a passkey right after
            # needs no further confirmation.
            session["verified_at"] = session["id_key_at"] = int(time.time())
            return _done(iid, interaction, HIGH)
    return _trust_page(login, iid, interaction, form, 400)


@bp.route("/trust/card", methods=["GET", "POST"])
def card():
    login = require_login()
    user = login.user
    iid, interaction = _pending()
    gateway = cards.card_gateway(current_app)
    if gateway is None:
        abort(404)
    form = CardForm(data={"given_name": user.given_name, "family_name": user.family_name,
                          "birthdate": user.birthdate, "tax_number": user.tax_number}
                    if request.method == "GET" else None)
    status = 200

    def account_name(form):
        if names_differ(user, form.given_name.data.strip(), form.family_name.data.strip()):
            form.given_name.errors = [CARD_NAME_MISMATCH]

    if validate_all(form, (("given_name", "family_name"), account_name)):
        person = form.person()
        number = cards.normalise_card_number(form.number.data)
        try:
            check = gateway.verify(number=number, expiry_month=form.expiry_month.data,
                                   expiry_year=form.expiry_year.data, cvc=form.cvc.data,
                                   holder_name=f"{person.given_name} {person.family_name}")
        except cards.CardGatewayError:
            form.number.errors = [GATEWAY_DOWN]
            status = 503
        else:
            outcome = _card_outcome(user, person, check)
            if outcome is None:
                return _done(iid, interaction, SUBSTANTIAL)
            form.number.errors = [outcome]
            status = 400
    elif request.method == "POST":
        status = 400
    form.number.data = form.cvc.data = None  # never shown back
    return render_template("trust_card.html", form=form, iid=iid, gateway=gateway,
                           test_cards=cards.SANDBOX_CARDS if gateway.sandbox else None), status


def _card_outcome(user, person, check):
    """Raise the account on a verified card; else the message to show."""
    if not check.verified:
        audit.record("card_check_failed", user_id=user.id, ip=request.remote_addr,
                     gateway=check.gateway, reference=check.reference, last4=check.last4,
                     status=check.status)
        return CARD_REFUSED[check.status]
    try:
        raise_trust_level(user, SUBSTANTIAL, person, "card",
                          {"gateway": check.gateway, "reference": check.reference,
                           "last4": check.last4}, ip=request.remote_addr)
    except TrustError as error:
        return REFUSALS[error.code]
    return None


@bp.route("/trust/certificate", methods=["GET", "POST"])
def certificate():
    login = require_login()
    user = login.user
    iid, interaction = _pending()
    identity, problem = _presented_certificate(user)
    form = CertificateForm(data={"birthdate": user.birthdate,
                                 "tax_number": identity.tax_number if identity else None}
                           if request.method == "GET" else None)
    status = 200 if problem is None else 400

    def certificate_tax_number(form):
        if identity.tax_number and form.tax_number.data != identity.tax_number:
            form.tax_number.errors = [_l("The tax number must be the one on the certificate.")]

    if identity and form.is_submitted():
        if validate_all(form, (("tax_number",), certificate_tax_number)):
            person = Person(identity.given_name, identity.family_name, form.birthdate.data,
                            form.tax_number.data, tax_verified=bool(identity.tax_number))
            try:
                raise_trust_level(user, SUBSTANTIAL, person, "certificate",
                                  {"issuer": identity.issuer, "serial": identity.serial,
                                   "fingerprint": identity.fingerprint},
                                  ip=request.remote_addr)
            except TrustError as error:
                problem = REFUSALS[error.code]
            else:
                return _done(iid, interaction, SUBSTANTIAL)
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template("trust_certificate.html", form=form, iid=iid, identity=identity,
                           problem=problem), status


def _presented_certificate(user):
    """The verified certificate this request presents and None, or None and
    why it cannot be used (the same checks as a certificate login)."""
    identity, problem = presented(user.id)
    if identity is not None:
        problem = name_problem(user, identity)
    return (None, problem) if problem else (identity, None)
