"""Adding a login method from the dashboard: the flow's typed state. Its pages
are in ``dashboard/methods.py``; the method itself prepares and checks."""

from dataclasses import dataclass, field

from .state import FlowState

KIND = "enrol"


@dataclass(kw_only=True)
class Enrolment(FlowState):
    """Adding ``method`` to ``user_id``'s account."""
    KIND = KIND
    TRANSITIONS = {"enrol": set()}  # one page; the flow ends when the method is added
    method: str  # the kind being added
    user_id: int
    scratch: dict = field(default_factory=dict)  # the method's own (flow.scratch)
