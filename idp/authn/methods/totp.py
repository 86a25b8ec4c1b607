"""Authenticator apps (TOTP, RFC 6238) with pyotp: 30-second steps, one step
of drift either way, and each code accepted once (the last accepted time step
is stored and must grow)."""

import base64
import time

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from ...i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from ...levels import SUBSTANTIAL
from ...forms import PRINTABLE
from .base import POSSESSION, Method, Outcome, advance_counter, methods_of
from .models import LoginMethod

OTP_AMR = "otp"
DRIFT = 1  # steps accepted before and after the current one

WRONG = _l("The code is not correct. Check the time on your phone and try again.")
USED = _l("This code has been used already. Wait for the next one.")


def now():
    return time.time()


def matching_step(secret, code, at, last_step=-1):
    """The time step whose code is ``code`` within the drift window and after
    ``last_step``, or None. Pure: tests pass the time."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at)
    code = "".join((code or "").split())
    for step in range(current - DRIFT, current + DRIFT + 1):
        if step > last_step and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def _fernet():
    """Secrets at rest are encrypted with a key derived from the secret key."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"idp totp secrets").derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret):
    return _fernet().encrypt(secret.encode())


def unseal(sealed):
    try:
        return _fernet().decrypt(sealed).decode()
    except InvalidToken:  # the secret key changed: this app must be enrolled again
        return None


class TotpForm(FlaskForm):
    code = StringField(_l("Code from the authenticator app"), validators=[
        DataRequired(_l("Enter the code.")),
        Regexp(r"^ *[0-9]{3} ?[0-9]{3} *$", message=_l("The code has 6 digits."))])
    submit = SubmitField(_l("Confirm"))


class TotpEnrolForm(TotpForm):
    name = StringField(_l("Name of this app"), default="", validators=[Length(max=64), PRINTABLE])


class TotpMethod(Method):
    kind = "totp"
    amr = (OTP_AMR,)
    factors = frozenset({POSSESSION})
    amr_factors = {OTP_AMR: POSSESSION}
    strength = SUBSTANTIAL
    form_class = TotpForm
    enrol_form_class = TotpEnrolForm
    label = _l("Authenticator app")
    chooser = 30
    enrol_rank = 20
    add_label = _l("Add an authenticator app")
    added = _l("An authenticator app was added to your account.")

    def verify(self, flow, user, form):
        at = now()
        replayed = False
        for row in methods_of(user.id, self.kind):
            secret = unseal(row.secret)
            if secret is None:
                continue
            step = matching_step(secret, form.code.data, at)
            if step is None:
                continue
            if not advance_counter(row, step):
                replayed = True  # right code, but used already (or just now)
                continue
            return Outcome(self.proof(), method=row,
                           user_id=user.id)
        return Outcome(error=USED if replayed else WRONG, failed=True)

    def begin_enrolment(self, flow, user):
        if "totp_secret" not in flow.scratch:
            flow.scratch["totp_secret"] = pyotp.random_base32()
        secret = flow.scratch["totp_secret"]
        uri = pyotp.TOTP(secret).provisioning_uri(
            name=user.email, issuer_name=current_app.config["WEBAUTHN_RP_NAME"])
        return {"qr_svg": segno.make(uri, error="m").svg_inline(scale=4, dark="#0b0c0c"),
                "secret_groups": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                "otpauth_uri": uri}

    def finish_enrolment(self, flow, user, form):
        secret = flow.scratch.get("totp_secret")
        step = matching_step(secret, form.code.data, now()) if secret else None
        if step is None:
            return Outcome(error=WRONG, failed=True)
        name = (form.name.data or "").strip() or str(_l("Authenticator app"))
        flow.scratch.pop("totp_secret")
        return Outcome(self.proof(), user_id=user.id,
                       method=LoginMethod(user_id=user.id, kind=self.kind, name=name,
                                          secret=seal(secret), counter=step))

