"""Raising an account's trust level, with evidence, and the ID keys a branch
officer issues. Every change is audited; a verified person (tax number) holds
one account at substantial or above."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask import current_app
from ..i18n import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from stdnum.si import ddv

from .. import audit
from ..accounts.notices import notify_owner
from ..accounts.models import User
from ..extensions import db
from ..ops import metrics
from ..timeutil import utcnow
from ..levels import HIGH, RANK
from ..names import names_match
from .models import IdentityEvidence, IdKey

# Why evidence may not raise an account (``TrustError.code``); the pages say
# it in their own words (``trust/messages.py``).
TAKEN, OTHER_PERSON, NOT_HIGHER = "taken", "other_person", "not_higher"
NOT_OFFICER, OWN_ACCOUNT = "not_officer", "own_account"
WRONG_KEY, NO_KEY, KEY_VOID = "wrong_key", "no_key", "key_void"


class TrustError(ValueError):
    """The service's refusal, as one of the codes above."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Person:
    """Who the evidence says the owner is."""

    given_name: str
    family_name: str
    birthdate: date | None
    tax_number: str | None
    # Whether a source vouches for the tax number (a certificate that carries
    # it, an officer); only then does it mark the account as that person's.
    tax_verified: bool = False

    def as_dict(self):
        return {"given_name": self.given_name, "family_name": self.family_name,
                "birthdate": self.birthdate.isoformat() if self.birthdate else None,
                "tax_number": self.tax_number, "tax_verified": self.tax_verified}

    @classmethod
    def from_dict(cls, data):
        born = data.get("birthdate")
        return cls(data["given_name"], data["family_name"],
                   date.fromisoformat(born) if born else None, data.get("tax_number"),
                   bool(data.get("tax_verified")))


def valid_tax_number(text):
    """A Slovenian tax number (davčna številka): 8 digits with a check digit."""
    return ddv.is_valid(text or "")


def normalise_tax_number(text):
    """The one spelling kept: "SI 2111-1103" is "21111103" (else one person
    could verify two accounts by spelling the number differently)."""
    return ddv.compact(text) if text else text


def person_problem(user, person, level):
    """Why ``person``'s evidence cannot raise ``user`` to ``level``, or None."""
    if RANK[level] <= RANK[user.trust_level]:
        return NOT_HIGHER
    if user.tax_number and person.tax_number and user.tax_number != person.tax_number:
        return OTHER_PERSON
    if person.tax_number and _held_elsewhere(person, other_than=user.id):
        return TAKEN
    return None


def _held_elsewhere(person, other_than):
    """Whether another account is this person's. Only a vouched-for tax number
    (a certificate that carries it, an officer) marks an account as a person's;
    a number merely typed (at a card check, say) is a claim kept in the
    evidence, and a claim never blocks anyone, or a stranger could type
    someone's number and lock them out of verifying their own account."""
    verified = db.select(User.id).where(User.tax_number == person.tax_number,
                                        User.id != other_than)
    return db.session.execute(verified).first() is not None


def raise_trust_level(user, level, person, method, details, officer=None, ip=None,
                      commit=True):
    """Record the evidence and raise the account to ``level``; TrustError when
    the evidence may not (a lower level, another person's, a taken tax number)."""
    problem = person_problem(user, person, level)
    if problem:
        raise TrustError(problem)
    evidence = IdentityEvidence(
        user_id=user.id, level=level, method=method, given_name=person.given_name,
        family_name=person.family_name, birthdate=person.birthdate,
        tax_number=person.tax_number, details=details,
        officer_id=officer.id if officer else None)
    previous = user.trust_level
    user.trust_level = level
    # Verified data replaces what the person typed at registration.
    user.given_name, user.family_name = person.given_name, person.family_name
    user.birthdate = person.birthdate or user.birthdate
    if person.tax_verified:
        # A typed number is kept in the evidence only: it must not let anyone
        # claim another person's number and lock them out.
        user.tax_number = person.tax_number
    db.session.add(evidence)
    try:
        db.session.flush()
    except IntegrityError:  # the same tax number raised in parallel
        db.session.rollback()
        raise TrustError(TAKEN) from None
    audit.record("trust_level_changed", user_id=user.id, ip=ip, commit=False,
                 actor=f"officer:{officer.id}" if officer else None,
                 previous=previous, level=level, method=method, evidence_id=evidence.id,
                 **{k: v for k, v in details.items() if k in AUDITED_DETAILS})
    metrics.trust_level_changed(level)
    if commit:
        db.session.commit()
        announce(user, level)
    return evidence


def announce(user, level):
    """E-mail the owner: a raised level is a change they must know of."""
    notify_owner(user, "trust_raised", level=LEVEL_NAMES[level])


# How pages name levels and the ways they were reached.
LEVEL_NAMES = {"low": _l("low"), "substantial": _l("substantial"), "high": _l("high")}
EVIDENCE_METHODS = {"certificate": _l("certificate"), "card": _l("bank card"),
                    "branch": _l("branch"), "wallet": _l("EU Digital Identity Wallet")}


# Evidence details safe for the audit log (no document or card numbers).
AUDITED_DETAILS = ("issuer", "serial", "gateway", "reference", "last4", "document_type",
                   "officer", "trust_anchor", "vct", "flow")


def evidence_of(user_id):
    return db.session.execute(
        db.select(IdentityEvidence).filter_by(user_id=user_id)
        .order_by(IdentityEvidence.created_at.desc(), IdentityEvidence.id.desc())
    ).scalars().all()


# -- ID keys ------------------------------------------------------------------------

ID_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
ID_KEY_LENGTH = 12  # 60 bits, in three groups of four
ID_KEY_MAX_FAILURES = 5

def normalise_id_key(text):
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def _hash(key):
    return hashlib.sha256(normalise_id_key(key).encode()).hexdigest()


def format_id_key(key):
    return "-".join(key[i:i + 4] for i in range(0, len(key), 4))


def officer_problem(officer, user, person=None):
    """Why ``officer`` may not raise ``user``'s account (for ``person``), or
    None. Not their own account, nor one in their own name."""
    if not officer.is_officer:
        return NOT_OFFICER
    if officer.id == user.id:
        return OWN_ACCOUNT
    if person is not None and (
            (officer.tax_number and officer.tax_number == person.tax_number)
            or (officer.name and names_match(officer.name,
                                             f"{person.given_name} {person.family_name}"))):
        return OWN_ACCOUNT
    return None


def issue_id_key(officer, user, person, document, ip=None):
    """A new ID key for ``user`` with the officer's evidence; returns the key
    (shown once). Earlier unused keys of the account stop working."""
    problem = officer_problem(officer, user, person) or person_problem(user, person, HIGH)
    if problem:
        raise TrustError(problem)
    now = utcnow()
    for old in _live_keys(user.id):
        old.used_at = now
    key = "".join(secrets.choice(ID_KEY_ALPHABET) for _ in range(ID_KEY_LENGTH))
    person = replace(person, tax_verified=True)  # the officer saw the document
    row = IdKey(user_id=user.id, key_hash=_hash(key), officer_id=officer.id,
                evidence={"person": person.as_dict(), "document": document,
                          "officer": officer.email},
                expires_at=now + timedelta(seconds=current_app.config["ID_KEY_TTL"]))
    db.session.add(row)
    db.session.flush()
    audit.record("id_key_issued", user_id=user.id, actor=f"officer:{officer.id}", ip=ip,
                 commit=False, id_key=row.id, document_type=document["type"],
                 expires_at=row.expires_at.isoformat(timespec="seconds"))
    db.session.commit()
    return format_id_key(key)


def _live_keys(user_id):
    return db.session.execute(
        db.select(IdKey).where(IdKey.user_id == user_id, IdKey.used_at.is_(None),
                               IdKey.expires_at > utcnow())
    ).scalars().all()


def waiting_id_key(user_id):
    """When the account's unused ID key expires, or None: the officer tells the
    person the date, and the dashboard reminds the person to enter it."""
    return max((key.expires_at for key in _live_keys(user_id)), default=None)


def redeem_id_key(user, typed, ip=None):
    """Raise ``user`` to high with a right ID key; TrustError otherwise. Wrong
    keys count: after ``ID_KEY_MAX_FAILURES`` the key is void."""
    keys = _live_keys(user.id)
    if not keys:
        audit.record("id_key_failed", user_id=user.id, ip=ip, reason="no_key")
        raise TrustError(NO_KEY)
    row = max(keys, key=lambda k: k.created_at)
    if not hmac.compare_digest(row.key_hash, _hash(typed)):
        # Counted in the database, so parallel wrong guesses all count.
        failures = db.session.execute(
            db.update(IdKey).where(IdKey.id == row.id).values(failures=IdKey.failures + 1)
            .returning(IdKey.failures)).scalar_one()
        void = failures >= ID_KEY_MAX_FAILURES
        if void:
            db.session.execute(db.update(IdKey).where(IdKey.id == row.id, IdKey.used_at.is_(None))
                               .values(used_at=utcnow()))
        audit.record("id_key_failed", user_id=user.id, ip=ip, commit=False, id_key=row.id,
                     reason="void" if void else "wrong", failures=failures)
        db.session.commit()
        raise TrustError(KEY_VOID if void else WRONG_KEY)
    # Single use, even with two parallel submits: one conditional UPDATE wins.
    spent = db.session.execute(
        db.update(IdKey).where(IdKey.id == row.id, IdKey.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        db.session.rollback()
        raise TrustError(NO_KEY)
    officer = db.session.get(User, row.officer_id) if row.officer_id else None
    if officer is None or not officer.is_officer:
        # The officer is gone or no longer one: what they issued does not count.
        db.session.rollback()
        raise TrustError(NO_KEY)
    document = row.evidence["document"]
    try:
        raise_trust_level(user, HIGH, Person.from_dict(row.evidence["person"]), "branch",
                          {"document_type": document["type"],
                           "document_number": document["number"],
                           "document_expiry": document["expiry"], "id_key": row.id,
                           "officer": row.evidence.get("officer")},
                          officer=officer, ip=ip, commit=False)
    except TrustError:
        db.session.rollback()
        raise
    audit.record("id_key_redeemed", user_id=user.id, ip=ip, commit=False, id_key=row.id)
    db.session.commit()
    announce(user, HIGH)
