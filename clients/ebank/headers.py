"""What a bank's pages send with every answer: no framing by other sites
(clickjacking of the payment page), no leaking of URLs in the Referer, a strict
content policy, and nothing personal kept in caches."""

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self' {idp}; "
       "frame-ancestors 'none'")


def init_app(app):
    secure = app.config["URL"].startswith("https://")
    if secure:
        app.config["SESSION_COOKIE_SECURE"] = True

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy",
                               CSP.format(idp=app.config["ISSUER"].rstrip("/")))
            headers.setdefault("Cache-Control", "no-store")
        if secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
