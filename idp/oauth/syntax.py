"""The syntax the specifications give to protocol parameters (RFC 6749
Appendix A, RFC 7636 4.1-4.2, OIDC Core 3.1.2.1), checked before Authlib sees
a request: Authlib quotes some values in its error descriptions and refuses to
build one around a character the error syntax forbids, so such input must be
answered here, as a plain ``invalid_request``."""

import re

VSCHAR = r"[\x20-\x7e]"
NQCHAR = r"[\x21\x23-\x5b\x5d-\x7e]"
NAME = r"[A-Za-z0-9_]+"
# RFC 3986 characters (percent-encoded octets included); nothing else is a URI.
URI = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
PKCE = r"[A-Za-z0-9\-._~]+"

PATTERNS = {
    name: re.compile(pattern) for name, pattern in {
        "client_id": VSCHAR + "+",
        "response_type": f"{NAME}( {NAME})*",
        "response_mode": NAME,
        "redirect_uri": URI,
        "scope": f"({NQCHAR}+( {NQCHAR}+)*)?",
        "code_challenge": PKCE,
        "code_challenge_method": PKCE,
        "code_verifier": PKCE,
        "grant_type": URI,
        "code": VSCHAR + "+",
        "refresh_token": VSCHAR + "+",
        "token_type_hint": NAME,
    }.items()
}


def syntax_problem(params):
    """The first parameter (by name) whose value breaks its syntax, or None.
    ``params`` maps names to lists of values."""
    for name in sorted(params):
        pattern = PATTERNS.get(name)
        if pattern is not None and any(not pattern.fullmatch(value or "x")
                                       for value in params[name]):
            return name
    return None


_NOT_DESCRIBABLE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def describable(values, limit=60):
    """Values a stranger sent, fit to quote in an ``error_description`` (RFC
    6749 5.2 allows only some ASCII there; Authlib refuses to build an error
    around anything else, which would be a 500): others become "?", and the
    text is cut short."""
    text = ", ".join(_NOT_DESCRIBABLE.sub("?", str(value)) for value in values)
    return text if len(text) <= limit else text[:limit - 3] + "..."
