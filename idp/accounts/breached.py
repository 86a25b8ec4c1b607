"""Refuse the passwords that attackers try first.

NIST SP 800-63B 5.1.1.2 asks that a new password be checked against a list of
commonly used, expected or compromised values, because the complexity rule
alone lets through "Password1!" and "Geslo123!". A password is common when,
lower-cased, it is in ``common_passwords.txt``, or when one of its bases is:
the password with common leetspeak undone (@ 4 -> a, 3 -> e, 1 -> i or l,
0 -> o, $ 5 -> s, 7 -> t) and leading and trailing digits, punctuation and
spaces stripped ("P@ssw0rd!" -> "password"), or all its letters run together
("Sum-mer-2024!" -> "summer"). Bases under 4 characters never match, and a
longer passphrase that merely contains a listed word ("Demo-geslo-2026") is
not refused.
"""

import functools
import string
from pathlib import Path

MIN_BASE = 4
_EDGE = string.punctuation + string.whitespace
_EDGE_DIGITS = _EDGE + string.digits
_LEET = [str.maketrans({"@": "a", "4": "a", "3": "e", "1": one, "0": "o",
                        "$": "s", "5": "s", "7": "t"}) for one in "il"]


@functools.cache
def _words():
    path = Path(__file__).with_name("common_passwords.txt")
    with path.open(encoding="utf-8") as lines:
        return frozenset(w for w in (line.strip().lower() for line in lines)
                         if w and not w.startswith("#"))


def _bases(password):
    low = password.lower()
    yield low
    yield low.strip(_EDGE)  # "1qaz2wsx!" -> "1qaz2wsx"
    yield "".join(c for c in low if c.isalpha())
    # Strip before and/or after undoing leetspeak: "123p@ss" and "$ecret1".
    for s in (low, low.strip(_EDGE_DIGITS), low.rstrip(_EDGE_DIGITS), low.lstrip(_EDGE_DIGITS)):
        for table in _LEET:
            yield s.translate(table).strip(_EDGE_DIGITS)


def is_common_password(password):
    """True when the password or one of its bases is a commonly breached one."""
    words = _words()
    return any(len(b) >= MIN_BASE and b in words for b in _bases(password))
