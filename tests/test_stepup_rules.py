"""The step-up decisions of idp/stepup.py, as tables (pure: no app, no store)."""

import pytest

from idp.stepup import (ID_KEY_GRACE, kinds_reaching, reaches, strong_enough_for_change,
                        strong_login)

NOW = 1_800_000_000


@pytest.mark.parametrize("strength, required, expected", [
    ("low", "low", True), ("low", "substantial", False), ("low", "high", False),
    ("substantial", "substantial", True), ("substantial", "high", False),
    ("high", "substantial", True), ("high", "high", True),
])
def test_a_login_reaches_a_level_when_it_is_at_least_as_strong(strength, required, expected):
    assert reaches(strength, required) is expected


def test_the_kinds_that_can_lift_a_login_keep_their_order():
    strengths = [("totp", "substantial"), ("passkey", "high"), ("sms", "substantial"),
                 ("certificate", "high")]
    assert kinds_reaching(strengths, "high") == ["passkey", "certificate"]
    assert kinds_reaching(strengths, "substantial") == ["totp", "passkey", "sms", "certificate"]
    assert kinds_reaching([], "substantial") == []


@pytest.mark.parametrize("strength, expected", [
    ("low", False), ("substantial", True), ("high", True)])
def test_a_strong_login_has_a_second_factor(strength, expected):
    assert strong_login(strength) is expected


@pytest.mark.parametrize("trust_level, strength, id_key_at, expected", [
    ("low", "low", None, True),  # an unverified account: a password is enough
    ("substantial", "low", None, False),  # verified: a password alone is not
    ("high", "low", None, False),
    ("substantial", "substantial", None, True),
    ("high", "high", None, True),
    ("substantial", "low", NOW - ID_KEY_GRACE, True),  # an ID key just entered counts
    ("substantial", "low", NOW - ID_KEY_GRACE - 1, False),  # ... for ten minutes only
    ("high", "low", NOW, True),
])
def test_a_sensitive_change_on_a_verified_account_needs_a_strong_login(
        trust_level, strength, id_key_at, expected):
    assert strong_enough_for_change(trust_level, strength, id_key_at, NOW) is expected
