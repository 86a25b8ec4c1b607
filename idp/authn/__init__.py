"""Authentication: login sessions (`sessions.py`), the session API every page
uses (`current.py`) and the login methods (`methods/`). The journeys that use
them (the login page, the second step, step-up, re-authentication) are in
`flows/` (`login.py`, `factor.py`)."""

PASSWORD_AMR = "pwd"
SMS_AMR = "sms"
