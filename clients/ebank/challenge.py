"""``WWW-Authenticate`` challenges (RFC 9110 section 11.6.1): building the
Bearer ones the payment API sends (RFC 6750, RFC 9470) and reading them back
in the e-bank's pages.

The reader is lenient, as a client must be: several challenges in one header,
parameter names in any case, quoted strings with backslash escapes, token68
credentials, empty list elements. When the text stops making sense it keeps
what it has read so far rather than fail."""

import re
from dataclasses import dataclass, field

INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_OWS = re.compile(r"[ \t\r\n]*")  # a folded line (obs-fold) is read as spaces
_SCHEME = re.compile(_TOKEN)
_PARAM_NAME = re.compile(rf"({_TOKEN})[ \t\r\n]*=[ \t\r\n]*")
_PARAM_TOKEN = re.compile(_TOKEN)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_TOKEN68 = re.compile(r"([A-Za-z0-9\-._~+/]+=*)[ \t\r\n]*(?=,|$)")
_SEPARATORS = " \t\r\n,"
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class Challenge:
    scheme: str  # lower case: schemes are case-insensitive
    params: dict = field(default_factory=dict)  # names lower case, values unescaped
    token68: str | None = None


def format_challenge(scheme, params):
    """One challenge, every value a quoted string (as RFC 6750 and RFC 9470 show them)."""
    parts = []
    for name, value in params.items():
        value = str(value)
        if _UNSAFE.search(value):
            raise ValueError(f"control character in the {name} of a challenge")
        parts.append('{}="{}"'.format(name, value.replace("\\", "\\\\").replace('"', '\\"')))
    return scheme + (" " + ", ".join(parts) if parts else "")


def parse_www_authenticate(value):
    """The challenges in a ``WWW-Authenticate`` header value, in order."""
    challenges, pos, end = [], 0, len(value or "")
    while pos < end:
        pos = _skip_separators(value, pos)
        scheme = _SCHEME.match(value, pos)
        if not scheme:
            break  # not a challenge: keep what was read
        challenge = Challenge(scheme.group().lower())
        challenges.append(challenge)
        pos = scheme.end()
        if pos < end and value[pos] not in _SEPARATORS:
            break  # e.g. 'Bearer"x"'
        pos = _OWS.match(value, pos).end()
        if not _PARAM_NAME.match(value, pos):
            token68 = _TOKEN68.match(value, pos)
            if token68:
                challenge.token68 = token68.group(1)
                pos = token68.end()
            continue
        pos = _read_params(value, pos, challenge.params)
        if pos is None:
            break
    return challenges


def _skip_separators(value, pos):
    while pos < len(value) and value[pos] in _SEPARATORS:
        pos += 1
    return pos


def _read_params(value, pos, params):
    """Read ``name=value`` pairs into ``params``; the position after them, or
    None when the header is malformed from there on."""
    while True:
        name = _PARAM_NAME.match(value, pos)
        if not name:
            return pos  # the next challenge, or the end
        pos = name.end()
        quoted = _QUOTED.match(value, pos)
        if quoted:
            text, pos = _QUOTED_PAIR.sub(r"\1", quoted.group(1)), quoted.end()
        else:
            token = _PARAM_TOKEN.match(value, pos)
            if not token:
                return None  # an empty value or an unterminated quoted string
            text, pos = token.group(), token.end()
        pos = _OWS.match(value, pos).end()
        if pos < len(value) and value[pos] != ",":
            return None  # e.g. an unquoted URI: its value is not to be trusted
        params.setdefault(name.group(1).lower(), text)  # a repeated name: the first counts
        pos = _skip_separators(value, pos)


def step_up_request(header_value):
    """What a Bearer or DPoP ``insufficient_user_authentication`` challenge asks for
    (RFC 9470 section 3): ``{"acr_values": ..., "max_age": ...}`` with the keys
    it carries, or None when the header holds no such challenge. A ``max_age``
    that is not a non-negative integer is ignored."""
    for challenge in parse_www_authenticate(header_value):
        if challenge.scheme not in ("bearer", "dpop"):
            continue
        if challenge.params.get("error") != INSUFFICIENT_USER_AUTHENTICATION:
            continue
        wanted = {}
        acr_values = " ".join(challenge.params.get("acr_values", "").split())
        if acr_values:
            wanted["acr_values"] = acr_values
        max_age = challenge.params.get("max_age", "").strip()
        if max_age.isascii() and max_age.isdigit():
            wanted["max_age"] = str(int(max_age))
        return wanted
    return None


def bearer_error(header_value):
    """The ``error`` of the first Bearer or DPoP challenge, or None."""
    for challenge in parse_www_authenticate(header_value):
        if challenge.scheme in ("bearer", "dpop"):
            return challenge.params.get("error")
    return None
