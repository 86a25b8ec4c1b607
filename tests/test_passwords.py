import pytest
from argon2 import PasswordHasher

from idp.accounts import passwords


@pytest.mark.parametrize("password, repeat, problems", [
    ("Geslo-Test-1", None, []),
    ("Ge-1", None, ["length"]),
    ("GESLO-TEST-1", None, ["lower"]),
    ("geslo-test-1", None, ["upper"]),
    ("Geslo-Test-x", None, ["digit"]),
    ("GesloTest12", None, ["special"]),
    ("Geslo-Test-1", "Geslo-Test-2", ["mismatch"]),
    ("", None, ["length", "lower", "upper", "digit", "special"]),
])
def test_password_rule(password, repeat, problems):
    assert passwords.password_problems(password, repeat) == problems


def test_hash_is_argon2id_with_owasp_parameters():
    hashed = passwords.hash_password("Geslo-Test-1")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(hashed, "Geslo-Test-1")
    assert not passwords.verify_password(hashed, "Geslo-Test-2")
    assert not passwords.verify_password("not a hash", "Geslo-Test-1")


def test_old_parameters_need_a_rehash():
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("Geslo-Test-1")
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("Geslo-Test-1"))
