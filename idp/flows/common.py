"""What the flows share: sending codes within the limits, the messages of the
password rule and of code checks, masking (the delivery's), and the "start
again" page."""

from flask import current_app, redirect, render_template, request, url_for
from ..i18n import lazy_gettext as _l

from ..accounts import passwords
from .. import delivery
from ..delivery import DeliveryError, send_email, send_sms
from . import codes
from .state import load_flow

PASSWORD_MESSAGES = {
    "length": _l("Use at least 8 characters."),
    "lower": _l("Add a lower-case letter."),
    "upper": _l("Add an upper-case letter."),
    "digit": _l("Add a digit."),
    "special": _l("Add a special character, such as ! ? - or #."),
    "common": _l("This password is too common: it appears in lists of leaked passwords. "
                 "Choose another one."),
}
MISMATCH = _l("The passwords are not the same.")

# The rule as the live checklist shows it (same order as the checks).
PASSWORD_RULE = [
    ("length", _l("at least 8 characters")),
    ("lower", _l("a lower-case letter")),
    ("upper", _l("an upper-case letter")),
    ("digit", _l("a digit")),
    ("special", _l("a special character")),
]

CODE_MESSAGES = {
    codes.WRONG: _l("The code is not correct. Check it and try again."),
    codes.EXPIRED: _l("The code has expired. Ask for a new one."),
    codes.EXHAUSTED: _l("Too many wrong attempts. Ask for a new code."),
    codes.MISSING: _l("This code is no longer valid. Ask for a new one."),
}
SEND_FAILED = {
    "email": _l("We could not send the e-mail. Please try again in a moment."),
    "sms": _l("We could not send the SMS. Please try again in a moment."),
}
TOO_MANY_SENDS = _l("Too many codes have been requested. Try again in an hour.")


def password_errors(form):
    """Put the rule's verdict on the two password fields; True when acceptable.
    A repeat field that already says what is wrong (empty) keeps its message."""
    problems = passwords.password_problems(form.password.data or "",
                                           form.password_repeat.data or "")
    form.password.errors = [PASSWORD_MESSAGES[p] for p in problems if p in PASSWORD_MESSAGES]
    if not form.password_repeat.errors:
        form.password_repeat.errors = [MISMATCH] if "mismatch" in problems else []
    return not problems


# For ``problems.validate_all``: the rule, once the password itself was typed.
PASSWORD_CHECK = (("password",), password_errors)


def send_code(flow, channel, target, kind=None, lang=None, **context):
    """Issue a code for ``channel`` and deliver it; ``flow.undelivered`` says
    whether it failed. ``kind`` replaces the usual message (the notice to
    the owner of an address that is already registered gets no code)."""
    code = codes.issue_code(flow, channel)
    minutes = current_app.config["CONFIRMATION_CODE_TTL"] // 60
    try:
        if channel == "email":
            send_email(target, kind or "registration_code", lang=lang, code=code,
                       minutes=minutes, **context)
        else:
            send_sms(target, kind or "one_time_password", lang=lang, code=code,
                     minutes=minutes, **context)
    except DeliveryError:
        codes.discard_code(flow, channel)  # no cool-down for a code nobody got
        flow.undelivered = channel
        return False
    codes.count_send(request.remote_addr, target)
    flow.undelivered = None
    return True


def send_code_limited(flow, channel, target, kind=None, lang=None, **context):
    """``send_code`` within the per-number and per-IP limits (first sends)."""
    if not codes.allow_send(request.remote_addr, target):
        codes.discard_code(flow, channel)
        flow.undelivered = "limited"
        return False
    return send_code(flow, channel, target, kind=kind, lang=lang, **context)


def undelivered_message(flow, channel):
    """What the code page says when the last code did not go out."""
    state = flow.undelivered
    if state == "limited":
        return TOO_MANY_SENDS
    return SEND_FAILED[channel] if state == channel else None


def resend_refusal(flow, channel, *targets):
    """Why a code may not be sent again now (a message), or None."""
    wait = codes.resend_wait(flow, channel)
    if wait:
        return _l("You can ask for a new code in %(seconds)s seconds.", seconds=wait)
    if not codes.allow_send(request.remote_addr, *targets):
        return TOO_MANY_SENDS
    return None


# One masking for pages and logs: the delivery's (the SMS login method still
# imports it from here).
mask_email, mask_phone = delivery.mask_email, delivery.mask_phone


def flow_expired(start_url):
    return render_template("flow_expired.html", start_url=start_url), 400


def flow_at(kind, fid, step, step_views, start_url):
    """``(flow, None)`` when the flow is at ``step``; else ``(None, response)``:
    the "start again" page, or a redirect to the step the flow is really at."""
    flow = load_flow(kind, fid)
    if flow is None:
        return None, flow_expired(start_url)
    if flow.step != step:
        return None, redirect(url_for(step_views[flow.step], fid=fid))
    return flow, None
