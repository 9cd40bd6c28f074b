"""The action ledger's rows (``actions``): one per idempotency key, see :mod:`triage.writes`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.store.chunks import chunked
from triage.store.tables import ActionRow

PLANNED = "planned"
SENT = "sent"
CONFIRMED = "confirmed"
DRY_RUN = "dry-run"
FAILED = "failed"
UNFINISHED = (PLANNED, SENT)


def get_action(session: Session, key: str) -> ActionRow | None:
    return session.get(ActionRow, key)


def record_planned(
    session: Session,
    *,
    key: str,
    bug_id: int | None,
    rule: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    marker: str,
    run_id: int | None = None,
) -> ActionRow:
    """Record (or re-arm a dry-run / failed row as) ``planned``, before anything is sent."""
    now = datetime.now(UTC)
    row = session.get(ActionRow, key)
    if row is None:
        row = ActionRow(key=key, created_at=now, result={}, error="")
        session.add(row)
    row.run_id = run_id
    row.bug_id = bug_id
    row.rule = rule
    row.kind = kind
    row.target = target
    row.status = PLANNED
    row.payload = payload
    row.marker = marker
    row.sent_at = None
    row.confirmed_at = None
    return row


@dataclass(frozen=True)
class ActionDraft:
    """One action as the ledger records it before anything is sent."""

    key: str
    bug_id: int | None
    rule: str
    kind: str
    target: str
    payload: dict[str, Any]
    marker: str


def record_dry_run(session: Session, draft: ActionDraft, *, run_id: int | None = None) -> None:
    """A dry run's plan for one action (see :func:`record_dry_runs`)."""
    record_dry_runs(session, [draft], run_id=run_id)


def record_dry_runs(session: Session, drafts: Sequence[ActionDraft], *,
                    run_id: int | None = None, now: datetime | None = None) -> None:
    """A dry run's plan as ``dry-run`` rows, in the caller's transaction with the existing rows
    read in bulk (a 4,000-change plan in one go). It never overwrites a real (planned, sent,
    confirmed or failed) action: a dry run never touches what production did."""
    now = now or datetime.now(UTC)
    with session.no_autoflush:
        existing: dict[str, ActionRow] = {}
        for chunk in chunked([d.key for d in drafts]):
            for found in session.scalars(select(ActionRow).where(ActionRow.key.in_(chunk))):
                existing[found.key] = found
        for d in drafts:
            row = existing.get(d.key)
            if row is not None and row.status != DRY_RUN:
                continue
            if row is None:
                row = ActionRow(key=d.key, created_at=now, result={}, error="")
                session.add(row)
                existing[d.key] = row
            row.run_id, row.bug_id, row.rule, row.kind = run_id, d.bug_id, d.rule, d.kind
            row.target, row.status, row.payload, row.marker = (d.target, DRY_RUN, d.payload,
                                                               d.marker)
            row.sent_at = row.confirmed_at = None


def applied_keys(session: Session, bug_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The keys of the actions sent or confirmed on each of ``bug_ids`` (what rules must not plan
    again)."""
    out: dict[int, set[str]] = {}
    for chunk in chunked(bug_ids):
        for bug_id, key in session.execute(select(ActionRow.bug_id, ActionRow.key).where(
                ActionRow.bug_id.in_(chunk), ActionRow.status.in_([SENT, CONFIRMED]))):
            out.setdefault(int(bug_id), set()).add(key)
    return {k: frozenset(v) for k, v in out.items()}


def mark_sent(session: Session, key: str, result: dict[str, Any]) -> None:
    row = _row(session, key)
    row.status = SENT
    row.sent_at = datetime.now(UTC)
    row.result = result
    row.error = ""


def mark_confirmed(session: Session, key: str, result: dict[str, Any] | None = None) -> None:
    row = _row(session, key)
    now = datetime.now(UTC)
    row.status = CONFIRMED
    row.sent_at = row.sent_at or now
    row.confirmed_at = now
    if result is not None:
        row.result = result


def mark_failed(session: Session, key: str, error: str, result: dict[str, Any] | None = None
                ) -> None:
    row = _row(session, key)
    row.status = FAILED
    row.error = error
    if result is not None:
        row.result = result


def unfinished(session: Session, *, target: str | None = None) -> Sequence[ActionRow]:
    """Actions a crash left between recording and confirmation."""
    query = select(ActionRow).where(ActionRow.status.in_(UNFINISHED)).order_by(
        ActionRow.created_at
    )
    if target:
        query = query.where(ActionRow.target == target)
    return list(session.scalars(query))


def list_actions(session: Session, *, bug_id: int | None = None, status: str | None = None,
                 limit: int = 100) -> Sequence[ActionRow]:
    query = select(ActionRow).order_by(ActionRow.created_at.desc())
    if bug_id is not None:
        query = query.where(ActionRow.bug_id == bug_id)
    if status:
        query = query.where(ActionRow.status == status)
    return list(session.scalars(query.limit(limit)))


def _row(session: Session, key: str) -> ActionRow:
    row = session.get(ActionRow, key)
    if row is None:
        raise KeyError(f"no action recorded under key {key!r}")
    return row
