"""Login methods as strategies behind one small interface, so that the login,
re-authentication and enrolment flows never branch per method.

A method knows its form, how to prepare a page (send an SMS code, make a
WebAuthn challenge), how to verify what the person sent, and how to enrol.
A verified factor is a ``Proof``; ``combine`` turns the proofs of one login
into its RFC 8176 ``amr`` list and its authentication strength."""

from ...levels import RANK
from .base import (AMR_FACTORS, KNOWLEDGE, POSSESSION, VERIFIED, Method, Outcome, Proof,
                   advance_counter, answer_field, combine, mark_used, methods_of, session_proof)
from .certificate import CertificateMethod
from .passkey import PasskeyMethod
from .password import PasswordMethod
from .sms import SmsMethod
from .totp import TotpMethod

__all__ = ["AMR_FACTORS", "KNOWLEDGE", "METHODS", "POSSESSION", "SECOND_FACTORS", "VERIFIED",
           "Method", "Outcome", "Proof", "advance_counter", "answer_field", "combine",
           "mark_used", "methods_of", "second_factor_kinds", "session_proof", "step_up_kinds"]

METHODS = {}  # kind -> the Method that handles it
# Second factors in the order the chooser lists them when none was used yet.
SECOND_FACTORS = ("passkey", "certificate", "totp", "sms")


def second_factor_kinds(user_id):
    """The kinds of second factor this account has; the last used first."""
    rows = methods_of(user_id)
    kinds = [k for k in SECOND_FACTORS if any(r.kind == k for r in rows)]
    used = [r for r in rows if r.last_used_at is not None]
    if used:
        last = max(used, key=lambda r: r.last_used_at).kind
        kinds.remove(last)
        kinds.insert(0, last)
    return kinds


def step_up_kinds(user_id, required):
    """The account's second factors that can lift a login to ``required``."""
    return [kind for kind in second_factor_kinds(user_id)
            if RANK[METHODS[kind].strength] >= RANK[required]]


def _register():
    for method in (PasswordMethod(), SmsMethod(), TotpMethod(), PasskeyMethod(),
                   CertificateMethod()):
        METHODS[method.kind] = method


_register()
