"""Trust levels (eIDAS LoA) and the acr computation."""
