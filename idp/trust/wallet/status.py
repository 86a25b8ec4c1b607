"""Token Status Lists (draft-ietf-oauth-status-list): whether a PID has been
revoked or suspended by its provider.

The list is a JWT (``typ`` ``statuslist+jwt``) signed under the same trust
anchors as the PIDs, holding a zlib-compressed array of ``bits``-wide values.
A verified list is kept in the shared store for its ``ttl`` (bounded by its
``exp``); one that cannot be fetched or trusted makes the PID unacceptable."""

import base64
import logging
import zlib
from urllib.parse import urlsplit

import requests

from ...config import is_loopback
from ...store import get_json, set_json
from .pid import PidRefused, StatusUnavailable, b64url_decode, verify_signed_by_chain

log = logging.getLogger(__name__)

STATUS_LIST_TYP = "statuslist+jwt"
DEFAULT_TTL = 300  # seconds, when the list does not say
MAX_TTL = 24 * 3600
MAX_LIST_BYTES = 1024 * 1024


def read_status(lst, bits, idx):
    """The value at ``idx`` of a decompressed status list."""
    per_byte = 8 // bits
    byte = idx // per_byte
    if byte >= len(lst):
        raise StatusUnavailable("the index is outside the list")
    return (lst[byte] >> ((idx % per_byte) * bits)) & ((1 << bits) - 1)


class StatusLists:
    """``status_of(uri, idx, now)`` for ``verify_pid``, fetching over HTTP with
    ``timeout`` and caching in ``store``."""

    def __init__(self, anchors, store, timeout, session=None):
        self.anchors, self.store, self.timeout = anchors, store, timeout
        self.http = session or requests

    def __call__(self, uri, idx, now):
        cached = get_json(self.store, "wallet:status:" + uri)
        if cached is None:
            cached = self._fetch(uri, now)
        return read_status(zlib.decompress(b64url_decode(cached["lst"])), cached["bits"], idx)

    def _fetch(self, uri, now):
        parts = urlsplit(uri)
        if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname
                                            and is_loopback(parts.hostname))):
            raise StatusUnavailable("the status list is not at an https URL")
        try:
            answer = self.http.get(uri, timeout=self.timeout, allow_redirects=False,
                                   headers={"Accept": "application/statuslist+jwt"})
        except requests.RequestException as exc:
            raise StatusUnavailable(f"fetching the status list: {exc}") from None
        if answer.status_code != 200 or len(answer.content) > MAX_LIST_BYTES:
            raise StatusUnavailable(f"the status list answered {answer.status_code}")
        try:
            _header, payload, _chain = verify_signed_by_chain(
                answer.text.strip(), self.anchors, now, STATUS_LIST_TYP)
        except PidRefused as exc:
            raise StatusUnavailable(f"the status list is not trusted: {exc}") from None
        moment = int(now.timestamp())
        status_list = payload.get("status_list")
        exp, ttl = payload.get("exp"), payload.get("ttl", DEFAULT_TTL)
        if payload.get("sub") != uri:
            raise StatusUnavailable("the status list is for another URI")
        if not isinstance(status_list, dict) or status_list.get("bits") not in (1, 2, 4, 8) \
                or not isinstance(status_list.get("lst"), str):
            raise StatusUnavailable("a malformed status list")
        if exp is not None and (not isinstance(exp, (int, float)) or exp <= moment):
            raise StatusUnavailable("the status list has expired")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
            ttl = DEFAULT_TTL
        try:
            zlib.decompress(b64url_decode(status_list["lst"]))
        except (ValueError, zlib.error):
            raise StatusUnavailable("an unreadable status list") from None
        kept = {"bits": status_list["bits"], "lst": status_list["lst"]}
        keep_for = min(ttl, MAX_TTL, (exp - moment) if exp is not None else MAX_TTL)
        set_json(self.store, "wallet:status:" + uri, kept, keep_for)
        log.info("status list %s read, kept %ss", uri, int(keep_for))
        return kept


def encode_status_list(values, bits=1):
    """A status list's ``lst`` for ``values`` (tests and the development provider)."""
    per_byte = 8 // bits
    raw = bytearray((len(values) + per_byte - 1) // per_byte)
    for i, value in enumerate(values):
        raw[i // per_byte] |= value << ((i % per_byte) * bits)
    return base64.urlsafe_b64encode(zlib.compress(bytes(raw), 9)).rstrip(b"=").decode()

