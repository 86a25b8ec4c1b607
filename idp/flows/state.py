"""Stored flows: the state of a multi-page journey, kept in the short-lived
store (Redis when configured) under a random id, bound to the browser that
started it, with a fixed expiry and an explicit table of allowed steps."""

import secrets
import time
from dataclasses import asdict, dataclass, field

from flask import current_app

from ..extensions import store
from ..interactions import browser_id
from ..store import get_json, set_json


class StepError(RuntimeError):
    """A transition the flow's table does not allow (a bug, not bad input)."""


@dataclass
class StoredFlow:
    kind: str
    id: str
    bid: str
    expires_at: int
    step: str
    iid: str | None = None  # the paused authorization request, if an RP is waiting
    data: dict = field(default_factory=dict)

    def seconds_left(self, now=None):
        return max(0, int(self.expires_at - (now or time.time())))

    def advance(self, step, transitions):
        if step not in transitions.get(self.step, ()):
            raise StepError(f"{self.kind}: {self.step} -> {step} is not allowed")
        self.step = step


def _key(kind, fid):
    return f"flow:{kind}:{fid}"


def begin_flow(kind, step, iid=None, **data):
    ttl = current_app.config["FLOW_TTL"]
    flow = StoredFlow(kind=kind, id=secrets.token_urlsafe(24), bid=browser_id(),
                      expires_at=int(time.time()) + ttl, step=step, iid=iid, data=data)
    save_flow(flow)
    return flow


def load_flow(kind, fid):
    """The flow if it exists, has not expired and belongs to this browser."""
    if not fid or len(fid) > 64:
        return None
    raw = get_json(store(), _key(kind, fid))
    if raw is None:
        return None
    flow = StoredFlow(**raw)
    if flow.seconds_left() <= 0 or not secrets.compare_digest(flow.bid, browser_id()):
        return None
    return flow


def save_flow(flow):
    ttl = flow.seconds_left()
    if ttl > 0:
        set_json(store(), _key(flow.kind, flow.id), asdict(flow), ttl)


def end_flow(flow):
    store().delete(_key(flow.kind, flow.id))
