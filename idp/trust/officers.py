"""Officer accounts, managed by operators with ``idp officers``."""

import pyotp
from flask import current_app

from .. import audit
from ..accounts.models import User
from ..accounts.service import create_user
from ..authn.methods.models import LoginMethod
from ..authn.methods.totp import seal
from ..authn.sessions import end_user_sessions
from ..extensions import db
from ..timeutil import utcnow
from .models import IdKey


def create_officer(email, password, phone, given_name, family_name, actor):
    """A new officer account with an authenticator app enrolled (the console
    needs a second factor); returns it and the app's otpauth URI."""
    user = create_user(email, password, phone, given_name=given_name, family_name=family_name,
                       actor=actor, commit=False)
    user.is_officer = True
    secret = pyotp.random_base32()
    db.session.add(LoginMethod(user_id=user.id, kind="totp", name="Officer app",
                               secret=seal(secret), counter=0))
    audit.record("officer_granted", user_id=user.id, actor=actor, commit=False)
    db.session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["WEBAUTHN_RP_NAME"] + " (officer)")
    return user, uri


def set_officer(user, officer, actor):
    """Grant or take the role. Taking it ends the officer's sessions and voids
    the ID keys they issued that were not entered yet."""
    if user is None:
        return False
    if user.is_officer == officer:
        return True
    user.is_officer = officer
    voided = 0
    if not officer:
        voided = db.session.execute(
            db.update(IdKey).where(IdKey.officer_id == user.id, IdKey.used_at.is_(None))
            .values(used_at=utcnow())).rowcount
    audit.record("officer_granted" if officer else "officer_revoked", user_id=user.id,
                 actor=actor, commit=False, **({} if officer else {"voided_id_keys": voided}))
    db.session.commit()
    if not officer:
        end_user_sessions(user.id, "officer_revoked")
    return True


def list_officers():
    return db.session.execute(
        db.select(User).filter_by(is_officer=True).order_by(User.email)).scalars().all()
