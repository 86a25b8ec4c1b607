"""Changes to an account that reach beyond it: those a person makes from the
dashboard, the password reset of a PUK recovery, and the operator's
deactivation. They end the sessions and revoke the tokens a change makes
unsafe, so this module sits above ``accounts``, ``authn`` and ``oauth``.

Each one commits, writes an audit event, and e-mails the owner when it changes
or weakens access. The views check recent authentication before calling."""

import logging

from sqlalchemy.exc import IntegrityError

from . import audit
from .accounts import passwords
from .accounts.models import User
from .accounts.notices import method_added_notice, notify_owner
from .accounts.puk import issue_puk
from .accounts.service import AccountError, clear_login_failures, normalise_email
from .authn.methods import METHODS
from .authn.methods.models import LoginMethod
from .authn.sessions import LoginSession, end_session, end_user_sessions
from .delivery import DeliveryError, mask_email, mask_phone, send_email
from .extensions import db
from .oauth.models import Consent, OAuthClient, RefreshToken
from .oauth.tokens import revoke_family, revoke_user_tokens
from .timeutil import utcnow

log = logging.getLogger(__name__)


# -- login methods ------------------------------------------------------------------

def can_log_in_alone(row):
    """Whether an added login method is a whole login by itself (its
    method's ``whole_login``: a discoverable passkey that verifies the person)."""
    method = METHODS.get(row.kind)
    return method is not None and method.whole_login(row)


def removal_problem(target, methods, has_password):
    """Why ``target`` (a ``LoginMethod`` or ``"password"``) may not be removed,
    or None. The last way to log in stays: the password, or a passkey that
    verifies the person, must remain."""
    password_left = has_password and target != "password"
    passkeys_left = [m for m in methods if can_log_in_alone(m) and m is not target]
    if not password_left and not passkeys_left:
        return "last_way"
    return None


def add_method(user, method, ip=None):
    db.session.add(method)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise AccountError("duplicate", "this key is registered already") from None
    audit.record("method_added", user_id=user.id, ip=ip, commit=False, kind=method.kind,
                 method_id=method.id, name=method.name)
    db.session.commit()
    notify_owner(user, method_added_notice(method.kind))
    return method


def rename_method(user, method, name, ip=None):
    old, method.name = method.name, name
    audit.record("method_renamed", user_id=user.id, ip=ip, commit=False, kind=method.kind,
                 method_id=method.id, old=old, new=name)
    db.session.commit()


def remove_method(user, method, methods, ip=None):
    if removal_problem(method, methods, bool(user.password_hash)):
        raise AccountError("last_way", "the last way to log in stays")
    audit.record("method_removed", user_id=user.id, ip=ip, commit=False, kind=method.kind,
                 method_id=method.id, name=method.name)
    name = method.name
    db.session.delete(method)
    db.session.commit()
    notify_owner(user, "method_removed", name=name)


def remove_password(user, methods, ip=None):
    if removal_problem("password", methods, bool(user.password_hash)):
        raise AccountError("last_way", "the last way to log in stays")
    user.password_hash = None
    audit.record("password_removed", user_id=user.id, ip=ip, commit=False)
    db.session.commit()
    notify_owner(user, "password_removed")


# -- password and PUK ---------------------------------------------------------------

def change_password(user, new_password, current, ip=None):
    """Set a new password; every other session ends and its tokens are revoked."""
    problems = passwords.password_problems(new_password)
    if problems:
        raise AccountError("password", "password breaks the rule: " + ", ".join(problems))
    user.password_hash = passwords.hash_password(new_password)
    audit.record("password_changed", user_id=user.id, ip=ip, commit=False)
    db.session.commit()
    end_other_sessions(user, current, ip=ip)
    notify_owner(user, "password_changed")


def issue_new_puk(user, ip=None):
    """A new PUK, shown once; the old one is spent and its failure count cleared."""
    puk, user.puk_hash = issue_puk()
    user.puk_failures = 0
    audit.record("puk_issued", user_id=user.id, ip=ip, commit=False, reason="owner")
    db.session.commit()
    notify_owner(user, "puk_issued")
    return puk


# -- contact data ---------------------------------------------------------------

def change_email(user, new_email, ip=None):
    """Switch to a confirmed new address; the old one is told."""
    new_email = normalise_email(new_email)
    old = user.email
    user.email = new_email
    audit.record("email_changed", user_id=user.id, ip=ip, commit=False)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError("email_taken", "another account has this address") from None
    notify_owner(user, "email_changed", to=old, address=mask_email(new_email))


def change_phone(user, new_phone, ip=None):
    user.phone, user.phone_verified = new_phone, True
    audit.record("phone_changed", user_id=user.id, ip=ip, commit=False)
    db.session.commit()
    notify_owner(user, "phone_changed", number=mask_phone(new_phone))


# -- sessions and connected services ---------------------------------------------------

def live_sessions(user_id):
    return db.session.execute(
        db.select(LoginSession).where(LoginSession.user_id == user_id,
                                      LoginSession.ended_at.is_(None))
        .order_by(LoginSession.created_at.desc())).scalars().all()


def end_other_sessions(user, current, ip=None):
    """End every other session (expired ones too) and revoke every token not
    issued in ``current``: refresh tokens outlive the sessions they came from."""
    ended = 0
    for login in live_sessions(user.id):
        if login.id != current.id:
            ended += not login.expired()
            end_session(login, "ended_by_owner", ip=ip)
    revoke_user_tokens(user.id, except_sid=current.public_id)
    return ended


def connected_services(user_id):
    """``{client_id: client}`` of the services holding a consent or a live
    refresh token of this account."""
    ids = set(db.session.execute(
        db.select(Consent.client_id).where(Consent.user_id == user_id)).scalars())
    ids |= set(db.session.execute(
        db.select(RefreshToken.client_id).where(RefreshToken.user_id == user_id,
                                                RefreshToken.revoked_at.is_(None))).scalars())
    clients = db.session.execute(
        db.select(OAuthClient).where(OAuthClient.client_id.in_(ids))).scalars().all()
    return sorted(clients, key=lambda c: c.name.lower())


def disconnect_service(user, client_id, ip=None):
    """Revoke every token this service holds for the account and forget the consent."""
    families = set(db.session.execute(
        db.select(RefreshToken.family).where(RefreshToken.user_id == user.id,
                                             RefreshToken.client_id == client_id,
                                             RefreshToken.revoked_at.is_(None))).scalars())
    for family in families:
        revoke_family(family)
    db.session.execute(db.delete(Consent).where(Consent.user_id == user.id,
                                                Consent.client_id == client_id))
    audit.record("service_disconnected", user_id=user.id, ip=ip, commit=False,
                 client_id=client_id)
    db.session.commit()


# -- deleting the account ----------------------------------------------------------

def delete_account(user, ip=None):
    """End every session, revoke every token, then delete the account and all
    that hangs off it. The audit trail stays, without the link to the person."""
    address, locale = user.email, user.locale
    end_user_sessions(user.id, "account_deleted", ip=ip)
    audit.record("account_deleted", user_id=user.id, ip=ip, commit=False, sub=user.sub)
    db.session.execute(db.delete(LoginMethod).where(LoginMethod.user_id == user.id))
    db.session.execute(db.delete(Consent).where(Consent.user_id == user.id))
    db.session.delete(user)
    db.session.commit()
    try:
        send_email(address, "account_deleted", lang=locale,
                   when=utcnow().strftime("%Y-%m-%d %H:%M UTC"))
    except DeliveryError:
        log.warning("could not send the account-deletion notice")



# -- recovery ------------------------------------------------------------------------

def reset_password_with_puk(user, new_password, ip=None):
    """Set a new password after a PUK recovery, in one transaction: the old PUK
    is spent and a new one issued, every session and token of the account is
    revoked, and the password lock-out is lifted. Returns the new PUK."""
    problems = passwords.password_problems(new_password)
    if problems:
        raise AccountError("password", "password breaks the rule: " + ", ".join(problems))
    proven_puk_hash = user.puk_hash  # as read when the flow checked it, before any commit
    # Sessions first: ending them twice is harmless, so if this fails half-way
    # nothing is lost and the person simply tries again.
    ended = end_user_sessions(user.id, "password_reset", ip=ip)
    puk, puk_hash = issue_puk()
    # Only if the PUK is still the one this recovery proved: of two parallel
    # submits, exactly one spends it.
    changed = db.session.execute(
        db.update(User).where(User.id == user.id, User.puk_hash == proven_puk_hash)
        .values(password_hash=passwords.hash_password(new_password), puk_hash=puk_hash,
                puk_failures=0)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise AccountError("puk_spent", "the PUK was spent by another reset")
    audit.record("password_reset", user_id=user.id, ip=ip, commit=False, method="puk",
                 sessions_ended=ended)
    audit.record("puk_issued", user_id=user.id, ip=ip, commit=False, reason="password_reset")
    db.session.commit()
    db.session.refresh(user)
    clear_login_failures(user.email, user)
    return puk


# -- operator actions ------------------------------------------------------------------

def deactivate_account(user, actor=None):
    """Stop an account without deleting it: it can no longer log in (password,
    passkey, certificate, PUK recovery), every session ends (its clients are
    told by back-channel logout) and every token is revoked. Returns the number
    of sessions ended, or None when the account was already inactive."""
    if not user.active:
        return None
    # Inactive first, so that no login can start between the two steps.
    user.active = False
    audit.record("account_deactivated", user_id=user.id, actor=actor, commit=False)
    db.session.commit()
    return end_user_sessions(user.id, "account_deactivated")


def activate_account(user, actor=None):
    """Let a deactivated account log in again (its old sessions and tokens stay
    ended). Returns False when it was active already."""
    if user.active:
        return False
    user.active = True
    audit.record("account_activated", user_id=user.id, actor=actor, commit=False)
    db.session.commit()
    return True
