"""The password as a factor: the first step of a login, and a way to prove
oneself again before a sensitive change."""

from flask import request
from ...i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from ...accounts.service import check_password
from ...levels import LOW
from .. import PASSWORD_AMR
from .base import KNOWLEDGE, Method, Outcome, Proof


class PasswordForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Enter your password.")), Length(max=1024)])
    submit = SubmitField(_l("Confirm"))


class PasswordMethod(Method):
    kind = "password"
    amr = (PASSWORD_AMR,)
    factors = frozenset({KNOWLEDGE})
    amr_factors = {PASSWORD_AMR: KNOWLEDGE}
    form_class = PasswordForm
    answer = "password"
    label = _l("Password")

    @staticmethod
    def proof():
        # Static: the login page proves a password before any flow exists.
        return Proof((PASSWORD_AMR,), frozenset({KNOWLEDGE}), LOW)

    def verify(self, flow, user, form):
        result = check_password(user.email, form.password.data, ip=request.remote_addr)
        if result.ok and result.user.id == user.id:
            return Outcome(self.proof(), user_id=user.id)
        # check_password has counted the failure towards the lock-out already.
        return Outcome(error=LOCKED if result.locked else _l("The password is not correct."))


LOCKED = _l("Too many failed attempts. The account is locked for a while; try again later.")
