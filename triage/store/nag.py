"""The nag ledger's rows (``nag_ledger``): one per bot action towards a person about a bug."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from triage.model import utc
from triage.nag import LedgerEntry
from triage.store.tables import NagEntry


def entries_since(session: Session, since: datetime) -> list[LedgerEntry]:
    """Every entry at or after ``since`` (the cooldown window): one query for a whole pass."""
    rows = session.scalars(select(NagEntry).where(NagEntry.at >= since).order_by(NagEntry.at))
    return [LedgerEntry(r.bug_id, r.person, r.rule, r.action_key, utc(r.at)) for r in rows]


def entries_for_bug(session: Session, bug_id: int) -> list[LedgerEntry]:
    rows = session.scalars(select(NagEntry).where(NagEntry.bug_id == bug_id)
                           .order_by(NagEntry.at))
    return [LedgerEntry(r.bug_id, r.person, r.rule, r.action_key, utc(r.at)) for r in rows]


def record(session: Session, entries: Iterable[LedgerEntry]) -> int:
    n = 0
    for e in entries:
        session.add(NagEntry(bug_id=e.bug_id, person=e.person.lower(), rule=e.rule,
                             action_key=e.action_key, at=e.at))
        n += 1
    return n


def prune(session: Session, before: datetime) -> int:
    """Drop entries older than any cooldown can look back (keeps the table small)."""
    result = session.execute(delete(NagEntry).where(NagEntry.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
