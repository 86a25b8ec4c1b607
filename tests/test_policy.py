"""The authorization policy as a table: each check, and its order."""

import json

import pytest
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import (ConsentRequiredError, InteractionRequiredError,
                                      LoginRequiredError)

from idp.oauth.policy import (Login, Situation, UnmetAuthenticationRequirementsError, decide,
                              parse_max_age, requested_level)

NOW = 1_800_000_000
HIGH = "http://eidas.europa.eu/LoA/high"
SUB = "http://eidas.europa.eu/LoA/substantial"
LOW = "http://eidas.europa.eu/LoA/low"


def login(**kw):
    data = dict(sub="s1", auth_time=NOW - 60, strength="low", trust_level="low")
    data.update(kw)
    return Login(**data)


@pytest.mark.parametrize("situation, action, reason, error", [
    (Situation(NOW, None), "login", "no_session", None),
    (Situation(NOW, None, prompts={"none"}), "error", "no_session", LoginRequiredError),
    (Situation(NOW, login()), "issue", "ok", None),
    (Situation(NOW, login(), prompts={"login"}), "login", "prompt_login", None),
    (Situation(NOW, login(), prompts={"login"}, fresh_login=True), "issue", "ok", None),
    (Situation(NOW, login(), max_age=30), "login", "max_age", None),
    (Situation(NOW, login(), max_age=30, prompts={"none"}), "error", "max_age",
     LoginRequiredError),
    (Situation(NOW, login(), max_age=120), "issue", "ok", None),
    (Situation(NOW, login(), max_age=0, fresh_login=True), "issue", "ok", None),
    (Situation(NOW, login(), hint_sub="other"), "login", "id_token_hint_mismatch", None),
    (Situation(NOW, login(), hint_sub="s1"), "issue", "ok", None),
    # Every level is reachable (a passkey, a branch): without a session, log in first.
    (Situation(NOW, None, required_level="high"), "login", "no_session", None),
    # Identity too weak: show the ways to raise it; authentication too weak: step up.
    (Situation(NOW, login(), required_level="high"), "raise", "identity_too_weak", None),
    (Situation(NOW, login(trust_level="substantial"), required_level="high"),
               "raise", "identity_too_weak", None),
    (Situation(NOW, login(trust_level="high"), required_level="high"),
               "step_up", "authentication_too_weak", None),
    (Situation(NOW, login(trust_level="high", strength="substantial"), required_level="high"),
               "step_up", "authentication_too_weak", None),
    (Situation(NOW, login(trust_level="high"), required_level="substantial"),
               "step_up", "authentication_too_weak", None),
    (Situation(NOW, login(trust_level="substantial", strength="high"),
               required_level="substantial"), "issue", "ok", None),
    # prompt=none cannot ask anything: interaction_required, never a weaker token.
    (Situation(NOW, login(), required_level="high",
               prompts={"none"}), "error", "identity_too_weak", InteractionRequiredError),
    (Situation(NOW, login(trust_level="high"), required_level="high",
               prompts={"none"}), "error", "authentication_too_weak", InteractionRequiredError),
    # The person gave up on the step-up: unmet_authentication_requirements.
    (Situation(NOW, login(trust_level="high"), required_level="high",
               gave_up=True), "error", "gave_up", UnmetAuthenticationRequirementsError),
    # A step-up is checked after max_age: a login too old is redone first.
    (Situation(NOW, login(trust_level="high"), required_level="high",
               max_age=30), "login", "max_age", None),
    (Situation(NOW, login(strength="high", trust_level="high"), required_level="high"),
               "issue", "ok", None),
    (Situation(NOW, login(), required_level="low"), "issue", "ok", None),
    (Situation(NOW, login(), consent_needed=True), "consent", "consent", None),
    (Situation(NOW, login(), consent_needed=True, prompts={"none"}), "error",
     "consent_required", ConsentRequiredError),
    (Situation(NOW, login(), consent_needed=True, consent="granted"), "issue", "ok", None),
    (Situation(NOW, login(), prompts={"consent"}), "consent", "consent", None),
    (Situation(NOW, login(), consent="denied"), "error", "consent_denied", AccessDeniedError),
    (Situation(NOW, None, consent="denied"), "error", "consent_denied", AccessDeniedError),
])
def test_decide(situation, action, reason, error):
    decision = decide(situation)
    assert (decision.action, decision.reason, decision.error) == (action, reason, error)


@pytest.mark.parametrize("acr_values, claims, client_min, expected", [
    (None, None, None, None),
    (LOW, None, None, "low"),
    (f"{HIGH} {SUB}", None, None, "substantial"),  # any listed value is acceptable
    ("urn:unknown", None, None, None),  # voluntary and unknown: ignored
    (None, json.dumps({"id_token": {"acr": {"essential": True, "value": HIGH}}}), None, "high"),
    (None, json.dumps({"id_token": {"acr": {"essential": True, "values": [SUB, HIGH]}}}),
     None, "substantial"),
    (None, json.dumps({"userinfo": {"acr": {"values": ["urn:x", SUB]}}}), None, "substantial"),
    (LOW, None, HIGH, "high"),  # the client's minimum cannot be lowered by the URL
    (HIGH, None, SUB, "high"),
])
def test_requested_level(acr_values, claims, client_min, expected):
    assert requested_level(acr_values, claims, client_min) == expected


def test_essential_acr_with_only_unknown_values_fails():
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:x"]}}})
    with pytest.raises(UnmetAuthenticationRequirementsError):
        requested_level(None, claims, None)


@pytest.mark.parametrize("claims", ["{not json", "[1]", '{"id_token": 5}',
                                    '{"id_token": {"acr": {"values": "x"}}}'])
def test_malformed_claims_parameter_is_invalid_request(claims):
    with pytest.raises(InvalidRequestError):
        requested_level(None, claims, None)


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("0", 0), ("300", 300)])
def test_parse_max_age(value, expected):
    assert parse_max_age(value) == expected


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
def test_bad_max_age_is_invalid_request(value):
    with pytest.raises(InvalidRequestError):
        parse_max_age(value)
