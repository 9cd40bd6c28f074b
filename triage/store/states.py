"""Triage states (``triage_states``): a bug's current place in the process (DESIGN.md §2).

The history of states is not kept here: every committed transition is a stored decision
(:mod:`triage.store.decisions`) with ``state`` set, which ``xentriage explain`` replays.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triage.model import TriageState, utc
from triage.rules.base import StateRecord
from triage.store.chunks import chunked
from triage.store.tables import TriageStateRow


def _record(row: TriageStateRow) -> StateRecord:
    return StateRecord(
        bug_id=row.bug_id, state=TriageState(row.state), since=utc(row.since),
        claimed_by=row.claimed_by or "", claimed_at=utc(row.claimed_at) if row.claimed_at else None,
        organisation=row.organisation or "", fix_reference=row.fix_reference or "",
    )


def get_state(session: Session, bug_id: int) -> StateRecord:
    row = session.get(TriageStateRow, bug_id)
    return _record(row) if row is not None else StateRecord(bug_id)


def get_states(session: Session, ids: Iterable[int]) -> dict[int, StateRecord]:
    """States of many bugs (absent ones are ``new``), in chunks under SQLite's parameter limit."""
    wanted = list(dict.fromkeys(ids))
    out = {i: StateRecord(i) for i in wanted}
    for chunk in chunked(wanted):
        for row in session.scalars(select(TriageStateRow).where(TriageStateRow.bug_id.in_(chunk))):
            out[row.bug_id] = _record(row)
    return out


def save_state(session: Session, record: StateRecord, now: datetime) -> None:
    row = session.get(TriageStateRow, record.bug_id)
    if row is None:
        row = TriageStateRow(bug_id=record.bug_id)
        session.add(row)
    row.state = record.state.value
    row.since = record.since or now
    row.claimed_by = record.claimed_by
    row.claimed_at = record.claimed_at
    row.organisation = record.organisation
    row.fix_reference = record.fix_reference
    row.updated_at = now


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(TriageStateRow.state, func.count())
                           .group_by(TriageStateRow.state))
    return {state: int(n) for state, n in rows}
