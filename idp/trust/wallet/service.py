"""What a verified PID does to an account: the rules (names, one person one
account, cross-device only confirms), the raise to high with its evidence,
and the audit of every refusal (its reason class, never personal data)."""

import hashlib
import logging
import os
from datetime import date, datetime, timezone

from flask_babel import lazy_gettext as _l

from ... import audit
from ...extensions import db, store
from ...levels import HIGH, SUBSTANTIAL
from ...names import names_differ, names_match
from ..messages import REFUSALS
from ..models import IdentityEvidence
from ..service import (OTHER_PERSON, TAKEN, Person, TrustError,
                       normalise_tax_number, raise_trust_level, valid_tax_number)
from . import openid4vp
from .pid import TrustAnchors, VerifiedPid, verify_pid
from .status import StatusLists

log = logging.getLogger(__name__)

METHOD = "wallet"
REMOTE_METHODS = ("certificate", "card")  # what cross-device may confirm

NAMES_DIFFER = _l("The name in the wallet is not the name already verified on this account.")
CROSS_DEVICE_LOW = _l("A wallet on another device can only confirm an identity already "
                      "verified on this account with a certificate or a bank card. Open this "
                      "page on the phone with your wallet instead.")

# Plain words per reason class; never a raw error code.
REFUSED = {
    "unreadable": _l("The wallet's data could not be checked. Try again, or update your "
                     "wallet."),
    "untrusted": _l("The wallet's data does not come from a PID provider we trust."),
    "not_valid": _l("The personal data (PID) in your wallet has expired or is not valid yet. "
                    "Renew it in your wallet, then try again."),
    "revoked": _l("The personal data (PID) in your wallet has been revoked or suspended by "
                  "its provider."),
    "unavailable": _l("We could not check right now whether the data in your wallet is still "
                      "valid. Try again in a few minutes."),
    "incomplete": _l("The wallet did not share your names and date of birth, which we need."),
    "declined": _l("The wallet did not share your data."),
    "expired": _l("This request to your wallet has expired. Start again."),
    "replayed": _l("This answer from the wallet was already used. Start again."),
    "other_session": _l("This confirmation was started in another browser. Finish it in the "
                        "browser where you started."),
    "names": NAMES_DIFFER,
    "taken": _l("This data belongs to someone who already has an account. One person can "
                "have only one verified account: use that one, or ask at a branch."),
    "other_person": REFUSALS[OTHER_PERSON],
    "cross_device_low": CROSS_DEVICE_LOW,
    "not_higher": _l("Your trust level is already high."),
}


def enabled(app):
    return bool(app.config.get("PID_PROVIDERS_DIR"))


def as_list(value):
    """A setting that may be a JSON list or a comma-separated string."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value or ())


def anchors(app):
    """The PID providers' anchors, read again when the folder changes."""
    path = app.config["PID_PROVIDERS_DIR"]
    try:
        with os.scandir(path) as entries:
            stamp = (path, tuple(sorted((e.name, e.stat().st_mtime_ns) for e in entries)))
        cached = app.extensions.get("idp_pid_anchors")
        if cached is None or cached[0] != stamp:
            cached = app.extensions["idp_pid_anchors"] = (stamp, TrustAnchors.from_folder(path))
    except (OSError, ValueError) as exc:
        raise openid4vp.WalletSetupError(f"IDP_PID_PROVIDERS_DIR: {exc}") from None
    if not cached[1].certificates:
        raise openid4vp.WalletSetupError("IDP_PID_PROVIDERS_DIR holds no certificate")
    return cached[1]


def check_presentation(app, store, tx, presentation, now=None):
    """The verified PID of a transaction's presentation, or PidRefused."""
    found = anchors(app)
    return verify_pid(presentation, nonce=tx["nonce"],
                      audience=openid4vp.verifier_identity(app).client_id, anchors=found,
                      vcts=as_list(app.config["PID_VCTS"]),
                      now=now or datetime.now(timezone.utc),
                      status_of=StatusLists(found, store, app.config["PID_STATUS_TIMEOUT"]))


def refuse(tx, reason, reason_class, ip=None):
    """Audit a refusal: the reason and its class, no data of the person."""
    audit.record("wallet_refused", user_id=tx.get("user_id"), ip=ip, reason=reason,
                 reason_class=reason_class, flow=tx.get("flow"))


def pid_to_dict(pid):
    data = dict(pid.__dict__)
    data["birthdate"] = pid.birthdate.isoformat()
    return data


def pid_from_dict(data):
    return VerifiedPid(**{**data, "birthdate": date.fromisoformat(data["birthdate"])})


def _tax_number(app, pid):
    """The administrative number as a tax number, where the issuing country's
    PID means that (``PID_TAX_NUMBER_COUNTRIES``); else None."""
    countries = as_list(app.config["PID_TAX_NUMBER_COUNTRIES"])
    if pid.issuing_country not in countries or not pid.administrative_number:
        return None
    number = normalise_tax_number(pid.administrative_number)
    return number if pid.issuing_country != "SI" or valid_tax_number(number) else None


def _held_elsewhere(pid, user_id):
    """Whether another account holds this person: by issuing country and
    administrative number, or by names and birth date where there is none."""
    rows = db.session.execute(
        db.select(IdentityEvidence).where(IdentityEvidence.birthdate == pid.birthdate,
                                          IdentityEvidence.user_id != user_id)).scalars()
    mine = f"{pid.given_name} {pid.family_name}"
    for row in rows:
        details = row.details or {}
        if pid.administrative_number:
            if row.method == METHOD and details.get("administrative_number") == \
                    pid.administrative_number and details.get("issuing_country") == \
                    pid.issuing_country:
                return True
        elif names_match(f"{row.given_name} {row.family_name}", mine):
            return True
    return False


def _evidence(user):
    return db.session.execute(
        db.select(IdentityEvidence).filter_by(user_id=user.id)).scalars().all()


def cross_device_problem(user):
    """Cross-device only confirms: a phished QR code must not bind a victim's
    PID to an attacker's account, so the account must already be this
    person's, at substantial by certificate or card."""
    if user.trust_level == HIGH:
        return "not_higher"
    if user.trust_level != SUBSTANTIAL or not any(
            e.method in REMOTE_METHODS for e in _evidence(user)):
        return "cross_device_low"
    return None


def rule_problem(user, pid, flow):
    """Which account rule refuses this PID (a REFUSED key), or None."""
    if user.trust_level == HIGH:
        return "not_higher"
    if flow == openid4vp.CROSS_DEVICE and cross_device_problem(user):
        return cross_device_problem(user)
    evidence = _evidence(user)
    mine = f"{pid.given_name} {pid.family_name}"
    if names_differ(user, pid.given_name, pid.family_name) or any(
            not names_match(f"{e.given_name} {e.family_name}", mine) for e in evidence):
        return "names"
    if any(e.birthdate and e.birthdate != pid.birthdate for e in evidence):
        return "other_person"
    if _held_elsewhere(pid, user.id):
        return "taken"
    return None


def raise_with_pid(app, user, pid, tx, ip=None):
    """Raise ``user`` to high with a verified PID; the REFUSED key on refusal
    (audited), None on success (audited, owner e-mailed)."""
    # One raise per person at a time: two accounts presenting the same PID in
    # parallel would both pass the "held elsewhere" check before either commits.
    lock = "wallet:person:" + _person_key(pid)
    if not store().add(lock, "1", 60):
        problem = "taken"
    else:
        try:
            problem = _raise(app, user, pid, tx, ip)
        finally:
            store().delete(lock)
    if problem is not None:
        refuse(tx, problem, "account", ip=ip)
    return problem


def _raise(app, user, pid, tx, ip):
    problem = rule_problem(user, pid, tx["flow"])
    if problem is not None:
        return problem
    tax = _tax_number(app, pid)
    person = Person(pid.given_name, pid.family_name, pid.birthdate, tax,
                    tax_verified=tax is not None)
    try:
        raise_trust_level(user, HIGH, person, METHOD, pid.evidence(tx["flow"]), ip=ip)
    except TrustError as error:
        db.session.rollback()
        return error.code if error.code in (TAKEN, OTHER_PERSON) else "not_higher"
    return None


def _person_key(pid):
    """Who the PID names, as a digest: country and number, else names and birth date."""
    if pid.administrative_number:
        who = f"{pid.issuing_country}|{pid.administrative_number}"
    else:
        who = f"{pid.given_name.casefold()}|{pid.family_name.casefold()}|{pid.birthdate}"
    return hashlib.sha256(who.encode()).hexdigest()

