"""SMS one-time passwords to the account's confirmed mobile, as a second factor."""

from flask import current_app
from ...i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField

from ... import codes
from ...codes import (CODE_MESSAGES, resend_refusal, send_code, send_code_limited,
                      undelivered_message)
from ...delivery import mask_phone
from ...forms import CODE_CHECKS
from ...levels import SUBSTANTIAL
from .. import SMS_AMR
from .base import POSSESSION, Method, Outcome, methods_of
from .models import LoginMethod


class SmsForm(FlaskForm):
    code = StringField(_l("SMS one-time password"), validators=CODE_CHECKS)
    submit = SubmitField(_l("Confirm"))


class SmsMethod(Method):
    kind = "sms"
    amr = (SMS_AMR,)
    factors = frozenset({POSSESSION})
    amr_factors = {SMS_AMR: POSSESSION}
    strength = SUBSTANTIAL
    form_class = SmsForm
    label = _l("SMS one-time password")
    chooser = 40
    enrol_rank = 40
    add_label = _l("Turn on SMS one-time passwords")
    added = _l("SMS one-time passwords were turned on for your account.")
    needs_strong_login = False  # the code goes to the verified phone

    def offered(self, user, rows, app):
        return bool(user.phone_verified) and not any(r.kind == self.kind for r in rows)

    def enrol_refusal(self, user):
        if not (user.phone and user.phone_verified):
            return _l("Add a confirmed mobile number first.")
        return None

    def detail(self, row, user):
        return user.phone or None

    def prepare(self, flow, user):
        """Send a code the first time the page is shown (a reload sends none)."""
        if not flow.scratch.get("sms_sent"):
            flow.scratch["sms_sent"] = True
            send_code_limited(flow, "sms", user.phone)
        return self._context(flow, user)

    def resend(self, flow, user):
        refusal = resend_refusal(flow, "sms", user.phone)
        if refusal is None:
            send_code(flow, "sms", user.phone)
        return refusal

    def _context(self, flow, user):
        return {"target": mask_phone(user.phone or ""),
                "minutes": current_app.config["CONFIRMATION_CODE_TTL"] // 60,
                "undelivered": undelivered_message(flow, "sms")}

    def verify(self, flow, user, form):
        check = codes.check_code(flow, "sms", form.code.data)
        if check.ok:
            return Outcome(self.proof(), user_id=user.id, method=self._row(user))
        return Outcome(error=CODE_MESSAGES[check.status], failed=check.status == codes.WRONG)

    def _row(self, user):
        rows = methods_of(user.id, self.kind)
        return rows[0] if rows else None

    begin_enrolment = prepare

    def finish_enrolment(self, flow, user, form):
        if self._row(user) is not None:
            return Outcome(error=_l("SMS one-time passwords are already on."))
        outcome = self.verify(flow, user, form)
        if not outcome.ok:
            return outcome
        outcome.method = LoginMethod(user_id=user.id, kind=self.kind,
                                     name=str(_l("SMS to my mobile")))
        return outcome
