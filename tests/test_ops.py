"""Health, readiness and metrics endpoints, request ids and JSON logs (idp/ops)."""

import json
import logging

import pytest
from prometheus_client import REGISTRY

from helpers import PASSWORD
from people import Person
from sinks import free_port
from idp import create_app
from idp.ops import logs

TOKEN = "metrics-token-0123456789"


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def log_in(client, email, password=PASSWORD):
    return Person(client, email, password).login()


def test_healthz_answers_without_cookies_or_checks(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("path, status", [("/healthz", 200), ("/readyz", 200), ("/login", 400)])
def test_probes_answer_whatever_host_they_name_the_node_by(client, path, status):
    assert client.get(path, headers={"Host": "10.0.0.7:5000"}).status_code == status
    # Without a trusted proxy X-Forwarded-Host is ignored everywhere.
    assert client.get(path, headers={"Host": "localhost",
                                     "X-Forwarded-Host": "evil.example"}).status_code == 200


def test_healthz_needs_neither_database_nor_redis(backend):
    dead_db = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    broken = create_app({**backend, "DATABASE_URL": dead_db, "REDIS_URL": dead_redis,
                         "RATELIMIT_STORAGE_URI": dead_redis})
    response = broken.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_names_the_dependencies_that_answer(app, client, backend):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = {"database": "ok", "redis": "ok"} if backend["BACKEND"] == "postgres" else \
        {"database": "ok"}
    assert response.get_json() == {"status": "ready", "down": [], "checks": checks}
    assert "Set-Cookie" not in response.headers


def test_readyz_is_503_naming_redis_when_it_is_down(backend):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    broken = create_app({**backend, "REDIS_URL": dead, "RATELIMIT_STORAGE_URI": "memory://"})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "down": ["redis"],
                                   "checks": {"database": "ok", "redis": "down"}}
    assert dead not in response.get_data(as_text=True)


def test_readyz_is_503_naming_the_database_when_it_is_down(backend):
    dead = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/nowhere"
    broken = create_app({**backend, "DATABASE_URL": dead, "REDIS_URL": None,
                         "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}}})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "down": ["database"],
                                   "checks": {"database": "down"}}
    assert "secret" not in response.get_data(as_text=True)


def test_metrics_are_404_when_no_token_is_set(client):
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic " + TOKEN, "Bearer",
                                    "Bearer " + TOKEN + "x"])
def test_metrics_need_the_token(app, client, header):
    app.config["METRICS_TOKEN"] = TOKEN
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.get_json()["error"] == "invalid_token"


def test_metrics_in_prometheus_text_format(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    client.get("/healthz")
    response = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True)
    assert 'idp_http_requests_total{endpoint="ops.healthz",method="GET",status="200"}' in text
    assert 'idp_http_request_duration_seconds_bucket{endpoint="ops.healthz",le="0.005"}' in text


def test_http_requests_are_counted_by_endpoint_and_status(client):
    before = value("idp_http_requests_total", endpoint="unmatched", method="GET", status="404")
    timed = value("idp_http_request_duration_seconds_count", endpoint="unmatched")
    client.get("/no-such-page")
    assert value("idp_http_requests_total", endpoint="unmatched", method="GET",
                 status="404") == before + 1
    assert value("idp_http_request_duration_seconds_count", endpoint="unmatched") == timed + 1


def test_logins_failures_and_lockouts_are_counted(app, client, ana):
    success = value("idp_logins_total", method="pwd", outcome="success")
    failure = value("idp_logins_total", method="password", outcome="failure")
    lockouts = value("idp_lockouts_total")
    assert log_in(client, "ana@example.si").status_code == 302
    assert value("idp_logins_total", method="pwd", outcome="success") == success + 1
    other = app.test_client()
    tries = app.config["LOGIN_MAX_FAILURES"]
    statuses = [log_in(other, "ana@example.si", "wrong-password").status_code
                for _ in range(tries)]
    assert statuses == [400] * (tries - 1) + [429]
    assert value("idp_logins_total", method="password",
                 outcome="failure") == failure + tries
    assert value("idp_lockouts_total") == lockouts + 1


def test_step_ups_are_counted(app, ana):
    from idp.authn.sessions import start_session, step_up_session

    before = value("idp_step_ups_total")
    login = start_session(ana, ["pwd"], "low")
    step_up_session(login, ["pwd", "otp", "mfa"], "substantial")
    assert value("idp_step_ups_total") == before + 1


def test_trust_level_changes_are_counted_by_level(app, ana, smtp_sink):
    from datetime import date

    from idp.trust import service as trust

    before = value("idp_trust_level_changes_total", level="substantial")
    trust.raise_trust_level(ana, "substantial",
                            trust.Person("Ana", "Novak", date(1990, 5, 17), None), "branch",
                            {"document": "passport"})
    assert value("idp_trust_level_changes_total", level="substantial") == before + 1


def test_token_grants_are_counted_by_type_and_outcome(app, client, make_client):
    confidential, secret = make_client(grant_types=["client_credentials"], scope="openid")
    issued = value("idp_token_grants_total", grant_type="client_credentials", outcome="issued")
    refused = value("idp_token_grants_total", grant_type="client_credentials",
                    outcome="invalid_client")
    odd = value("idp_token_grants_total", grant_type="other", outcome="unsupported_grant_type")
    ok = client.post("/token", data={"grant_type": "client_credentials"},
                     auth=(confidential.client_id, secret))
    assert ok.status_code == 200
    wrong = client.post("/token", data={"grant_type": "client_credentials"},
                        auth=(confidential.client_id, "wrong"))
    assert wrong.status_code == 401
    client.post("/token", data={"grant_type": "made-up"}, auth=(confidential.client_id, secret))
    assert value("idp_token_grants_total", grant_type="client_credentials",
                 outcome="issued") == issued + 1
    assert value("idp_token_grants_total", grant_type="client_credentials",
                 outcome="invalid_client") == refused + 1
    assert value("idp_token_grants_total", grant_type="other",
                 outcome="unsupported_grant_type") == odd + 1


def test_codes_sent_are_counted_by_channel_and_outcome(app, smtp_sink):
    from idp.delivery import DeliveryError, send_email

    sent = value("idp_codes_sent_total", channel="email", outcome="sent")
    failed = value("idp_codes_sent_total", channel="email", outcome="failed")
    send_email("ana@example.si", "registration_code", lang="sl", code="123456", minutes=10)
    smtp_sink.refuse = True
    with pytest.raises(DeliveryError):
        send_email("ana@example.si", "registration_code", lang="sl", code="123456", minutes=10)
    assert value("idp_codes_sent_total", channel="email", outcome="sent") == sent + 1
    assert value("idp_codes_sent_total", channel="email", outcome="failed") == failed + 1


def test_a_request_id_from_an_untrusted_client_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "from-the-client"})
    assert response.headers["X-Request-ID"] != "from-the-client"


@pytest.mark.parametrize("offered, kept", [("abc-123.def", True), ("x" * 128, True),
                                           ("x" * 129, False), ("two words", False),
                                           ("a\u0161b", False), ("", False)])
def test_a_trusted_proxys_request_id_is_kept_when_sane(backend, offered, kept):
    proxied = create_app({**backend, "TRUSTED_PROXIES": 1})
    response = proxied.test_client().get("/healthz", headers={"X-Request-ID": offered})
    returned = response.headers["X-Request-ID"]
    assert (returned == offered) is kept
    assert response.headers.getlist("X-Request-ID") == [returned]


def test_json_log_lines_carry_the_request_id_and_audit_fields():
    record = logging.LogRecord("idp.audit", logging.INFO, __file__, 1, "audit %s", ("x",), None)
    record.audit = {"event": "login_succeeded", "user_id": 7, "actor": None, "ip": "192.0.2.1",
                    "details": {"amr": ["pwd"]}}
    record.request_id = "req-1"
    line = json.loads(logs.JsonFormatter().format(record))
    assert set(line) == {"time", "level", "logger", "message", "request_id", "audit"}
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == \
        ("INFO", "idp.audit", "audit x", "req-1")
    assert line["audit"]["event"] == "login_succeeded" and line["audit"]["user_id"] == 7
    assert line["time"].endswith("Z")


def test_audit_events_log_their_fields_and_the_request_id(app, client, ana, caplog):
    caplog.set_level(logging.INFO, logger="idp.audit")
    response = log_in(client, "ana@example.si")
    records = [r for r in caplog.records if getattr(r, "audit", {}).get("event")
               == "login_succeeded"]
    assert len(records) == 1
    assert records[0].audit["user_id"] == ana.id
    assert json.loads(logs.JsonFormatter().format(records[0]))["request_id"] == \
        response.headers["X-Request-ID"]


def test_an_unknown_log_format_is_refused(backend):
    with pytest.raises(ValueError, match="IDP_LOG_FORMAT"):
        create_app({**backend, "LOG_FORMAT": "xml"})
