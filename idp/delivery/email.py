"""SMTP: one connection per message (messages are few; no pooled connection to go stale)."""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

# smtplib's errors are OSErrors too; named both so the intent is plain.
ERRORS = (OSError, smtplib.SMTPException)


def build_message(sender, to, subject, body):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    # The sender's domain, not getfqdn(), which may block on DNS.
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
    # Quoted-printable survives servers without 8BITMIME (č, š, ž).
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return msg


def send(config, to, subject, body):
    msg = build_message(config["SMTP_SENDER"], to, subject, body)
    timeout = float(config["SMTP_TIMEOUT"])
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout) as conn:
        if config["SMTP_STARTTLS"]:
            conn.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            conn.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        conn.send_message(msg)
