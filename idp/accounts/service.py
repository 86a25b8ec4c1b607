"""Account services: creating people and checking their password.

Services decide and commit; they take the client IP as an argument rather than
reading the request."""

import hashlib
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from .. import audit
from ..extensions import db, store
from ..trust.levels import LEVELS, LOW
from . import passwords
from .models import User


class AccountError(ValueError):
    """Bad input for an account; ``code`` is stable, the message is for people."""

    def __init__(self, code, message=None):
        super().__init__(message or code)
        self.code = code


def normalise_email(raw):
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError("email", str(exc)) from exc


def normalise_phone(raw, region="SI"):
    """A mobile number as E.164; Slovenian national format by default.

    ``041 123 123``, ``+386 41 123 123`` and ``0038641123123`` all give
    ``+38641123123``."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise AccountError("phone", str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise AccountError("phone", "not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_by_email(email):
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()


def create_user(email, password, phone=None, trust_level=LOW, given_name=None,
                family_name=None, actor=None, ip=None):
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
    db.session.commit()
    return user


@dataclass
class PasswordCheck:
    user: User | None = None
    locked: bool = False

    @property
    def ok(self):
        return self.user is not None


def _failure_key(email):
    # Counted per e-mail typed, known or not, so a lock-out reveals nothing.
    return "login-fail:" + hashlib.sha256(email.encode()).hexdigest()


def check_password(email, password, ip=None):
    """Check an e-mail and password, with per-account lock-out.

    After ``LOGIN_MAX_FAILURES`` wrong passwords the account (or the unknown
    e-mail) is locked for ``LOGIN_LOCKOUT_SECONDS``; a right password does not
    open a locked account."""
    cfg = current_app.config
    key = _failure_key(email.strip().lower())
    failures = int(store().get(key) or 0)
    if failures >= cfg["LOGIN_MAX_FAILURES"]:
        passwords.burn_time(password)
        return PasswordCheck(locked=True)

    user = find_by_email(email)
    if user is None or not user.active:
        passwords.burn_time(password)
        valid = False
    else:
        valid = passwords.verify_password(user.password_hash, password)

    if not valid:
        count = store().incr(key, cfg["LOGIN_LOCKOUT_SECONDS"])
        locked = count >= cfg["LOGIN_MAX_FAILURES"]
        if user is not None:
            audit.record("login_failed", user_id=user.id, ip=ip, reason="password")
            if locked and count == cfg["LOGIN_MAX_FAILURES"]:
                audit.record("account_locked", user_id=user.id, ip=ip,
                             seconds=cfg["LOGIN_LOCKOUT_SECONDS"])
        return PasswordCheck(locked=locked)

    store().delete(key)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return PasswordCheck(user=user)
