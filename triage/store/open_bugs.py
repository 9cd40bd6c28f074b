"""What the triage page reads: bugs in the states that matter to developers, and the trend.

Two queries whatever the number of bugs: the open-for-developers list (triage state joined with
the bug cache), and the dates the weekly trend is counted from. The page's pure model
(:mod:`triage.web.triage_model`) sorts them into the digest's sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.model import TriageState
from triage.store.tables import BugRow, TriageStateRow

# The states the open-for-developers list shows (its sections are in the page model).
LISTED_STATES = (TriageState.OPEN_FOR_DEV, TriageState.CLAIMED, TriageState.NUDGED,
                 TriageState.IN_REVIEW, TriageState.COMPLETE, TriageState.NEEDS_INFO,
                 TriageState.REMINDED)


@dataclass(frozen=True)
class OpenBugRow:
    bug_id: int
    summary: str
    product: str
    component: str
    status: str
    assigned_to: str
    state: str
    since: datetime
    claimed_by: str
    claimed_at: datetime | None
    last_change_time: datetime


@dataclass(frozen=True)
class BugDates:
    """One bug as the weekly trend counts it. ``closed_at``: the cache keeps no resolution
    time, so a closed bug's last change stands for it."""

    created: datetime
    closed_at: datetime | None
    fixed: bool


def open_for_developers(session: Session) -> list[OpenBugRow]:
    query = (
        select(BugRow.id, BugRow.summary, BugRow.product, BugRow.component, BugRow.status,
               BugRow.assigned_to, TriageStateRow.state, TriageStateRow.since,
               TriageStateRow.claimed_by, TriageStateRow.claimed_at, BugRow.last_change_time)
        .join(TriageStateRow, TriageStateRow.bug_id == BugRow.id)
        .where(TriageStateRow.state.in_([s.value for s in LISTED_STATES]),
               BugRow.is_open.is_(True))
        .order_by(TriageStateRow.since, BugRow.id)
    )
    # The UTCDateTime columns already come back as aware UTC datetimes.
    return [OpenBugRow(int(r[0]), r[1] or "", r[2] or "", r[3] or "", r[4] or "", r[5] or "",
                       r[6], r[7], r[8] or "", r[9], r[10])
            for r in session.execute(query)]


def fingerprint(session: Session) -> tuple[object, ...]:
    """Moves whenever a sync or a triage pass changed a bug or a state: the page's cache key."""
    bugs = session.execute(select(func.count(), func.max(BugRow.fetched_at),
                                  func.max(BugRow.last_change_time))).one()
    states = session.execute(select(func.count(), func.max(TriageStateRow.updated_at))).one()
    return (*bugs, *states)


def trend_dates(session: Session, fixed_resolution: str = "FIXED") -> list[BugDates]:
    rows = session.execute(select(BugRow.creation_time, BugRow.last_change_time,
                                  BugRow.is_open, BugRow.resolution))
    return [BugDates(created, None if is_open else changed,
                     (not is_open) and resolution == fixed_resolution)
            for created, changed, is_open, resolution in rows]
