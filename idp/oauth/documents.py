"""Discovery and the JWKS as prepared bytes.

Both are constant documents that every RP fetches often: a WSGI layer in front
of Flask answers them without a request context, session, locale, CSRF check or
routing, with an ``ETag``, ``Cache-Control`` and ``304 Not Modified`` for a
matching ``If-None-Match``. The discovery document is built once per process
(settings only change with a restart); the JWKS body is the key ring's
(``idp/signing``), which rebuilds it when the ring changes, so a rotation is
published (with a new ``ETag``) as soon as this node's ring has seen it.

Anything unusual (another method, an untrusted Host, a key ring that cannot be
read) goes on to the Flask views, which answer it as they always have."""

import hashlib
import json

from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

from .metadata import discovery_document

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
# As the views always said. A new key signs at once after a rotation; an RP that
# meets its unknown kid fetches the JWKS again (OIDC Core 10.1.1).
DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300
CORS = (("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP"),
        ("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate"))


class Document:
    """A body with its validator and the headers of both answers."""

    __slots__ = ("body", "etag", "headers", "not_modified_headers")

    def __init__(self, body, max_age):
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        common = [("Cache-Control", f"public, max-age={max_age}"), ("ETag", self.etag), *CORS]
        self.headers = [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))), *common]
        self.not_modified_headers = common

    def matches(self, if_none_match):
        """RFC 9110 13.1.2: weak comparison against each listed tag, or ``*``."""
        if not if_none_match:
            return False
        if if_none_match.strip() == "*":
            return True
        return any(tag.strip().removeprefix("W/") == self.etag
                   for tag in if_none_match.split(","))


class ConstantDocuments:
    """The WSGI layer; ``init_app`` puts it around the Flask app's own."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._discovery = None
        self._jwks_source = None
        self._jwks = None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        method = environ.get("REQUEST_METHOD")
        if (path != DISCOVERY_PATH and path != JWKS_PATH) or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        try:
            get_host(environ, self.app.config["TRUSTED_HOSTS"])
            if path == JWKS_PATH:
                document, endpoint = self.jwks(), "oauth.jwks"
            else:
                document, endpoint = self.discovery(), "oauth.discovery"
        except (SecurityError, SQLAlchemyError):
            return self.wsgi_app(environ, start_response)  # Flask's views and error pages
        environ["idp.endpoint"] = endpoint  # the metrics' label, as the view would set
        if document.matches(environ.get("HTTP_IF_NONE_MATCH")):
            start_response("304 Not Modified", list(document.not_modified_headers))
            return []
        start_response("200 OK", list(document.headers))
        return [] if method == "HEAD" else [document.body]

    def discovery(self):
        if self._discovery is None:
            with self.app.app_context():
                body = json.dumps(discovery_document(self.app.config["ISSUER"]))
            self._discovery = Document(body.encode(), DISCOVERY_MAX_AGE)
        return self._discovery

    def jwks(self):
        # The ring asks the database whether it changed at most every
        # IDP_CACHE_SECONDS, and hands back the same string until it did; only
        # that check needs an app context.
        ring = self.app.extensions["idp_keys"]
        source = ring.jwks_json_if_fresh()
        if source is None:
            with self.app.app_context():
                source = ring.jwks_json()
        if source is not self._jwks_source:
            self._jwks = Document(source.encode(), JWKS_MAX_AGE)
            self._jwks_source = source
        return self._jwks


def init_app(app):
    """Serve discovery and the JWKS ahead of Flask (inside the request-id and
    metrics layer of ``idp/ops``, which wraps whatever is here)."""
    app.wsgi_app = ConstantDocuments(app, app.wsgi_app)
