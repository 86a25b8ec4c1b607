"""Payments of the demo bank: what a valid payment order is, and the list of
payments made (in this process only: it is a demo)."""

import re
import secrets
import threading
import time
from decimal import Decimal

MAX_AMOUNT = Decimal("10000")
MAX_RECIPIENT_LENGTH = 42  # an IBAN has at most 34 characters, printed in groups of four
_AMOUNT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]{1,2})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PaymentError(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_amount(value):
    """A positive amount in euros with at most two decimal places, up to
    ``MAX_AMOUNT``, as a ``Decimal`` with two places. JSON numbers are taken
    by their decimal text; exponents, signs and spaces are refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PaymentError("amount", "The amount must be a decimal number such as \"12.50\".")
    text = value if isinstance(value, str) else repr(value)
    if not _AMOUNT.fullmatch(text):
        raise PaymentError("amount", "The amount must be a positive number with at most two "
                                     "decimal places.")
    amount = Decimal(text)
    if amount <= 0:
        raise PaymentError("amount", "The amount must be more than zero.")
    if amount > MAX_AMOUNT:
        raise PaymentError("amount", f"A payment may be at most {MAX_AMOUNT} EUR.")
    return amount.quantize(Decimal("0.01"))


def parse_recipient(value):
    """The recipient's account, spaces tidied; required."""
    if not isinstance(value, str) or not value.strip():
        raise PaymentError("to", "The recipient's account (IBAN) is required.")
    text = " ".join(value.split())
    if len(text) > MAX_RECIPIENT_LENGTH or _CONTROL.search(text):
        raise PaymentError("to", "The recipient's account (IBAN) is not valid.")
    return text


def parse_order(data):
    """``(amount, recipient)`` of a payment order given as a JSON object."""
    if not isinstance(data, dict):
        raise PaymentError(None, "The body must be a JSON object with \"amount\" and \"to\".")
    return parse_amount(data.get("amount")), parse_recipient(data.get("to"))


class Ledger:
    """The payments made, kept in memory; safe to use from several threads."""

    def __init__(self):
        self._payments = []
        self._lock = threading.Lock()

    def record(self, sub, amount, to):
        """Record a payment of ``sub``; returns it as the API shows it."""
        payment = {"id": secrets.token_hex(8), "amount": str(amount), "to": to, "sub": sub,
                   "created_at": int(time.time())}
        with self._lock:
            self._payments.append(payment)
        return dict(payment)

    def of(self, sub):
        with self._lock:
            return [dict(p) for p in self._payments if p["sub"] == sub]

    def __len__(self):
        with self._lock:
            return len(self._payments)
