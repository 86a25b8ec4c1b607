"""Bank-card checks: proving you hold a card in your own name raises an account to
"substantial".

A card-verification gateway does the checking behind ``CardGateway``; the
project ships a sandbox (documented test cards, no network) and an HTTP gateway
a real acquirer plugs into. Card numbers and CVCs are never stored or logged:
a check keeps only the gateway's reference and the last four digits.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

import requests

from ..config import is_loopback
from ..names import names_match

log = logging.getLogger(__name__)

VERIFIED, DECLINED, NAME_MISMATCH = "verified", "declined", "name_mismatch"
STATUSES = (VERIFIED, DECLINED, NAME_MISMATCH)


class CardGatewayError(Exception):
    """The gateway could not be reached or answered nonsense (timeouts, 5xx, bad JSON)."""


@dataclass(frozen=True)
class CardCheck:
    status: str  # "verified", "declined", "name_mismatch"
    reference: str | None  # the gateway's reference for this check (kept as evidence)
    last4: str  # last four digits of the card number
    gateway: str  # the gateway's name, e.g. "sandbox"

    @property
    def verified(self):
        return self.status == VERIFIED


class CardGateway:
    """Checks that a card is valid and belongs to ``holder_name``."""

    name = ""
    sandbox = False  # the UI labels a sandbox gateway as such

    def verify(self, *, number, expiry_month, expiry_year, cvc, holder_name) -> CardCheck:
        raise NotImplementedError


# --- pure input checks (the form calls these; each returns an error key or None)

_DIGITS = re.compile(r"[0-9]+")


def normalise_card_number(text):
    """The card number as digits only: spaces and dashes removed."""
    return re.sub(r"[\s\-]", "", text or "")


def _luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_number_problem(number):
    """``"length"`` unless 12..19 digits, ``"checksum"`` if Luhn fails, else None."""
    number = normalise_card_number(number)
    if not (_DIGITS.fullmatch(number) and 12 <= len(number) <= 19):
        return "length"
    if not _luhn_ok(number):
        return "checksum"
    return None


def _expiry(month, year):
    """``(month, four-digit year)`` as ints, or None when either is malformed.

    Two-digit years mean 20YY, as printed on cards."""
    if isinstance(month, bool) or isinstance(year, bool):
        return None
    if isinstance(month, str):
        month = month.strip()
        if not (_DIGITS.fullmatch(month) and len(month) <= 2):
            return None
        month = int(month)
    if isinstance(year, str):
        year = year.strip()
        if not (_DIGITS.fullmatch(year) and len(year) in (2, 4)):
            return None
        year = int(year) + (2000 if len(year) == 2 else 0)
    elif isinstance(year, int):
        if 0 <= year <= 99:
            year += 2000
        elif not 1000 <= year <= 9999:
            return None
    if not (isinstance(month, int) and isinstance(year, int) and 1 <= month <= 12):
        return None
    return month, year


def expiry_problem(month, year, today):
    """``"format"`` for a malformed month or year, ``"expired"`` once the card's
    month is over (a card is valid to the end of its expiry month), else None."""
    expiry = _expiry(month, year)
    if expiry is None:
        return "format"
    month, year = expiry
    if (year, month) < (today.year, today.month):
        return "expired"
    return None


# --- the sandbox


@dataclass(frozen=True)
class SandboxCard:
    outcome: str  # what the card does for an ordinary account holder
    cardholder: str | None  # the name on the card; None: the holder name asked about


# The documented test cards (all Luhn-valid). Any other number is declined.
SANDBOX_CARDS = {
    "4242424242424242": SandboxCard(VERIFIED, None),
    "4000000000000002": SandboxCard(DECLINED, None),
    "4000000000000010": SandboxCard(NAME_MISMATCH, "JANEZ KRANJEC"),
}


class SandboxCardGateway(CardGateway):
    """A gateway for development and tests: answers from ``SANDBOX_CARDS`` and
    never talks to a network. It proves nothing about anyone."""

    name = "sandbox"
    sandbox = True

    def __init__(self, today=date.today):
        self._today = today

    def verify(self, *, number, expiry_month, expiry_year, cvc, holder_name):
        number = normalise_card_number(number)
        card = SANDBOX_CARDS.get(number)
        if (card is None or card.outcome == DECLINED
                or card_number_problem(number)
                or expiry_problem(expiry_month, expiry_year, self._today())
                or not re.fullmatch(r"[0-9]{3}", (cvc or "").strip())):
            status = DECLINED
        elif names_match(card.cardholder or holder_name, holder_name):
            status = VERIFIED
        else:
            status = NAME_MISMATCH
        check = CardCheck(status, f"sandbox-{secrets.token_hex(8)}", number[-4:], self.name)
        log.info("sandbox card check %s: %s (card ending %s)", check.reference, status,
                 check.last4)
        return check


# --- a real gateway over HTTP


class HttpCardGateway(CardGateway):
    """A gateway at ``url``: ``POST {"number", "expiry_month", "expiry_year", "cvc",
    "holder_name"}`` (JSON), answered by ``{"status", "reference"}``.

    Errors never carry the request or the answer's body, which may echo the card."""

    def __init__(self, url, token=None, timeout=10, name="http"):
        self.url = url
        self.token = token
        self.timeout = float(timeout)
        self.name = name

    def verify(self, *, number, expiry_month, expiry_year, cvc, holder_name):
        number = normalise_card_number(number)
        month, year = _expiry(expiry_month, expiry_year) or (expiry_month, expiry_year)
        payload = {"number": number, "expiry_month": month, "expiry_year": year,
                   "cvc": cvc, "holder_name": holder_name}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            # No redirects: a gateway that moved is misconfigured; card and token stay put.
            response = requests.post(self.url, json=payload, headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise self._error(f"unreachable ({type(exc).__name__})") from None
        with response:
            if not 200 <= response.status_code < 300:
                raise self._error(f"answered HTTP {response.status_code}")
            try:
                answer = response.json()
            except ValueError:
                raise self._error("answered with something that is not JSON") from None
        if not isinstance(answer, dict) or answer.get("status") not in STATUSES:
            raise self._error("answered without a known status")
        reference = answer.get("reference")
        if reference is not None and not (isinstance(reference, str) and reference):
            raise self._error("answered with a malformed reference")
        if answer["status"] == VERIFIED and reference is None:
            # A verification without a reference is evidence of nothing.
            raise self._error("verified a card without a reference")
        check = CardCheck(answer["status"], reference, number[-4:], self.name)
        log.info("card check %s via %s: %s (card ending %s)", reference, self.name,
                 check.status, check.last4)
        return check

    def _error(self, reason):
        log.warning("card gateway %s %s", self.name, reason)
        return CardGatewayError(f"card gateway {self.name} {reason}")


def card_gateway(app):
    """The app's card gateway: HTTP when ``CARD_GATEWAY_URL`` is set; else the
    sandbox where ``CARD_GATEWAY_SANDBOX`` allows it (by default only on a
    loopback issuer: its test cards would verify anybody); else None."""
    if "idp_card_gateway" not in app.extensions:
        url = app.config.get("CARD_GATEWAY_URL")
        gateway = None
        if url:
            gateway = HttpCardGateway(url, token=app.config.get("CARD_GATEWAY_TOKEN"),
                                      timeout=app.config.get("CARD_GATEWAY_TIMEOUT") or 10)
        elif sandbox_allowed(app.config):
            gateway = SandboxCardGateway()
        app.extensions["idp_card_gateway"] = gateway
    return app.extensions["idp_card_gateway"]


def sandbox_allowed(config):
    allowed = config.get("CARD_GATEWAY_SANDBOX")
    if allowed is None:
        return is_loopback(urlsplit(config["ISSUER"]).hostname)
    return bool(allowed)
