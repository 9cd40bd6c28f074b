"""Status workflows: which statuses exist, which are open, and which transitions are allowed.

Bugzilla 5.2 ships UNCONFIRMED/CONFIRMED/IN_PROGRESS/RESOLVED/VERIFIED and rejects NEW and
ASSIGNED (404/51); older installations use NEW/ASSIGNED/REOPENED/CLOSED. The workflow is data so
a test can run the same client code against either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class StatusWorkflow:
    """Statuses in display order, their open flag, and the allowed transitions.

    ``initial`` lists the statuses a new bug may take (Bugzilla's transitions from "no status").
    ``confirmed_default`` is what a bug gets when its reporter may confirm bugs; others get
    ``unconfirmed`` when the product allows unconfirmed bugs.
    """

    name: str
    statuses: tuple[str, ...]
    open_statuses: frozenset[str]
    transitions: dict[str, tuple[str, ...]]
    initial: tuple[str, ...]
    confirmed_default: str
    unconfirmed: str = "UNCONFIRMED"
    resolutions: tuple[str, ...] = ("FIXED", "INVALID", "WONTFIX", "DUPLICATE", "WORKSFORME")
    sort_keys: dict[str, int] = field(default_factory=dict)

    def is_open(self, status: str) -> bool:
        return status in self.open_statuses

    def can_change(self, old: str, new: str) -> bool:
        return old == new or new in self.transitions.get(old, ())

    def sort_key(self, status: str) -> int:
        return self.sort_keys.get(status, (self.statuses.index(status) + 1) * 100)


def bugzilla_52_workflow(resolutions: tuple[str, ...] | None = None) -> StatusWorkflow:
    """The default workflow of a fresh Bugzilla 5.2 (as recorded in the contract, 032)."""
    wf = StatusWorkflow(
        name="bugzilla-5.2",
        statuses=("UNCONFIRMED", "CONFIRMED", "IN_PROGRESS", "RESOLVED", "VERIFIED"),
        open_statuses=frozenset({"UNCONFIRMED", "CONFIRMED", "IN_PROGRESS"}),
        transitions={
            "UNCONFIRMED": ("CONFIRMED", "IN_PROGRESS", "RESOLVED"),
            "CONFIRMED": ("IN_PROGRESS", "RESOLVED"),
            "IN_PROGRESS": ("CONFIRMED", "RESOLVED"),
            "RESOLVED": ("UNCONFIRMED", "CONFIRMED", "VERIFIED"),
            "VERIFIED": ("UNCONFIRMED", "CONFIRMED"),
        },
        initial=("UNCONFIRMED", "CONFIRMED", "IN_PROGRESS"),
        confirmed_default="CONFIRMED",
    )
    return replace(wf, resolutions=resolutions) if resolutions else wf


def old_workflow(resolutions: tuple[str, ...] | None = None) -> StatusWorkflow:
    """The pre-5.0 workflow many long-lived installations still run."""
    wf = StatusWorkflow(
        name="old",
        statuses=("UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED", "RESOLVED", "VERIFIED", "CLOSED"),
        open_statuses=frozenset({"UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED"}),
        transitions={
            "UNCONFIRMED": ("NEW", "ASSIGNED", "RESOLVED"),
            "NEW": ("ASSIGNED", "RESOLVED"),
            "ASSIGNED": ("NEW", "RESOLVED"),
            "REOPENED": ("NEW", "ASSIGNED", "RESOLVED"),
            "RESOLVED": ("UNCONFIRMED", "REOPENED", "VERIFIED", "CLOSED"),
            "VERIFIED": ("UNCONFIRMED", "REOPENED", "CLOSED"),
            "CLOSED": ("UNCONFIRMED", "REOPENED"),
        },
        initial=("UNCONFIRMED", "NEW", "ASSIGNED"),
        confirmed_default="NEW",
    )
    return replace(wf, resolutions=resolutions) if resolutions else wf


def workflow_by_name(name: str, resolutions: tuple[str, ...] | None = None) -> StatusWorkflow:
    if name in ("bugzilla-5.2", "5.2", "default"):
        return bugzilla_52_workflow(resolutions)
    if name == "old":
        return old_workflow(resolutions)
    raise ValueError(f"unknown status workflow {name!r} (use 'bugzilla-5.2' or 'old')")
