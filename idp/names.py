"""People's names as evidence spells them: whether two spellings name the same
person. Used by the certificate login and by every way to raise a trust level."""

import re
import unicodedata


# Letters NFKD leaves alone but embossers spell in ASCII.
_LATIN = str.maketrans({"đ": "d", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "þ": "th",
                        "ı": "i"})


def _name_parts(name):
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_LATIN)
    # Cards drop apostrophes and dots ("OBRIEN") and print hyphens as spaces.
    text = re.sub(r"['’.]", "", text)
    text = re.sub(r"[-‐,]", " ", text)
    return sorted(text.split())


def names_match(a, b):
    """Whether two spellings name the same person: case, accents, extra spaces and
    the order of given and family names do not matter ("NOVAK ANA" is "Ana Novak")."""
    parts = _name_parts(a)
    return bool(parts) and parts == _name_parts(b)


def names_differ(user, given_name, family_name):
    """Whether the account already carries a name that is not this one
    (remote evidence must be the account holder's own)."""
    return bool(user.given_name) and not names_match(
        f"{user.given_name} {user.family_name or ''}", f"{given_name} {family_name}")
