"""Outgoing e-mail and SMS, against a real SMTP server and a real HTTP gateway."""

import logging
import re
import time

import pytest
from jinja2 import UndefinedError

from idp import create_app
from idp.delivery import (DeliveryError, mask_email, mask_phone, render_sms, resolve_language,
                          send_email, send_sms)
from sinks import SmsSink, SmtpSink, free_port

EMAIL = "ana.novak@example.si"
PHONE = "+38641123456"
CODE = "482913"
TOKEN = "gw-token-s3cret"
SMTP_PASSWORD = "smtp-pa55word"


@pytest.fixture(scope="module")
def smtp_sink():
    sink = SmtpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def sms_sink():
    sink = SmsSink()
    yield sink
    sink.stop()


@pytest.fixture
def app(tmp_path, monkeypatch, smtp_sink, sms_sink):
    """A bare app (no tables needed) pointed at both sinks."""
    monkeypatch.setenv("IDP_INSTANCE_PATH", str(tmp_path / "instance"))
    smtp_sink.clear()
    sms_sink.clear()
    app = create_app({
        "DATABASE_URL": f"sqlite:///{tmp_path}/idp.sqlite3", "KEYS_DIR": str(tmp_path / "keys"),
        "SECRET_KEY": "test-delivery", "TESTING": True,
        "SMTP_HOST": smtp_sink.host, "SMTP_PORT": smtp_sink.port,
        "SMTP_SENDER": "Rekono <no-reply@rekono.test>",
        "SMS_GATEWAY_URL": sms_sink.url, "SMS_GATEWAY_TOKEN": TOKEN,
    })
    with app.app_context():
        yield app


def body_of(message):
    return message.get_body(("plain",)).get_content()


def test_confirmation_code_arrives_by_email(app, smtp_sink):
    send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)

    [message] = smtp_sink.to(EMAIL)
    assert message["From"].addresses[0].addr_spec == "no-reply@rekono.test"
    assert message["Subject"] == "Your Rekono confirmation code"
    assert message["Date"] and message["Message-ID"].endswith("@rekono.test>")
    assert message.get_content_charset() == "utf-8"
    assert "15" in body_of(message)
    assert CODE not in message["Subject"]  # not on a lock screen's preview
    assert smtp_sink.last_code(EMAIL) == CODE


def test_email_speaks_the_language_asked_for(app, smtp_sink):
    send_email(EMAIL, "registration_code", lang="sl", code=CODE, minutes=15)
    send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)

    slovenian, english = smtp_sink.to(EMAIL)
    assert "confirmation code" in english["Subject"]
    assert slovenian["Subject"] != english["Subject"], \
        "no Slovenian translation of the message templates in messages.po"
    assert "confirmation" not in body_of(slovenian)
    assert CODE in body_of(slovenian) and CODE in body_of(english)


@pytest.mark.parametrize("kind, context, expected", [
    ("registration_attempt", {"login_url": "https://id.test/login",
                              "recover_url": "https://id.test/recover"},
     ["https://id.test/login", "https://id.test/recover", "PUK", "safe"]),
    ("password_reset", {"when": "24. 11. 2026 20:47"}, ["24. 11. 2026 20:47", "PUK", "branch"]),
])
def test_notices_carry_their_details_and_no_code(app, smtp_sink, kind, context, expected):
    send_email(EMAIL, kind, lang="en", **context)

    [message] = smtp_sink.to(EMAIL)
    body = body_of(message)
    for text in expected:
        assert text in body
    assert not re.search(r"\b\d{6}\b", body)


def test_missing_context_is_an_error_not_a_blank(app, smtp_sink):
    with pytest.raises(UndefinedError, match="code"):
        send_email(EMAIL, "registration_code", lang="en", minutes=15)
    assert smtp_sink.messages == []


def test_smtp_login_is_used_when_configured(app):
    sink = SmtpSink(credentials=("idp", SMTP_PASSWORD))
    try:
        app.config.update(SMTP_PORT=sink.port, SMTP_USERNAME="idp", SMTP_PASSWORD=SMTP_PASSWORD)
        send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)
        assert sink.logins == ["idp"]
        assert sink.last_code(EMAIL) == CODE

        app.config["SMTP_PASSWORD"] = "wrong-" + SMTP_PASSWORD
        with pytest.raises(DeliveryError) as failure:
            send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)
        assert "SMTPAuthenticationError" in str(failure.value)
        assert SMTP_PASSWORD not in str(failure.value)
    finally:
        sink.stop()


def test_one_time_password_arrives_by_sms(app, sms_sink):
    send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)

    [message] = sms_sink.to(PHONE)
    assert set(message) == {"to", "text", "authorization"}
    assert message["authorization"] == f"Bearer {TOKEN}"
    assert "one-time password" in message["text"] and "5" in message["text"]
    assert sms_sink.last_code(PHONE) == CODE


def test_no_token_no_authorization_header(app, sms_sink):
    app.config["SMS_GATEWAY_TOKEN"] = None
    send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)
    assert sms_sink.to(PHONE)[0]["authorization"] is None


@pytest.mark.parametrize("lang", ["sl", "en"])
def test_sms_fits_in_one_message(app, lang):
    text = render_sms("one_time_password", lang, code=CODE, minutes=10)
    assert CODE in text and "\n" not in text
    assert len(text) < 160


def test_smtp_down_is_a_delivery_error(app, caplog):
    app.config["SMTP_PORT"] = free_port()  # nobody listens there
    with pytest.raises(DeliveryError) as failure:
        send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)

    assert failure.value.channel == "email"
    [record] = [r for r in caplog.records if r.name == "idp.delivery"]
    assert record.levelno == logging.WARNING
    assert "registration_code" in record.getMessage() and "a***@example.si" in record.getMessage()
    assert "ConnectionRefusedError" in record.getMessage()
    assert CODE not in record.getMessage() and EMAIL not in record.getMessage()


def test_smtp_refusal_is_a_delivery_error_without_the_address(app, smtp_sink, caplog):
    smtp_sink.refuse = True
    with pytest.raises(DeliveryError) as failure:
        send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)

    assert failure.value.channel == "email"
    assert smtp_sink.messages == []
    assert "550" in str(failure.value)
    assert EMAIL not in caplog.text and EMAIL not in str(failure.value)


def test_gateway_error_is_a_delivery_error(app, sms_sink, caplog):
    sms_sink.mode = "error"
    with pytest.raises(DeliveryError) as failure:
        send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)

    assert failure.value.channel == "sms"
    assert "500" in str(failure.value)
    assert "+38641***456" in caplog.text
    assert CODE not in caplog.text and TOKEN not in caplog.text


def test_slow_gateway_is_a_delivery_error(app, sms_sink):
    app.config["SMS_TIMEOUT"] = 0.3
    sms_sink.mode, sms_sink.delay = "slow", 1
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failure:
        send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)

    assert failure.value.channel == "sms"
    assert time.monotonic() - started < 0.9


def test_gateway_unreachable_is_a_delivery_error(app):
    app.config["SMS_GATEWAY_URL"] = f"http://127.0.0.1:{free_port()}/sms"
    with pytest.raises(DeliveryError):
        send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)


def test_without_smtp_the_email_is_logged(app, smtp_sink, caplog):
    app.config["SMTP_HOST"] = None
    send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)

    assert smtp_sink.messages == []
    [record] = [r for r in caplog.records if r.name == "idp.delivery"]
    assert record.levelno == logging.WARNING
    assert EMAIL in record.getMessage() and CODE in record.getMessage()
    assert "Subject: Your Rekono confirmation code" in record.getMessage()


def test_without_gateway_the_sms_is_logged(app, sms_sink, caplog):
    app.config["SMS_GATEWAY_URL"] = None
    send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)

    assert sms_sink.messages == []
    [record] = [r for r in caplog.records if r.name == "idp.delivery"]
    assert record.levelno == logging.WARNING
    assert PHONE in record.getMessage() and CODE in record.getMessage()


def test_sent_messages_are_logged_without_code_or_secrets(app, caplog):
    app.config.update(SMTP_PASSWORD=SMTP_PASSWORD)  # configured, though no username
    with caplog.at_level(logging.INFO, logger="idp.delivery"):
        send_email(EMAIL, "registration_code", lang="en", code=CODE, minutes=15)
        send_sms(PHONE, "one_time_password", lang="en", code=CODE, minutes=5)

    lines = [r.getMessage() for r in caplog.records if r.name == "idp.delivery"]
    assert lines == ["sent registration_code e-mail to a***@example.si",
                     "sent one_time_password SMS to +38641***456"]
    for secret in (CODE, TOKEN, SMTP_PASSWORD, EMAIL, PHONE):
        assert secret not in caplog.text


def test_language_defaults_to_the_request_then_slovenian(app):
    assert resolve_language() == "sl"  # no request: Slovenian
    assert resolve_language("en") == "en"
    assert resolve_language("de") == "sl"
    with app.test_request_context("/", headers={"Accept-Language": "en-GB,en;q=0.8"}):
        assert resolve_language() == "en"
        assert resolve_language("sl") == "sl"
    # A fresh app context, as a real request has: the locale is cached on ``g``.
    with app.app_context(), app.test_request_context("/?lang=sl",
                                                     headers={"Accept-Language": "en"}):
        assert resolve_language() == "sl"


@pytest.mark.parametrize("mask, value, masked", [
    (mask_email, "ana.novak@example.si", "a***@example.si"),
    (mask_email, "a@example.si", "a***@example.si"),
    (mask_email, "not-an-address", "***"),
    (mask_phone, "+38641123456", "+38641***456"),
    (mask_phone, "041123", "04***"),
    (mask_phone, "112", "***"),
])
def test_recipients_are_masked(mask, value, masked):
    assert mask(value) == masked
