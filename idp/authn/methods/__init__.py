"""Login methods as strategies behind one small interface, so that the login,
re-authentication and enrolment flows never branch per method.

A method knows its form, how to prepare a page (send an SMS code, make a
WebAuthn challenge), how to verify what the person sent, how to enrol, its
place in the chooser, its messages and its template partials (see
``base.Method``). A verified factor is a ``Proof``; ``combine`` turns the
proofs of one login into its RFC 8176 ``amr`` list and its authentication
strength."""

from ...stepup import kinds_reaching
from .base import (AMR_FACTORS, KNOWLEDGE, METHODS, POSSESSION, VERIFIED, Method, Outcome,
                   Proof, advance_counter, combine, mark_used, methods_of, register,
                   session_proof, unregister)
from .certificate import CertificateMethod
from .passkey import PasskeyMethod
from .password import PasswordMethod
from .sms import SmsMethod
from .totp import TotpMethod

__all__ = ["AMR_FACTORS", "KNOWLEDGE", "METHODS", "POSSESSION", "VERIFIED", "Method",
           "Outcome", "Proof", "advance_counter", "alone_methods", "combine", "enrolable", "mark_used",
           "methods_of", "register", "second_factor_kinds", "session_proof", "step_up_kinds",
           "unregister"]


def _second_factors():
    """The kinds of second factor in the order the chooser lists them when
    none was used yet."""
    return [m.kind for m in sorted((m for m in METHODS.values() if m.chooser is not None),
                                   key=lambda m: m.chooser)]


def alone_methods():
    """The methods that log in on their own (naming the account themselves)."""
    return sorted((m for m in METHODS.values() if m.alone_title is not None),
                  key=lambda m: m.chooser if m.chooser is not None else 0)


def enrolable():
    """The methods a person can add on the dashboard, in the order offered."""
    return sorted((m for m in METHODS.values() if m.enrol_rank is not None),
                  key=lambda m: m.enrol_rank)


def second_factor_kinds(user_id):
    """The kinds of second factor this account has; the last used first."""
    rows = methods_of(user_id)
    kinds = [k for k in _second_factors() if any(r.kind == k for r in rows)]
    used = [r for r in rows if r.last_used_at is not None and r.kind in kinds]
    if used:
        last = max(used, key=lambda r: r.last_used_at).kind
        kinds.remove(last)
        kinds.insert(0, last)
    return kinds


def step_up_kinds(user_id, required):
    """The account's second factors that can lift a login to ``required``."""
    return kinds_reaching([(kind, METHODS[kind].strength)
                           for kind in second_factor_kinds(user_id)], required)


for _method in (PasswordMethod(), SmsMethod(), TotpMethod(), PasskeyMethod(),
                CertificateMethod()):
    register(_method)
