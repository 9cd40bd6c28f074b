"""Runs (``runs``) and decisions (``decisions``): what the rules concluded, per run, for explain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from triage.model import Decision, to_jsonable, utc
from triage.store.chunks import chunked
from triage.store.tables import DecisionRow, Run


def start_run(session: Session, kind: str, *, production: bool, now: datetime) -> int:
    run = Run(kind=kind, started_at=now, production=production, outcome="running", summary={})
    session.add(run)
    session.flush()
    return int(run.id)


def finish_run(session: Session, run_id: int, outcome: str, summary: dict[str, Any],
               now: datetime) -> None:
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run {run_id}")
    run.outcome = outcome
    run.summary = summary
    run.finished_at = now


@dataclass(frozen=True)
class StoredDecision:
    id: int
    run_id: int | None
    bug_id: int
    rule: str
    outcome: str
    reason: str
    state: str
    details: dict[str, Any]
    created_at: datetime
    production: bool  # the run's mode
    # True when the decision's state transition was committed (not only planned in a dry run).
    state_committed: bool


def save_decisions(session: Session, run_id: int | None,
                   decisions: Iterable[tuple[Decision, bool]], now: datetime) -> int:
    """``(decision, state_committed)`` pairs, in one multi-row insert."""
    rows = [
        {"run_id": run_id, "bug_id": d.bug_id, "rule": d.rule, "outcome": d.outcome,
         "reason": d.reason, "state": d.state.value if d.state else "",
         "details": {**to_jsonable(dict(d.details)), "state_committed": committed},
         "created_at": now}
        for d, committed in decisions
    ]
    if rows:
        session.execute(insert(DecisionRow), rows)
    return len(rows)


def decisions_for_bug(session: Session, bug_id: int, *, limit: int | None = None
                      ) -> Sequence[StoredDecision]:
    query = (select(DecisionRow, Run.production).outerjoin(Run, DecisionRow.run_id == Run.id)
             .where(DecisionRow.bug_id == bug_id).order_by(DecisionRow.id))
    if limit is not None:
        query = query.limit(limit)
    out: list[StoredDecision] = []
    for row, production in session.execute(query):
        details = dict(row.details or {})
        committed = bool(details.pop("state_committed", False))
        out.append(StoredDecision(row.id, row.run_id, row.bug_id, row.rule, row.outcome,
                                  row.reason, row.state or "", details, utc(row.created_at),
                                  bool(production), committed))
    return out


def previous_outcome(session: Session, kind: str, run_id: int) -> str | None:
    """The outcome of the run of ``kind`` before ``run_id`` (None for the first one)."""
    return session.scalar(select(Run.outcome).where(Run.kind == kind, Run.id < run_id)
                          .order_by(Run.id.desc()).limit(1))


def latest_runs(session: Session, kind: str | None = None, limit: int = 10) -> list[Run]:
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if kind:
        query = query.where(Run.kind == kind)
    return list(session.scalars(query))


def latest_decisions(session: Session, ids: Iterable[int]
                     ) -> dict[tuple[int, str], tuple[str, str]]:
    """(bug, rule) → (outcome, reason) of the newest stored decision: unchanged conclusions are
    not stored again every day (the daily pass would otherwise add thousands of copies)."""
    out: dict[tuple[int, str], tuple[str, str]] = {}
    for chunk in chunked(ids):
        newest = (select(func.max(DecisionRow.id)).where(DecisionRow.bug_id.in_(chunk))
                  .group_by(DecisionRow.bug_id, DecisionRow.rule))
        for bug_id, rule, outcome, reason in session.execute(
                select(DecisionRow.bug_id, DecisionRow.rule, DecisionRow.outcome,
                       DecisionRow.reason).where(DecisionRow.id.in_(newest))):
            out[(int(bug_id), rule)] = (outcome, reason)
    return out
