"""The PUK: the code a person writes down at registration and uses to reset a
forgotten password. Shown once, stored only as an argon2 hash."""

import secrets

from . import passwords

# No 0/O, 1/I/L: the PUK is copied by hand from paper.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8


def issue_puk():
    """A new PUK and its hash; the PUK itself is never stored."""
    puk = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return puk, passwords.hash_password(puk)


def normalise_puk(typed):
    """What was typed, as the PUK would be printed: upper case, no spaces or dashes."""
    return "".join(c for c in (typed or "").upper() if c not in " -\t")


def verify_puk(puk_hash, typed):
    if not puk_hash:
        passwords.burn_time(typed or "")
        return False
    return passwords.verify_password(puk_hash, normalise_puk(typed))
