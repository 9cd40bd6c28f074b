"""What the triage page reads: bugs in the states that matter to developers, and the trend.

Two queries whatever the number of bugs: the open-for-developers list (triage state joined with
the bug cache), and the dates the weekly trend is counted from. The page's pure model
(:mod:`triage.web.triage_model`) sorts them into the digest's sections.

Dates are read as epoch seconds computed by the database: decoding 50,000 datetime values
through the ``UTCDateTime`` column type was most of the page's first render.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from triage.model import TriageState, parse_bz_time, utc
from triage.store.digests import DigestQuery, projection_sql
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
    """One bug as the weekly trend counts it. ``closed_at``: when its history last shows a
    closing status (the digest's closing time), else its last change."""

    created: datetime
    closed_at: datetime | None
    fixed: bool


def _epoch(session: Session, column: Any) -> tuple[Any, Callable[[Any], datetime]]:
    """``column`` as the database's epoch seconds, and how to turn a (non-NULL) value back
    into an aware UTC datetime (C-level ``fromtimestamp``, not the column type's per-value
    processing)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":  # stored as ISO text, UTC (UTCDateTime)
        expr: Any = (func.julianday(column) - 2440587.5) * 86400.0
    elif dialect == "postgresql":
        expr = cast(func.extract("epoch", column), Float)
    else:  # another database: its own datetime values, normalised
        return column, utc
    return expr, lambda v: datetime.fromtimestamp(v, UTC)


def open_for_developers(session: Session) -> list[OpenBugRow]:
    since, as_dt = _epoch(session, TriageStateRow.since)
    claimed_at, _ = _epoch(session, TriageStateRow.claimed_at)
    changed, _ = _epoch(session, BugRow.last_change_time)
    query = (
        select(BugRow.id, BugRow.summary, BugRow.product, BugRow.component, BugRow.status,
               BugRow.assigned_to, TriageStateRow.state, since, TriageStateRow.claimed_by,
               claimed_at, changed)
        .join(TriageStateRow, TriageStateRow.bug_id == BugRow.id)
        .where(TriageStateRow.state.in_([s.value for s in LISTED_STATES]),
               BugRow.is_open.is_(True))
        .order_by(TriageStateRow.since, BugRow.id)
    )
    return [OpenBugRow(int(bug_id), summary or "", product or "", component or "", status or "",
                       assigned or "", state, as_dt(since_v), claimer or "",
                       None if claim_v is None else as_dt(claim_v), as_dt(changed_v))
            for bug_id, summary, product, component, status, assigned, state, since_v,
            claimer, claim_v, changed_v in session.connection().execute(query)]


def fingerprint(session: Session) -> tuple[object, ...]:
    """Moves whenever a sync or a triage pass changed a bug or a state: the page's cache key."""
    bugs = session.execute(select(func.count(), func.max(BugRow.fetched_at),
                                  func.max(BugRow.last_change_time))).one()
    states = session.execute(select(func.count(), func.max(TriageStateRow.updated_at))).one()
    return (*bugs, *states)


def trend_dates(session: Session, since: datetime, fixed_resolution: str = "FIXED",
                closed_statuses: Sequence[str] = ("RESOLVED", "VERIFIED")) -> list[BugDates]:
    """Every bug's creation and closing time, one query. A bug closed and changed since
    ``since`` (the trend's first week) gets its closing time from its stored history, with the
    weekly digest's own expression (:func:`triage.store.digests.projection_sql`); a bug last
    changed before then was closed before then too, and its last change is enough."""
    created, as_dt = _epoch(session, BugRow.creation_time)
    changed, _ = _epoch(session, BugRow.last_change_time)
    closed_sql = projection_sql(session.get_bind().dialect.name, DigestQuery(
        closed_since=since, week_start=since, week="",
        closed_statuses=tuple(closed_statuses), fixed_resolution=fixed_resolution))[2]
    history_closed = case((and_(BugRow.is_open.is_(False), BugRow.last_change_time >= since),
                           literal_column(closed_sql)), else_=None)
    out = []
    # Through the connection: Core rows, without the ORM result layer (20,000 rows a page).
    for created_v, changed_v, is_open, resolution, closed in session.connection().execute(
            select(created, changed, BugRow.is_open, BugRow.resolution, history_closed)):
        closed_at = None
        if not is_open:
            closed_at = (parse_bz_time(closed) if closed else None) or as_dt(changed_v)
        out.append(BugDates(as_dt(created_v), closed_at,
                            (not is_open) and resolution == fixed_resolution))
    return out
