"""Endpoints for orchestrators and monitoring: liveness, readiness, metrics.

No cookies, no CSRF, no rate limits, nothing secret in the answers."""

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import text

from ..extensions import db
from . import metrics

bp = Blueprint("ops", __name__)
log = logging.getLogger("idp.ops")

READY_TIMEOUT = 2.0  # seconds a dependency may take to answer a readiness check


@bp.get("/healthz")
def healthz():
    """Alive: the process answers. Dependencies are /readyz's business."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready: the database and Redis (when configured) answer in time; 503 names
    what does not."""
    checks = {"database": _database_check(db.engine)}
    store = current_app.extensions["idp_store"]
    if hasattr(store, "client"):  # Redis; the in-process store cannot be down
        checks["redis"] = store.client.ping
    results = _run_checks(checks)
    down = sorted(name for name, ok in results.items() if not ok)
    body = {"status": "unavailable" if down else "ready", "down": down,
            "checks": {name: "ok" if ok else "down" for name, ok in results.items()}}
    return jsonify(body), 503 if down else 200


def _database_check(engine):
    def check():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    return check


def _run_checks(checks):
    """Run the checks at once, each allowed READY_TIMEOUT; a hanging one counts as down."""
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    futures = {name: pool.submit(check) for name, check in checks.items()}
    results = {}
    for name, future in futures.items():
        try:
            future.result(timeout=READY_TIMEOUT)
            results[name] = True
        except FutureTimeout:
            log.warning("readiness: %s did not answer within %.0f s", name, READY_TIMEOUT)
            results[name] = False
        except Exception as exc:  # any failure means not ready; the reason goes to the log only
            log.warning("readiness: %s is down (%s)", name, type(exc).__name__)
            results[name] = False
    pool.shutdown(wait=False, cancel_futures=True)
    return results


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text format, only for ``Authorization: Bearer $IDP_METRICS_TOKEN``."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)  # metrics are off
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            offered.strip().encode(), str(token).encode()):
        response = jsonify(error="invalid_token",
                           error_description="A valid metrics token is needed.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
