"""The journeys a person walks through step by step, each kept as a stored,
browser-bound flow: logging in (`login.py`, then `factor.py`: the second step,
a login by one method alone, step-up, re-authentication), registration,
password recovery with the PUK, and the dashboard's contact change and deletion
(`contact.py`)."""
