"""What the flows share: the messages of the password rule and the "start
again" page. Codes (sending them within the limits, their messages) are
``idp.codes``."""

from flask import redirect, render_template, url_for
from ..i18n import lazy_gettext as _l

from ..accounts import passwords
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
