"""Helpers shared by the tests (import them from here, not from conftest)."""

import os
import re
import secrets
from urllib.parse import parse_qs, urlsplit

PASSWORD = "Geslo-Test-1"
# Debian's Chromium, never a downloaded one; without the background-networking
# flags it tries hosts this machine cannot reach.
CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
T0 = 1_800_000_000  # where the ``clock`` fixture sets the TOTP clock: tests never sleep


def csrf_token(html):
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def query_of(location):
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce_pair():
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)
