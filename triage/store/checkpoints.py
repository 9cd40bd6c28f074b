"""Named sync positions (``bugzilla:last_change_time`` and friends) in the ``checkpoints`` table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from triage.store.tables import Checkpoint


def get_checkpoint(session: Session, name: str) -> dict[str, Any] | None:
    row = session.get(Checkpoint, name)
    return dict(row.value) if row is not None else None


def set_checkpoint(session: Session, name: str, value: dict[str, Any]) -> bool:
    """Store ``value`` under ``name``; returns False (and writes nothing) when it is unchanged."""
    row = session.get(Checkpoint, name)
    if row is not None and row.value == value:
        return False
    now = datetime.now(UTC)
    if row is None:
        session.add(Checkpoint(name=name, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
    return True
