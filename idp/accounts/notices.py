"""Notices to an account's owner: an e-mail for every change they must know of."""

import logging

from flask import current_app

from ..delivery import DeliveryError, send_email
from ..timeutil import utcnow

log = logging.getLogger(__name__)


def notify_owner(user, what, address=None):
    """E-mail the owner that ``what`` happened (a lazy string, rendered in their
    language). A failed notice is logged, not fatal: the change is made."""
    try:
        send_email(address or user.email, "account_changed", lang=user.locale,
                   what=what, when=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
                   dashboard_url=current_app.config["ISSUER"] + "/")
    except DeliveryError:
        log.warning("could not notify user %s of a change", user.id)
