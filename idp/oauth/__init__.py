"""Everything OAuth 2.0 / OpenID Connect, built on Authlib's authorization server."""
