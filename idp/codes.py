"""One-time confirmation codes sent by e-mail or SMS inside a flow.

A code is 6 digits, stored only as an HMAC under the app's secret key, valid
for ``CONFIRMATION_CODE_TTL`` seconds, allows ``CONFIRMATION_CODE_TRIES`` wrong
guesses (counted atomically in the store), and is consumed by the first right
guess. Sending is limited per address or number and per client IP.

Below both the flows and the login methods (the SMS method sends its codes
here too); the messages of a code check and of a send are the methods' and
pages' words, kept here once."""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from flask import current_app, request

from . import ratelimits
from .delivery import DeliveryError, send_email, send_sms
from .i18n import lazy_gettext as _l
from .extensions import store
from .store import get_json, set_json

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


def check_code(flow, channel, typed, consume=True):
    """Check a typed code; a right one is consumed (only one caller can win).

    With ``consume=False`` a right code stays until the caller has done the
    work it guards and calls ``consume_code``: if the work fails (a database
    outage), the person can use the same code again."""
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
    return consume_code(flow, channel) if consume else CodeCheck(OK)


def consume_code(flow, channel):
    """Spend the code of this flow and channel; MISSING when a parallel request
    spent it first."""
    key = _key(flow, channel)
    if store().pop(key) is None:
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
    """Whether another code may go to each address or number and from this
    client IP within the hourly limits (a check to show the person early;
    ``send_code`` reserves the send itself, atomically)."""
    return not (ratelimits.exhausted(ratelimits.SENDS_PER_TARGET, *_target_keys(targets))
                or ratelimits.exhausted(ratelimits.SENDS_PER_IP, ratelimits.ip_key(ip)))


def reserve_send(ip, *targets):
    """Count a send before it goes out, atomically, so that parallel requests
    cannot pass the limits together; False (nothing counted) when over."""
    if not ratelimits.reserve(ratelimits.SENDS_PER_TARGET, *_target_keys(targets)):
        return False
    if not ratelimits.reserve(ratelimits.SENDS_PER_IP, ratelimits.ip_key(ip)):
        ratelimits.release(ratelimits.SENDS_PER_TARGET, *_target_keys(targets))
        return False
    return True


def release_send(ip, *targets):
    """Give back a send that did not go out: an outage costs the person nothing."""
    ratelimits.release(ratelimits.SENDS_PER_TARGET, *_target_keys(targets))
    ratelimits.release(ratelimits.SENDS_PER_IP, ratelimits.ip_key(ip))


def _target_keys(targets):
    # Callers pass normalised addresses (normalise_email) and E.164 numbers.
    return [ratelimits.identifier_key(target) for target in targets]


CODE_MESSAGES = {
    WRONG: _l("The code is not correct. Check it and try again."),
    EXPIRED: _l("The code has expired. Ask for a new one."),
    EXHAUSTED: _l("Too many wrong attempts. Ask for a new code."),
    MISSING: _l("This code is no longer valid. Ask for a new one."),
}
SEND_FAILED = {
    "email": _l("We could not send the e-mail. Please try again in a moment."),
    "sms": _l("We could not send the SMS. Please try again in a moment."),
}
TOO_MANY_SENDS = _l("Too many codes have been requested. Try again in an hour.")


def send_code(flow, channel, target, kind=None, lang=None, **context):
    """Issue a code for ``channel`` and deliver it; ``flow.undelivered`` says
    whether it failed. ``kind`` replaces the usual message (the notice to
    the owner of an address that is already registered gets no code)."""
    if not reserve_send(request.remote_addr, target):
        discard_code(flow, channel)
        flow.undelivered = "limited"
        return False
    try:
        code = issue_code(flow, channel)
        minutes = current_app.config["CONFIRMATION_CODE_TTL"] // 60
        if channel == "email":
            send_email(target, kind or "registration_code", lang=lang, code=code,
                       minutes=minutes, **context)
        else:
            send_sms(target, kind or "one_time_password", lang=lang, code=code,
                     minutes=minutes, **context)
    except DeliveryError:
        release_send(request.remote_addr, target)
        discard_code(flow, channel)  # no cool-down for a code nobody got
        flow.undelivered = channel
        return False
    except Exception:  # the store went away before anything was sent
        release_send(request.remote_addr, target)
        raise
    flow.undelivered = None
    return True


def send_code_limited(flow, channel, target, kind=None, lang=None, **context):
    """``send_code`` within the per-number and per-IP limits (first sends)."""
    if not allow_send(request.remote_addr, target):
        discard_code(flow, channel)
        flow.undelivered = "limited"
        return False
    return send_code(flow, channel, target, kind=kind, lang=lang, **context)


def undelivered_message(flow, channel):
    """What the code page says when the last code did not go out."""
    state = flow.undelivered
    if state == "limited":
        return TOO_MANY_SENDS
    return SEND_FAILED[channel] if state == channel else None


def resend_refusal(flow, channel, *targets):
    """Why a code may not be sent again now (a message), or None."""
    wait = resend_wait(flow, channel)
    if wait:
        return _l("You can ask for a new code in %(seconds)s seconds.", seconds=wait)
    if not allow_send(request.remote_addr, *targets):
        return TOO_MANY_SENDS
    return None
