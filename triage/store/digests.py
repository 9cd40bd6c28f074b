"""What the weekly digest reads from the store, and the ``digests`` table (sent digests, holds).

The digest's inputs are read in a fixed number of queries, whatever the number of bugs
(:func:`load_inputs`): the open bugs, the bugs closed since the trend window began, every triage
state, the newest exclusion decision per excluded bug, the CI failures and the last digest sent.
The model itself is built from them by the pure :mod:`reports.build`.

Rows of ``digests`` are keyed ``<kind>:<ISO week>`` (``mail:2026-W49``, ``wiki:2026-W49``,
``hold:2026-W49``, ``preview:2026-W49``). A mail row is written ``planned`` with the model
*before* the mail goes out and marked ``sent`` after; the model of the last ``sent`` row is what
the next digest diffs against, i.e. what readers actually saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from triage.model import Bug, bug_from_dict, utc
from triage.rules.base import StateRecord
from triage.store.states import _record as state_record
from triage.store.tables import BugRow, CiFailure, DecisionRow, DigestSent, TriageStateRow

PLANNED = "planned"
SENT = "sent"
HELD = "held"
SKIPPED = "skipped"
WRITTEN = "written"


@dataclass(frozen=True)
class Exclusion:
    """Why a bug left the community flow: the newest decision that moved it to ``excluded``.
    ``label`` is the decision's outcome (``corporate`` today; any account class a rule records,
    e.g. ``project``, shows up as its own label without code changes)."""

    bug_id: int
    rule: str
    label: str
    organisation: str


@dataclass(frozen=True)
class CiFailureRecord:
    signature: str
    stage: str
    first_line: str
    cells: tuple[str, ...]
    bug_id: int | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class StoredDigest:
    key: str
    week: str
    status: str
    message_id: str
    model: dict[str, Any]
    sent_at: datetime | None


@dataclass
class DigestInputs:
    """Everything the model needs, as typed values."""

    open_bugs: list[Bug] = field(default_factory=list)
    closed_bugs: list[Bug] = field(default_factory=list)  # closed since the trend window began
    states: dict[int, StateRecord] = field(default_factory=dict)
    exclusions: dict[int, Exclusion] = field(default_factory=dict)
    ci_failures: list[CiFailureRecord] = field(default_factory=list)
    previous: StoredDigest | None = None


def load_inputs(session: Session, *, closed_since: datetime, week: str,
                products: Sequence[str] = ()) -> DigestInputs:
    """The digest's inputs in six queries (the benchmark counts them)."""
    out = DigestInputs()
    product_filter = [BugRow.product.in_(list(products))] if products else []
    for data, is_open in session.execute(
            select(BugRow.data, BugRow.is_open).where(
                BugRow.unavailable_reason == "", *product_filter,
                or_(BugRow.is_open.is_(True), BugRow.last_change_time >= closed_since))):
        bug = bug_from_dict(data)
        (out.open_bugs if is_open else out.closed_bugs).append(bug)
    out.states = {row.bug_id: state_record(row) for row in session.scalars(select(TriageStateRow))}
    newest = (select(func.max(DecisionRow.id)).where(DecisionRow.state == "excluded")
              .group_by(DecisionRow.bug_id))
    for bug_id, rule, outcome, details in session.execute(
            select(DecisionRow.bug_id, DecisionRow.rule, DecisionRow.outcome,
                   DecisionRow.details).where(DecisionRow.id.in_(newest))):
        org = str((details or {}).get("organisation", ""))
        out.exclusions[int(bug_id)] = Exclusion(int(bug_id), rule, outcome, org)
    out.ci_failures = [
        CiFailureRecord(r.signature, r.stage, r.first_line, tuple(str(c) for c in r.cells or ()),
                        r.bug_id, utc(r.first_seen), utc(r.last_seen))
        for r in session.scalars(select(CiFailure).where(CiFailure.state == "failing"))]
    out.previous = last_sent(session, before_week=week)
    return out


def _stored(row: DigestSent) -> StoredDigest:
    return StoredDigest(row.key, row.key.partition(":")[2], row.status, row.message_id or "",
                        dict(row.payload or {}), utc(row.sent_at) if row.sent_at else None)


def last_sent(session: Session, *, before_week: str) -> StoredDigest | None:
    """The newest digest mail actually sent for a week before ``before_week``."""
    row = session.scalars(
        select(DigestSent).where(DigestSent.kind == "mail", DigestSent.status == SENT,
                                 DigestSent.key < f"mail:{before_week}")
        .order_by(DigestSent.key.desc()).limit(1)).first()
    return _stored(row) if row is not None else None


def get(session: Session, kind: str, week: str) -> StoredDigest | None:
    row = session.get(DigestSent, f"{kind}:{week}")
    return _stored(row) if row is not None else None


def record(session: Session, kind: str, week: str, status: str, *, model: dict[str, Any],
           message_id: str = "", now: datetime | None = None) -> None:
    """Insert or update the row ``<kind>:<week>``; ``sent_at`` is set when status is sent."""
    now = now or datetime.now(UTC)
    key = f"{kind}:{week}"
    row = session.get(DigestSent, key)
    if row is None:
        row = DigestSent(key=key, kind=kind, created_at=now)
        session.add(row)
    row.status = status
    row.payload = model
    row.message_id = message_id or row.message_id or ""
    if status in (SENT, WRITTEN):
        row.sent_at = now


def recent(session: Session, limit: int = 20) -> list[StoredDigest]:
    rows = session.scalars(select(DigestSent).order_by(DigestSent.created_at.desc())
                           .limit(limit))
    return [_stored(r) for r in rows]
