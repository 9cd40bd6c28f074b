"""The mail tables' bulk writes: one chunk of an ingest, a few statements whatever its size.

``mail_messages`` rows go in by one executemany without ``RETURNING``: SQLAlchemy can keep the
returned ids in parameter order on SQLite only by running one INSERT per row (no sentinel
column), which made the ids cost more than the rows. The chunk's Message-IDs are unique (the
ingester drops repeats before it writes), so one ``IN`` query per slice of the chunk maps them
back to their ids for the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from triage.store.chunks import chunked
from triage.store.tables import MailEventRow, MailMessage

_MESSAGES: Table = MailMessage.__table__  # type: ignore[assignment]
_EVENTS: Table = MailEventRow.__table__  # type: ignore[assignment]


def insert_messages(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``mail_messages`` rows (distinct, new Message-IDs); their ids, in row order."""
    if not rows:
        return []
    session.execute(insert(_MESSAGES), list(rows))
    wanted = [row["message_id"] for row in rows]
    ids: dict[str, int] = {}
    for part in chunked(wanted):
        found = session.execute(select(_MESSAGES.c.message_id, _MESSAGES.c.id)
                                .where(_MESSAGES.c.message_id.in_(part)))
        ids.update((message_id, row_id) for message_id, row_id in found)
    return [ids[message_id] for message_id in wanted]


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``mail_events`` rows (``message_id`` is the ``mail_messages`` row id)."""
    if rows:
        session.execute(insert(_EVENTS), list(rows))
