"""Password hashing (argon2id at OWASP's parameters) and the password rule."""

import string

from .breached import is_common_password

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified against when the e-mail is unknown, so both cases take as long.
_DUMMY_HASH = hasher.hash("not-a-real-password")

MIN_LENGTH = 8
SPECIALS = set(string.punctuation + " ")


def hash_password(password):
    return hasher.hash(password)


def verify_password(password_hash, password):
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time(password):
    """Spend one verification's time, for unknown accounts."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash):
    return hasher.check_needs_rehash(password_hash)


def password_problems(password, repeat=None):
    """The rules a password breaks, as stable codes (empty list: acceptable).

    At least 8 characters with a lower-case letter, an upper-case letter, a
    digit and a special character, and not one of the commonly breached
    passwords; when ``repeat`` is given, both equal."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append("length")
    if not any(c.islower() for c in password):
        problems.append("lower")
    if not any(c.isupper() for c in password):
        problems.append("upper")
    if not any(c.isdigit() for c in password):
        problems.append("digit")
    if not any(c in SPECIALS or not c.isalnum() for c in password):
        problems.append("special")
    if not problems and is_common_password(password):
        problems.append("common")
    if repeat is not None and repeat != password:
        problems.append("mismatch")
    return problems
