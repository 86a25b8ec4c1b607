"""The code-confirmation step every flow that sends a code shares: the page
that asks for the code, sending it again, and cancelling.

Registration (e-mail and SMS), password recovery (SMS) and the dashboard's
contact change and deletion each describe their step with a ``CodeStep`` and
keep only what is theirs: finding the flow, the address the code goes to,
what happens once it is confirmed, and where cancelling leads."""

from dataclasses import dataclass

from flask import current_app, redirect, render_template, url_for

from ..forms import CsrfForm
from ..i18n import lazy_gettext as _l
from .. import codes
from ..codes import CODE_MESSAGES, resend_refusal, send_code, undelivered_message
from ..delivery import mask_email, mask_phone
from .forms import EmailCodeForm, SmsCodeForm
from .state import end_flow, save_flow

CHANNELS = ("email", "sms")


def code_form(channel):
    return EmailCodeForm() if channel == "email" else SmsCodeForm()


@dataclass(frozen=True)
class CodeStep:
    """One code page: the channel its code goes by, the page's endpoint (with
    a ``fid`` argument), its title and place in the journey, and the flow's
    resend and cancel endpoints."""
    channel: str
    endpoint: str
    title: object
    number: int
    steps: int
    resend_endpoint: str
    cancel_endpoint: str
    cancel_label: object = _l("Cancel")

    def page(self, flow, target, form, refusal=None):
        """The page asking for the code sent to ``target`` (shown masked)."""
        masked = mask_email(target) if self.channel == "email" else mask_phone(target)
        return render_template(
            "code_step.html", form=form, flow=flow, channel=self.channel, target=masked,
            title=self.title, step=self.number, steps=self.steps, refusal=refusal,
            undelivered=undelivered_message(flow, self.channel),
            minutes=current_app.config["CONFIRMATION_CODE_TTL"] // 60,
            action=url_for(self.endpoint, fid=flow.id),
            resend=url_for(self.resend_endpoint, fid=flow.id),
            cancel=url_for(self.cancel_endpoint, fid=flow.id), cancel_label=self.cancel_label)

    def confirm(self, flow, target, on_success, accept=True):
        """The page's GET and POST. A right code runs ``on_success(flow)``,
        whose response is returned; the code is spent only after that work, so
        an outage there costs no code. With ``accept`` false even a right code
        is answered as wrong (an address that is already registered)."""
        form = code_form(self.channel)
        if form.validate_on_submit():
            check = codes.check_code(flow, self.channel, form.code.data, consume=False)
            if check.ok and accept:
                response = on_success(flow)
                codes.consume_code(flow, self.channel)
                return response
            form.code.errors = [CODE_MESSAGES[check.status if not check.ok else codes.WRONG]]
        return self.page(flow, target, form), 400 if form.errors else 200

    def resend(self, flow, target, send=None):
        """Send a new code to ``target`` unless the cool-down or the hourly
        limits say no (then the page with the reason, 429). ``send(flow)``
        replaces the plain ``send_code`` (a notice instead of a code)."""
        if not CsrfForm().validate_on_submit():
            return redirect(url_for(self.endpoint, fid=flow.id))
        refusal = resend_refusal(flow, self.channel, target)
        if refusal is not None:
            return self.page(flow, target, code_form(self.channel), refusal), 429
        if send is None:
            send_code(flow, self.channel, target)
        else:
            send(flow)
        save_flow(flow)
        return redirect(url_for(self.endpoint, fid=flow.id, sent=1))


def discard_flow(flow):
    """End ``flow`` and the codes it sent (cancelled or done)."""
    for channel in CHANNELS:
        codes.discard_code(flow, channel)
    end_flow(flow)
