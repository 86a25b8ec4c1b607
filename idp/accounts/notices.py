"""Notices to an account's owner: an e-mail for every change they must know of.

Services name what happened with a result code (``"password_changed"``) and its
details; the words are chosen here, from one table of lazy strings rendered in
the owner's language. A login method adds its own "added" notice when it is
registered (``authn.methods.register``), under ``method_added_notice(kind)``."""

import logging

from flask import current_app

from ..delivery import DeliveryError, send_email
from ..i18n import LazyText, lazy_gettext as _l
from ..timeutil import utcnow

log = logging.getLogger(__name__)

NOTICES = {
    "password_changed": _l("Your password was changed."),
    "password_removed": _l("The password was removed from your account; you log in with "
                           "a passkey."),
    "puk_issued": _l("A new PUK was issued; the old one no longer works."),
    "puk_locked": _l("Password recovery with your PUK was locked for a while after several "
                     "wrong PUKs were entered. If it was not you, someone knows your e-mail "
                     "address; your account stays safe as long as your PUK is secret."),
    "email_changed": _l("The e-mail address of your account was changed to %(address)s."),
    "phone_changed": _l("The mobile number of your account was changed to %(number)s."),
    "method_removed": _l("A login method was removed from your account: %(name)s."),
    "trust_raised": _l("The trust level of your account was raised to %(level)s."),
}


def method_added_notice(kind):
    """The result code of adding a login method of this kind."""
    return "method_added." + kind


def _render(event, details):
    return str(NOTICES[event]) % details if details else str(NOTICES[event])


def notice_text(event, **details):
    """The words of ``event`` with its details, a lazy string."""
    return LazyText(_render, event, details)


def notify_owner(user, event, to=None, **details):
    """E-mail the owner that ``event`` happened (a result code of ``NOTICES``
    with its details, rendered in their language), at ``to`` when that is not
    their address (the old one, when it changed). A failed notice is logged,
    not fatal: the change is made."""
    try:
        send_email(to or user.email, "account_changed", lang=user.locale,
                   what=notice_text(event, **details),
                   when=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                   dashboard_url=current_app.config["ISSUER"] + "/")
    except DeliveryError:
        log.warning("could not notify user %s of a change", user.id)
