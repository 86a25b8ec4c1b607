"""The dashboard's confirmation flow: a new e-mail address or mobile number,
or deleting the account, confirmed with a code sent to that address or number
(for deletion, to the account's address). The pages are in
``dashboard/account.py``; the flow, its state and its code step are here."""

from dataclasses import dataclass

from ..accounts.service import find_by_email
from ..i18n import lazy_gettext as _l
from ..web import issuer_url
from .code_step import CodeStep
from ..codes import send_code, send_code_limited
from .state import FlowState, begin_flow, load_flow, save_flow

KIND = "change"
# What each confirmation flow changes: the channel its code goes by.
CHANNELS = {"email": "email", "phone": "sms", "delete": "email"}
CODE_STEPS = {
    field: CodeStep(CHANNELS[field], "account.confirm", title, 2, 2,
                    "account.resend", "account.cancel")
    for field, title in (("email", _l("Change the e-mail address")),
                         ("phone", _l("Change the mobile number")),
                         ("delete", _l("Delete the account")))
}


@dataclass(kw_only=True)
class ContactChange(FlowState):
    """A change of the e-mail address or mobile number, or the deletion of the
    account, waiting for the code sent to ``value``."""
    KIND = KIND
    TRANSITIONS = {}  # one step: "confirm"
    field: str  # "email", "phone" or "delete"
    value: str  # the new address or number; for "delete" the account's address
    user_id: int
    taken: bool  # another account uses the address: its owner gets a notice
    lang: str | None  # that owner's language


def begin_change(field, value, login):
    """Start confirming ``value`` for ``field`` and send its first code (within
    the limits). Whether another account uses the address is not said on the
    page (that would tell anyone logged in which addresses are registered): its
    owner gets a notice instead of a code."""
    owner = find_by_email(value) if field == "email" else None
    flow = begin_flow(KIND, "confirm", state=ContactChange(
        field=field, value=value, user_id=login.user_id,
        taken=owner is not None and owner.id != login.user_id,
        lang=owner.locale if owner is not None else None))
    send_code_limited(flow, CHANNELS[field], value, kind=_message(flow), **_context(flow))
    save_flow(flow)
    return flow


def send_again(flow):
    """Send the same message again (the code step has checked the limits)."""
    return send_code(flow, CHANNELS[flow.data.field], flow.data.value, kind=_message(flow),
                     **_context(flow))


def own_flow(fid, login):
    """The flow if it is alive, this browser's and the logged-in person's."""
    flow = load_flow(KIND, fid)
    if flow is None or login is None or flow.data.user_id != login.user_id:
        return None
    return flow


def _message(flow):
    if flow.data.taken:
        return "address_in_use"
    return "one_time_password" if CHANNELS[flow.data.field] == "sms" else "confirmation_code"


def _context(flow):
    if flow.data.taken:
        return {"lang": flow.data.lang, "login_url": issuer_url("authn.login"),
                "recover_url": issuer_url("recover.start")}
    return {}
