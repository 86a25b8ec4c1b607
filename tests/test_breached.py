"""The list of commonly breached passwords (NIST SP 800-63B 5.1.1.2)."""

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from idp.accounts import breached
from idp.accounts.breached import is_common_password
from idp.accounts.passwords import password_problems


def complexity_problems(password):
    """The other rules' problems, so that only the list can refuse these."""
    return [p for p in password_problems(password) if p != "common"]


# All of these pass the complexity rule; only the list refuses them.
REFUSED = [
    "Password1!", "P@ssw0rd!", "Qwerty123!", "!Qwerty2024", "Geslo123!", "Ljubljana2024!",
    "Ljubljana1!", "Welcome1!", "Summer2024!", "Sum-mer-2024!", "Iloveyou1!", "Letmein!1",
    "Admin123!", "Slovenija1!", "Maribor#2025", "Nogomet10!", "Olimpija1!", "Triglav2864!",
    "Rekono123!", "Ljubezen<3", "Dr@g0n123!", "M0nkey!23", "$Ecret2024", "1Qaz2wsx!",
    "Trustno1!", "Abc123!!", "Football#1", "Princess1!", "Sunshine7!", "Qwertz12!", "Asdfgh1!",
]

ACCEPTED = [
    "Demo-geslo-2026", "Geslo-Test-1", "Korl-Vaza-99!", "Zelena-Miza-Kava-7", "Ab1!xyzq",
    secrets.token_urlsafe(16) + "A1!",
]


@pytest.mark.parametrize("password", REFUSED)
def test_refused(password):
    assert complexity_problems(password) == []
    assert is_common_password(password)


@pytest.mark.parametrize("password", ACCEPTED)
def test_accepted(password):
    assert complexity_problems(password) == []
    assert not is_common_password(password)


def test_short_bases_never_match(monkeypatch):
    monkeypatch.setattr(breached, "_words", lambda: frozenset({"ab", "abc", "wxyz"}))
    assert not is_common_password("Abc12345!")
    assert not is_common_password("Ab1!xyzq")
    assert is_common_password("Wxyz1234!")


def test_list_file():
    lines = (Path(breached.__file__).with_name("common_passwords.txt")
             .read_text(encoding="utf-8").splitlines())
    assert lines[0].startswith("# ") and "this project" in lines[1]
    entries = [line for line in lines if not line.startswith("#")]
    assert entries == sorted(set(entries))
    assert all(e == e.strip().lower() and len(e) >= 4 for e in entries)
    assert 400 <= len(entries) <= 800
    assert {"password", "qwerty", "geslo", "ljubljana", "rekono"} <= breached._words()
    assert not any(e.startswith("#") for e in breached._words())


def test_list_not_read_at_import():
    code = ("import idp.accounts.breached as b; "
            "assert b._words.cache_info().currsize == 0; "
            "b.is_common_password('x'); assert b._words.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])
