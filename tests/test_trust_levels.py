import pytest

from idp.levels import ACR_URI, acr_for, level_of

LOW, SUB, HIGH = (ACR_URI[x] for x in ("low", "substantial", "high"))


# DESIGN.md: the acr of a login is the lower of identity and authentication.
@pytest.mark.parametrize("identity, authentication, acr", [
    ("low", "low", LOW),
    ("low", "substantial", LOW),
    ("low", "high", LOW),
    ("substantial", "low", LOW),
    ("substantial", "substantial", SUB),
    ("substantial", "high", SUB),
    ("high", "low", LOW),
    ("high", "substantial", SUB),
    ("high", "high", HIGH),
])
def test_acr_is_the_lower_of_identity_and_authentication(identity, authentication, acr):
    assert acr_for(identity, authentication) == acr


def test_level_of_knows_only_the_eidas_uris():
    assert level_of("http://eidas.europa.eu/LoA/high") == "high"
    assert level_of("high") is None
    assert level_of("urn:mace:incommon:iap:silver") is None
