"""Account services: creating people, checking their password and PUK, and
resetting a forgotten password with the PUK.

Services decide and commit; they take the client IP as an argument rather than
reading the request."""

import hashlib
import time
import unicodedata
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import audit, ratelimits
from ..extensions import db, store
from ..ops import metrics
from ..store import get_json, set_json
from ..timeutil import epoch, utcnow
from ..levels import LEVELS, LOW
from . import passwords
from .models import User
from .puk import issue_puk, verify_puk


class AccountError(ValueError):
    """Bad input for an account; ``code`` is stable, the message is for people."""

    def __init__(self, code, message=None):
        super().__init__(message or code)
        self.code = code


def normalise_email(raw):
    """The one spelling of an address that accounts and counters are keyed on.

    NFKC folds compatibility forms (full-width ``ｖ`` is ``v``, a decomposed
    ``í`` is the composed one) before the address is validated; the domain is
    IDNA-normalised (``xn--`` and Unicode forms are one), and case is ignored."""
    try:
        text = unicodedata.normalize("NFKC", raw or "").strip()
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("email", str(exc)) from exc


def identifier_for(email):
    """The normalised address, or for text that is no address a folded form of
    it, so that spelling variants of anything typed count together."""
    try:
        return normalise_email(email)
    except AccountError:
        return unicodedata.normalize("NFKC", email or "").strip().casefold()


MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_phone(raw, region="SI", mobile=False):
    """A phone number as E.164; national numbers are read in ``region``.

    ``041 123 123``, ``+386 41 123 123`` and ``0038641123123`` all give
    ``+38641123123``. With ``mobile``, a fixed line is refused (code
    ``phone_not_mobile``): codes go out by SMS."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region or "SI")
    except phonenumbers.NumberParseException as exc:
        raise AccountError("phone", str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise AccountError("phone", "not a valid phone number")
    if mobile and phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise AccountError("phone_not_mobile", "not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_by_email(email):
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()


def create_user(email, password, phone=None, trust_level=LOW, given_name=None,
                family_name=None, actor=None, ip=None, commit=True):
    """Create an account with verified e-mail and phone (operator or registration)."""
    email = normalise_email(email)
    problems = passwords.password_problems(password)
    if problems:
        raise AccountError("password", "password breaks the rule: " + ", ".join(problems))
    if trust_level not in LEVELS:
        raise AccountError("trust_level", f"unknown trust level {trust_level!r}")
    if find_by_email(email):
        raise AccountError("email_taken", "an account with this e-mail already exists")
    user = User(
        email=email, email_verified=True,
        phone=normalise_phone(phone) if phone else None, phone_verified=bool(phone),
        password_hash=passwords.hash_password(password), trust_level=trust_level,
        given_name=given_name, family_name=family_name,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("account_created", user_id=user.id, actor=actor, ip=ip, commit=False)
    if commit:
        db.session.commit()
    return user


@dataclass
class PasswordCheck:
    user: User | None = None
    locked: bool = False

    @property
    def ok(self):
        return self.user is not None


def _failure_keys(email, user=None):
    # Counted per normalised e-mail, known or not, so a lock-out reveals
    # nothing, and per account once it is known.
    keys = [ratelimits.identifier_key(identifier_for(email))]
    if user is not None:
        keys.append(ratelimits.account_key(user.id))
    return keys


def login_locked(email, user=None):
    """Whether logins to this e-mail (or account) are locked after too many failures."""
    return ratelimits.exhausted(ratelimits.LOGIN_FAILURES, *_failure_keys(email, user))


def record_login_failure(email, user=None, ip=None, reason="password"):
    """Count a failed password, code or key towards the lock-out; True when
    this failure locks the account. Every factor counts against one limit."""
    metrics.login_failed(reason)
    cfg = current_app.config
    was_locked = login_locked(email, user)
    locked = ratelimits.charge(ratelimits.LOGIN_FAILURES, *_failure_keys(email, user))
    if user is not None:
        audit.record("login_failed", user_id=user.id, ip=ip, reason=reason)
        if locked and not was_locked:
            metrics.lockout()
            audit.record("account_locked", user_id=user.id, ip=ip,
                         seconds=cfg["LOGIN_LOCKOUT_SECONDS"])
    return locked


def clear_login_failures(email, user=None):
    ratelimits.clear(ratelimits.LOGIN_FAILURES, *_failure_keys(email, user))


def check_password(email, password, ip=None):
    """Check an e-mail and password, with per-account lock-out.

    After ``LOGIN_MAX_FAILURES`` wrong passwords (or codes, or keys) the
    account (or the unknown e-mail) is locked for ``LOGIN_LOCKOUT_SECONDS``; a
    right password does not open a locked account. The failures are cleared
    when the whole login succeeds, not at the password."""
    user = find_by_email(email)
    if login_locked(email, user):
        # The same answer, and the same time, for the right and a wrong password.
        passwords.burn_time(password)
        return PasswordCheck(locked=True)

    if user is None or not user.active or not user.password_hash:
        passwords.burn_time(password)
        valid = False
    else:
        valid = passwords.verify_password(user.password_hash, password)

    if not valid:
        return PasswordCheck(locked=record_login_failure(email, user, ip=ip))

    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return PasswordCheck(user=user)


def register_account(email, phone, password_hash, locale=None, ip=None):
    """Create the account of a finished registration, with its PUK, in one
    transaction. Returns ``(user, puk)``; the PUK is never stored in clear."""
    puk, puk_hash = issue_puk()
    user = User(email=email, email_verified=True, phone=phone, phone_verified=True,
                password_hash=password_hash, puk_hash=puk_hash, locale=locale,
                trust_level=LOW)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # registered by someone else since the flow began
        db.session.rollback()
        raise AccountError("email_taken", "an account with this e-mail already exists") from None
    audit.record("account_registered", user_id=user.id, ip=ip, commit=False)
    audit.record("puk_issued", user_id=user.id, ip=ip, commit=False, reason="registration")
    db.session.commit()
    return user, puk


def discard_new_account(user_id, ip=None):
    """Delete an account whose registration was cancelled before it was ever used."""
    user = db.session.get(User, user_id)
    if user is not None:
        audit.record("registration_cancelled", user_id=user.id, ip=ip, commit=False,
                     account_deleted=True)
        db.session.delete(user)
        db.session.commit()


@dataclass
class PukCheck:
    user: User | None = None
    locked: bool = False
    # The account whose PUK route this check has just locked (its owner is told).
    lock_started: User | None = None

    @property
    def ok(self):
        return self.user is not None


def puk_lock_seconds(failures, limit, first, longest):
    """How long the PUK route stays locked after ``failures`` wrong PUKs in a
    row: not at all below ``limit``; then ``first`` seconds, doubling with every
    further wrong PUK, at most ``longest``. The lock ends by itself, so a
    stranger who knows an address cannot take its owner's recovery away."""
    if failures < limit:
        return 0
    return min(first * 2 ** min(failures - limit, 32), longest)


def puk_locked(failures, locked_at, now, config):
    """Whether a PUK route with this history is locked at ``now`` (epoch seconds)."""
    if locked_at is None:
        return False
    seconds = puk_lock_seconds(failures, config["PUK_MAX_FAILURES"], config["PUK_LOCK_SECONDS"],
                               config["PUK_LOCK_MAX_SECONDS"])
    return now < locked_at + seconds


def _unknown_puk_key(email):
    return "puk-fail:" + hashlib.sha256(identifier_for(email).encode()).hexdigest()


def check_puk(email, typed, ip=None):
    """Check an e-mail and PUK. Wrong PUKs are counted per account; from
    ``PUK_MAX_FAILURES`` on, each one locks the PUK route for a growing time
    (``puk_lock_seconds``); a branch officer can lift the lock at once. Unknown
    e-mails are counted and locked the same way (per normalised address), so
    the answer never tells whether an address is registered."""
    cfg = current_app.config
    now = time.time()
    user = find_by_email(email)
    if user is None or not user.active:
        key = _unknown_puk_key(email)
        state = get_json(store(), key) or {"failures": 0, "at": None}
        verify_puk(None, typed)
        if puk_locked(state["failures"], state["at"], now, cfg):
            return PukCheck(locked=True)
        state["failures"] += 1
        locked = state["failures"] >= cfg["PUK_MAX_FAILURES"]
        if locked:
            state["at"] = now
        set_json(store(), key, state, 30 * 24 * 3600)
        return PukCheck(locked=locked)
    locked_at = epoch(user.puk_locked_at) if user.puk_locked_at else None
    if puk_locked(user.puk_failures, locked_at, now, cfg):
        verify_puk(None, typed)
        return PukCheck(locked=True)
    if verify_puk(user.puk_hash, typed):
        if user.puk_failures or user.puk_locked_at:
            user.puk_failures, user.puk_locked_at = 0, None
            db.session.commit()
        return PukCheck(user=user)
    # Counted in the database, atomically: the lock must outlive any cache.
    db.session.execute(db.update(User).where(User.id == user.id)
                       .values(puk_failures=User.puk_failures + 1))
    db.session.refresh(user)
    audit.record("puk_failed", user_id=user.id, ip=ip, commit=False, failures=user.puk_failures)
    locked = user.puk_failures >= cfg["PUK_MAX_FAILURES"]
    if locked:
        user.puk_locked_at = utcnow()
        seconds = puk_lock_seconds(user.puk_failures, cfg["PUK_MAX_FAILURES"],
                                   cfg["PUK_LOCK_SECONDS"], cfg["PUK_LOCK_MAX_SECONDS"])
        audit.record("puk_locked", user_id=user.id, ip=ip, commit=False, seconds=seconds)
    db.session.commit()
    return PukCheck(locked=locked, lock_started=user if locked else None)
