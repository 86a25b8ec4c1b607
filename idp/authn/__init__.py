"""Authentication: login sessions, the login page, login methods (`methods/`),
the second step of a login and re-authentication (`factors.py`)."""

PASSWORD_AMR = "pwd"
SMS_AMR = "sms"
