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
    if user is None:
        return False
    user.is_officer = officer
    audit.record("officer_granted" if officer else "officer_revoked", user_id=user.id,
                 actor=actor, commit=False)
    db.session.commit()
    if not officer:
        end_user_sessions(user.id, "officer_revoked")
    return True


def list_officers():
    return db.session.execute(
        db.select(User).filter_by(is_officer=True).order_by(User.email)).scalars().all()
