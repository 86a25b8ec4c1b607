"""Every outgoing e-mail and SMS: one place that renders, sends, logs and fails alike.

Callers name a *kind* (a template under ``templates/messages/``) and give its
context; the language, the transport and the log discipline (masked recipients,
never a code or a secret once a message really leaves) are decided here, so no
feature grows its own SMTP or gateway code.
"""

import logging

from flask import current_app, has_request_context
from flask_babel import force_locale, get_locale
from jinja2 import StrictUndefined

from ..extensions import LOCALES
from ..ops import metrics
from . import email as smtp
from . import sms as gateway

log = logging.getLogger("idp.delivery")


class DeliveryError(Exception):
    """A message could not be handed over; ``channel`` is ``"email"`` or ``"sms"``."""

    def __init__(self, channel, message):
        super().__init__(message)
        self.channel = channel


def send_email(to, kind, lang=None, **context):
    """Send ``messages/<kind>.email.txt`` to ``to``; raise DeliveryError if it failed.

    Without IDP_SMTP_HOST the message is logged instead (development)."""
    subject, body = render_email(kind, lang, **context)
    cfg = current_app.config
    if not cfg.get("SMTP_HOST"):
        log.warning("IDP_SMTP_HOST unset; e-mail %s not sent, here it is:\nTo: %s\nSubject: %s\n\n%s",
                    kind, to, subject, body)
        _count("email", context, "logged")
        return
    masked = mask_email(to)
    try:
        smtp.send(cfg, to, subject, body)
    except smtp.ERRORS as exc:
        _count("email", context, "failed")
        raise _failed("email", kind, to, masked, exc) from exc
    _count("email", context, "sent")
    log.info("sent %s e-mail to %s", kind, masked)


def send_sms(to, kind, lang=None, **context):
    """Send ``messages/<kind>.sms.txt`` to the number ``to``; raise DeliveryError if it failed.

    Without IDP_SMS_GATEWAY_URL the text is logged instead (development)."""
    text = render_sms(kind, lang, **context)
    cfg = current_app.config
    if not cfg.get("SMS_GATEWAY_URL"):
        log.warning("IDP_SMS_GATEWAY_URL unset; SMS %s not sent, here it is:\nTo: %s\n%s",
                    kind, to, text)
        _count("sms", context, "logged")
        return
    masked = mask_phone(to)
    try:
        gateway.send(cfg, to, text)
    except gateway.ERRORS as exc:
        _count("sms", context, "failed")
        raise _failed("sms", kind, to, masked, exc) from exc
    _count("sms", context, "sent")
    log.info("sent %s SMS to %s", kind, masked)


def render_email(kind, lang=None, **context):
    """``(subject, body)`` of an e-mail: the template's first line is ``Subject: ...``."""
    first, _, body = _render(f"messages/{kind}.email.txt", lang, context).partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"messages/{kind}.email.txt must start with 'Subject:'")
    return first[len("Subject:"):].strip(), body.strip() + "\n"


def render_sms(kind, lang=None, **context):
    """The text of an SMS on one line, however the template wraps it."""
    return " ".join(_render(f"messages/{kind}.sms.txt", lang, context).split())


def resolve_language(lang=None):
    """``lang`` if we speak it, else the current request's language, else Slovenian."""
    if lang is None and has_request_context():
        lang = get_locale()
    lang = str(lang or "").replace("-", "_").split("_")[0]
    return lang if lang in LOCALES else "sl"


def mask_email(address):
    """``a***@example.si``: enough to tell messages apart in a log, not to harvest."""
    local, at, domain = str(address).rpartition("@")
    return f"{local[:1]}***@{domain}" if at and local else "***"


def mask_phone(number):
    """``+38641***123``: country and operator prefix and the last three digits."""
    number = str(number)
    if len(number) >= 10:
        return f"{number[:6]}***{number[-3:]}"
    return f"{number[:2]}***" if len(number) > 4 else "***"


def _render(name, lang, context):
    with force_locale(resolve_language(lang)):
        return _templates().get_template(name).render(context)


def _templates():
    """The app's Jinja environment, but strict: a message with a blank where the
    code should be is worse than an exception."""
    app = current_app._get_current_object()
    env = app.extensions.get("idp_message_templates")
    if env is None:
        env = app.extensions["idp_message_templates"] = app.jinja_env.overlay(
            undefined=StrictUndefined)
    return env


def _count(channel, context, outcome):
    if "code" in context:  # codes and one-time passwords, not notices
        metrics.code_sent(channel, outcome)


def _failed(channel, kind, to, masked, exc):
    """Log a failure and build the error; an SMTP refusal may quote the address."""
    reason = f"{type(exc).__name__}: {exc}"
    if to:
        reason = reason.replace(str(to), masked)
    log.warning("%s %s to %s not sent: %s", kind, channel, masked, reason)
    return DeliveryError(channel, f"{kind} {channel} to {masked} not sent: {reason}")
