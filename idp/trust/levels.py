"""The levels moved to ``idp/levels.py`` (below accounts, which needs them);
these names stay importable from here while other code still uses this path."""

from ..levels import (ACR_URI, ACR_VALUES_SUPPORTED, HIGH, LEVEL_OF_ACR, LEVELS, LOW, RANK,
                      SUBSTANTIAL, acr_for, level_of, lower)

__all__ = ["ACR_URI", "ACR_VALUES_SUPPORTED", "HIGH", "LEVEL_OF_ACR", "LEVELS", "LOW", "RANK",
           "SUBSTANTIAL", "acr_for", "level_of", "lower"]
