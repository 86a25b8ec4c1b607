"""Response hardening shared by every page: security headers and caching."""

from flask import current_app, request, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import BuildError
from flask_babel import format_datetime, get_locale

# Machine endpoints: no cookies, so no session to open or sign.
STATELESS_PATHS = frozenset({"/token", "/userinfo", "/introspect", "/revoke", "/jwks.json",
                             "/.well-known/openid-configuration",
                             "/healthz", "/readyz", "/metrics"})  # idp/ops


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path in STATELESS_PATHS:
            return self.null_session_class()
        return super().open_session(app, request)


def issuer_url(endpoint, **values):
    """An absolute URL of one of our pages, built from ``IDP_ISSUER``, never
    from the request's Host or X-Forwarded-Host (links in e-mails and SMS)."""
    path = url_for(endpoint, **values)
    root = request.script_root if request else ""
    if root and path.startswith(root):
        path = path[len(root):]
    return current_app.config["ISSUER"] + path


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def init_app(app):
    secure = app.config["ISSUER"].startswith("https://")
    app.session_interface = SessionInterface()
    # Times are stored as naive UTC and shown in the person's language and zone.
    app.jinja_env.filters["datetime"] = lambda value: format_datetime(value, "short")
    app.jinja_env.filters["device"] = describe_device

    @app.context_processor
    def language_switch():
        def language_url(lang):
            view_args = request.view_args or {}
            args = {k: v for k, v in request.args.items()
                    if k != "lang" and k not in view_args and not k.startswith("_")}
            try:
                return url_for(request.endpoint, **view_args, **args, lang=lang)
            except (BuildError, TypeError, ValueError):  # unknown page, odd parameters
                return "?lang=" + lang
        return {"language_url": language_url, "get_locale": get_locale}

    @app.after_request
    def security_headers(response):
        if request.path in STATELESS_PATHS:
            return response  # JSON only; Authlib already sets Cache-Control on tokens
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", CSP)
            headers.setdefault("X-Frame-Options", "DENY")
            # Pages with forms and personal data are never cached.
            headers.setdefault("Cache-Control", "no-store")
        if secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            headers.add("Vary", "Cookie")
        return response


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def describe_device(user_agent):
    """"Firefox, Windows" from a User-Agent header: enough to recognise a device."""
    ua = user_agent or ""
    browser = next((name for token, name in BROWSERS if token in ua), None)
    system = next((name for token, name in SYSTEMS if token in ua), None)
    return ", ".join(p for p in (browser, system) if p) or (ua[:60] or "?")
