"""People: accounts, passwords and (later) the PUK."""
