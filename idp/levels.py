"""Levels of assurance and the one function that turns them into ``acr``
(the shared vocabulary: accounts, login methods, the OAuth policy and trust use it).

Two things are tracked separately: the account's identity level (how well we
know who the person is) and the strength of this login. The ``acr`` of an ID
token is the lower of the two, as an eIDAS LoA URI.
"""

LOW, SUBSTANTIAL, HIGH = "low", "substantial", "high"
LEVELS = (LOW, SUBSTANTIAL, HIGH)
RANK = {level: i for i, level in enumerate(LEVELS)}

ACR_URI = {level: f"http://eidas.europa.eu/LoA/{level}" for level in LEVELS}
LEVEL_OF_ACR = {uri: level for level, uri in ACR_URI.items()}
ACR_VALUES_SUPPORTED = [ACR_URI[level] for level in LEVELS]


def lower(a, b):
    return a if RANK[a] <= RANK[b] else b


def acr_for(identity_level, authentication_strength):
    """The ``acr`` URI of a login: the lower of identity and authentication."""
    return ACR_URI[lower(identity_level, authentication_strength)]


def level_of(acr):
    """The level named by an ``acr`` URI, or None when we do not know it."""
    return LEVEL_OF_ACR.get(acr)
