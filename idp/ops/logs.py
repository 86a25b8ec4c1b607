"""Logs and request ids: text or one JSON object per line, each line of a request
carrying its id, which the response returns in ``X-Request-ID``."""

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import datetime, timezone

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it is short and plain (it ends up in logs and headers).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

request_id = contextvars.ContextVar("request_id", default=None)


def new_request_id():
    return secrets.token_hex(16)


def choose_request_id(environ, trust_proxy):
    """The trusted proxy's ``X-Request-ID`` when sane, else a new one."""
    offered = environ.get("HTTP_X_REQUEST_ID", "") if trust_proxy else ""
    return offered if SANE_REQUEST_ID.fullmatch(offered) else new_request_id()


def _stamp_records_with_request_id():
    """Every record gets the id of the request it was made in ("-" outside one),
    whichever handler writes it."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "idp_request_id", False):
        return

    def make_record(*args, **kwargs):
        record = factory(*args, **kwargs)
        record.request_id = request_id.get() or "-"
        return record

    make_record.idp_request_id = True
    logging.setLogRecordFactory(make_record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and for
    audit events their fields (``audit`` in the record's extra)."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
                            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            entry["audit"] = audit
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def emit(self, record):
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level, log_format):
    """Set up the root logger once per process; ``log_format`` is "text" or "json".
    A test runner's own handlers are left as they are."""
    if log_format not in ("text", "json"):
        raise ValueError(f"IDP_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
    _stamp_records_with_request_id()
    root = logging.getLogger()
    mine = [h for h in root.handlers if isinstance(h, _StderrHandler)]
    if root.handlers and not mine:
        return  # configured by someone else (a test runner): as logging.basicConfig did
    root.setLevel(level)
    handler = mine[0] if mine else _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    if not mine:
        root.addHandler(handler)


class RequestMiddleware:
    """The outermost WSGI layer: gives each request its id (in the logs and the
    ``X-Request-ID`` response header) and measures it for the metrics, so that
    what happens after the view (teardown errors included) is counted too."""

    def __init__(self, wsgi_app, trust_proxy, observe, probe_paths=(), own_host=None):
        self.wsgi_app = wsgi_app
        self.trust_proxy = trust_proxy
        self.observe = observe
        self.probe_paths, self.own_host = frozenset(probe_paths), own_host

    def __call__(self, environ, start_response):
        if self.own_host and environ.get("PATH_INFO") in self.probe_paths:
            # Probes name a node by its address; these answers build no URL from
            # the host, so the trusted-host check has nothing to protect there.
            environ["HTTP_HOST"] = self.own_host
            environ.pop("HTTP_X_FORWARDED_HOST", None)
        rid = choose_request_id(environ, self.trust_proxy)
        environ["idp.request_id"] = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        status = ["500"]

        def start(status_line, headers, exc_info=None):
            status[0] = status_line.split(" ", 1)[0]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            self.observe(environ.get("idp.endpoint"), environ.get("REQUEST_METHOD"), status[0],
                         time.perf_counter() - started)
            request_id.reset(token)
