"""Operating the IdP: health and metrics endpoints, request ids and logs, the server."""

import re
from urllib.parse import urlsplit

from flask import request
from werkzeug.exceptions import HTTPException

from . import metrics
from .logs import RequestMiddleware

PROBE_PATHS = ("/healthz", "/readyz", "/metrics")
# OAuth error codes are short lower-case words; anything else is not a label.
OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")


def init_app(app):
    """Register /healthz, /readyz and /metrics and measure every request."""
    from ..extensions import csrf
    from . import views

    app.register_blueprint(views.bp)
    csrf.exempt(views.bp)
    app.wsgi_app = RequestMiddleware(
        app.wsgi_app, trust_proxy=int(app.config["TRUSTED_PROXIES"]) > 0,
        observe=metrics.observe_request, probe_paths=PROBE_PATHS,
        own_host=urlsplit(app.config["ISSUER"]).netloc)

    @app.before_request
    def name_endpoint():
        request.environ["idp.endpoint"] = request.endpoint

    @app.after_request
    def count_token_grant(response):
        # Here rather than in Authlib's hooks: a 503 from a database that is gone
        # never reaches those, and it is a grant that failed all the same.
        if request.endpoint == "oauth.token":
            try:
                grant_type = request.form.get("grant_type")
            except HTTPException:  # a body too large (413) or unreadable: no grant type
                grant_type = None
            metrics.token_grant(grant_type, _grant_outcome(response))
        return response


def _grant_outcome(response):
    if response.status_code == 200:
        return "issued"
    error = (response.get_json(silent=True) or {}).get("error") if response.is_json else None
    return error if isinstance(error, str) and OAUTH_ERROR.fullmatch(error) else "error"
