"""Authentication: login sessions, the login page and (later) login methods."""

PASSWORD_AMR = "pwd"
SMS_AMR = "sms"
