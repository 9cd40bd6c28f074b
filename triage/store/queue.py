"""The triage queue: "the rules should look at this bug soon", from mail, sync or commands.

Rows are upserted, not duplicated: re-queueing a bug moves its ``queued_at`` forward, so a change
that arrives while a triage run is working is not lost when that run clears what it handled
(the engine deletes only entries queued before it started).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from triage.store.chunks import chunked
from triage.store.tables import TriageQueueEntry


def upsert_rows(session: Session, table: Table, rows: list[dict[str, Any]], key: str,
                update_cols: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE, in one statement, on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        session.execute(pg.on_conflict_do_update(
            index_elements=[key], set_={c: pg.excluded[c] for c in update_cols}), rows)
    elif dialect == "sqlite":
        lite = sqlite.insert(table)
        session.execute(lite.on_conflict_do_update(
            index_elements=[key], set_={c: lite.excluded[c] for c in update_cols}), rows)
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL only
        raise NotImplementedError(dialect)


def enqueue(session: Session, reasons: Mapping[int, str], now: datetime) -> None:
    """Queue bugs for the rules (``{bug_id: why}``), in the caller's transaction."""
    upsert_rows(session, TriageQueueEntry.__table__,  # type: ignore[arg-type]
                [{"bug_id": b, "reason": r, "queued_at": now} for b, r in reasons.items()],
                "bug_id", ["reason", "queued_at"])


def queued_bug_ids(session: Session) -> list[int]:
    """The queue, oldest entry first."""
    return [int(b) for b in session.scalars(select(TriageQueueEntry.bug_id)
                                            .order_by(TriageQueueEntry.queued_at))]


def dequeue(session: Session, bug_ids: Sequence[int], *, queued_before: datetime) -> None:
    """Drop the entries of ``bug_ids`` queued at or before ``queued_before``: an entry queued
    while the run was working stays for the next one."""
    for chunk in chunked(bug_ids):
        session.execute(delete(TriageQueueEntry).where(TriageQueueEntry.bug_id.in_(chunk),
                                                       TriageQueueEntry.queued_at
                                                       <= queued_before))
