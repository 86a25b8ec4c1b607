"""The person's dashboard ("Nadzorna plošča"): their data and trust level,
login methods, password and PUK, sessions, connected services, security
history, and deleting the account. Views are small; the changes themselves are
services in ``account_changes.py``."""
