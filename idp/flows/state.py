"""Stored flows: the state of a multi-page journey, kept in the short-lived
store (Redis when configured) under a random id, bound to the browser that
started it, with a fixed expiry and an explicit table of allowed steps.

A flow's own data is typed: a ``FlowState`` dataclass names its kind, its
fields and its transition table, and is stored as JSON in the flow's ``data``.
Flows that have no such class yet keep a plain dict there."""

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from flask import current_app

from ..extensions import store
from ..interactions import browser_id
from ..store import get_json, set_json


class StepError(RuntimeError):
    """A transition the flow's table does not allow (a bug, not bad input)."""


_STATES = {}  # kind -> its FlowState class


@dataclass(kw_only=True)
class FlowState:
    """Base of a flow's typed data. A subclass is a ``@dataclass(kw_only=True)``
    that sets ``KIND`` and ``TRANSITIONS`` (step -> the steps it may lead to);
    defining it registers it, so ``load_flow`` rebuilds it from the store."""
    KIND: ClassVar[str]
    TRANSITIONS: ClassVar[dict]
    # Whether the last code went out: None, its channel (failed) or "limited".
    undelivered: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _STATES[cls.KIND] = cls


@dataclass
class StoredFlow:
    kind: str
    id: str
    bid: str
    expires_at: int
    step: str
    iid: str | None = None  # the paused authorization request, if an RP is waiting
    data: dict | FlowState = field(default_factory=dict)

    def seconds_left(self, now=None):
        return max(0, int(self.expires_at - (now or time.time())))

    @property
    def undelivered(self):
        if isinstance(self.data, dict):
            return self.data.get("undelivered")
        return self.data.undelivered

    @undelivered.setter
    def undelivered(self, value):
        if isinstance(self.data, dict):
            self.data["undelivered"] = value
        else:
            self.data.undelivered = value

    @property
    def scratch(self):
        """Where a login method keeps what it needs between pages (a passkey
        challenge, whether the SMS went out): the typed state's ``scratch``,
        or a plain flow's data."""
        return self.data if isinstance(self.data, dict) else self.data.scratch

    def advance(self, step, transitions=None):
        """Move to ``step`` if the table allows it (by default the typed state's)."""
        if transitions is None:
            transitions = type(self.data).TRANSITIONS
        if step not in transitions.get(self.step, ()):
            raise StepError(f"{self.kind}: {self.step} -> {step} is not allowed")
        self.step = step


def _key(kind, fid):
    return f"flow:{kind}:{fid}"


def begin_flow(kind, step, iid=None, state=None, **data):
    """A new flow at ``step``; its data is the typed ``state`` (whose kind must
    be ``kind``) or, for flows without a state class, the keyword arguments."""
    if state is not None and (data or state.KIND != kind):
        raise TypeError(f"{kind}: pass a {kind} state or plain data, not both")
    ttl = current_app.config["FLOW_TTL"]
    flow = StoredFlow(kind=kind, id=secrets.token_urlsafe(24), bid=browser_id(),
                      expires_at=int(time.time()) + ttl, step=step, iid=iid,
                      data=state if state is not None else data)
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
    state = _STATES.get(kind)
    if state is not None:
        try:
            flow.data = state(**flow.data)
        except TypeError:  # stored in another shape (a release ago): start again
            return None
    return flow


def save_flow(flow):
    ttl = flow.seconds_left()
    if ttl > 0:
        set_json(store(), _key(flow.kind, flow.id), asdict(flow), ttl)


def end_flow(flow):
    store().delete(_key(flow.kind, flow.id))
