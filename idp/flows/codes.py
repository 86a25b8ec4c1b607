"""One-time confirmation codes sent by e-mail or SMS inside a flow.

A code is 6 digits, stored only as an HMAC under the app's secret key, valid
for ``CONFIRMATION_CODE_TTL`` seconds, allows ``CONFIRMATION_CODE_TRIES`` wrong
guesses (counted atomically in the store), and is consumed by the first right
guess. Sending is limited per address or number and per client IP."""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from flask import current_app

from ..extensions import store
from ..store import get_json, set_json

OK, WRONG, EXPIRED, EXHAUSTED, MISSING = "ok", "wrong", "expired", "exhausted", "missing"


def now():
    return time.time()


@dataclass
class CodeCheck:
    status: str
    tries_left: int = 0

    @property
    def ok(self):
        return self.status == OK


def _key(flow, channel):
    return f"code:{flow.kind}:{flow.id}:{channel}"


def _digest(flow, channel, code):
    secret = current_app.config["SECRET_KEY"].encode()
    message = f"{flow.id}:{channel}:{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def issue_code(flow, channel):
    """A new code for this flow and channel (replacing any earlier one)."""
    cfg = current_app.config
    code = f"{secrets.randbelow(10**6):06d}"
    record = {"digest": _digest(flow, channel, code), "sent_at": now(),
              "expires": now() + cfg["CONFIRMATION_CODE_TTL"]}
    store().delete(_key(flow, channel) + ":tries")
    set_json(store(), _key(flow, channel), record, max(1, flow.seconds_left()))
    return code


def discard_code(flow, channel):
    store().delete(_key(flow, channel), _key(flow, channel) + ":tries")


def judge(record, tries_used, max_tries, at):
    """The pure part of a check: what a guess amounts to before comparing digits."""
    if record is None:
        return MISSING
    if at >= record["expires"]:
        return EXPIRED
    if tries_used > max_tries:
        return EXHAUSTED
    return None


def check_code(flow, channel, typed):
    """Check a typed code; a right one is consumed (only one caller can win)."""
    cfg = current_app.config
    key = _key(flow, channel)
    record = get_json(store(), key)
    used = 0
    if record is not None and now() < record["expires"]:
        used = store().incr(key + ":tries", max(1, flow.seconds_left()))
    verdict = judge(record, used, cfg["CONFIRMATION_CODE_TRIES"], now())
    if verdict is not None:
        return CodeCheck(verdict)
    if not hmac.compare_digest(record["digest"], _digest(flow, channel, typed.strip())):
        return CodeCheck(WRONG, tries_left=cfg["CONFIRMATION_CODE_TRIES"] - used)
    if store().pop(key) is None:  # a parallel request consumed it first
        return CodeCheck(MISSING)
    store().delete(key + ":tries")
    return CodeCheck(OK)


def resend_wait(flow, channel):
    """Seconds until another code may be sent on this channel (0: now)."""
    record = get_json(store(), _key(flow, channel))
    if record is None:
        return 0
    return max(0, int(record["sent_at"] + current_app.config["RESEND_COOLDOWN"] - now() + 0.999))


def allow_send(ip, *targets):
    """Count a send against each address/number and the client IP; False when
    any of them is over its hourly limit (the limits live in Redis when set)."""
    cfg = current_app.config
    allowed = True
    for target in targets:
        digest = hashlib.sha256(target.encode()).hexdigest()
        if store().incr("sends:" + digest, 3600) > cfg["SENDS_PER_ADDRESS_PER_HOUR"]:
            allowed = False
    if store().incr(f"sends-ip:{ip}", 3600) > cfg["SENDS_PER_IP_PER_HOUR"]:
        allowed = False
    return allowed
