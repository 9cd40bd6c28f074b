"""Every bisection query (issue #17): the queue, the per-day budget, steps and outcomes.

A request is unique on (kind, cell, old, new, signature): CI linking queues the regression it
sees on every pass and the queue holds it once, whatever state it is in. The budget counts
bisections *started* on a UTC day; a request over it stays queued for the next day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage.ci.bisect.model import BisectOutcome, BisectRequest, StepVerdict
from triage.ci.bisect.render import from_json as outcome_from_json
from triage.ci.bisect.render import to_json as outcome_to_json
from triage.store.tables import BisectionRow, BisectionStep

QUEUED, RUNNING, DONE = "queued", "running", "done"
ERROR = "error"  # status of a bisection that could not run (bad revision, runner failure)


@dataclass(frozen=True)
class BisectionRecord:
    id: int
    request: BisectRequest
    origin_signature: str
    state: str  # queued | running | done
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    status: str  # "" until done; found | inconclusive | error
    first_new: str
    outcome: BisectOutcome | None
    error: str
    reported_key: str

    @property
    def signature(self) -> str:
        return self.origin_signature or self.request.signature


def day_of(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def _record(row: BisectionRow) -> BisectionRecord:
    doc = dict(row.outcome or {})
    outcome = outcome_from_json(doc) if doc.get("request") else None
    return BisectionRecord(
        id=row.id,
        request=BisectRequest(kind=row.kind, cell=row.cell, old=row.old, new=row.new,
                              signature=row.signature, flake_rate=row.flake_rate,
                              origin_bug=row.origin_bug),
        origin_signature=row.origin_signature, state=row.state, queued_at=row.queued_at,
        started_at=row.started_at, finished_at=row.finished_at, status=row.status,
        first_new=row.first_new, outcome=outcome, error=str(doc.get("error", "")),
        reported_key=row.reported_key)


def _find(session: Session, req: BisectRequest) -> BisectionRow | None:
    return session.scalar(select(BisectionRow).where(
        BisectionRow.kind == req.kind, BisectionRow.cell == req.cell,
        BisectionRow.old == req.old, BisectionRow.new == req.new,
        BisectionRow.signature == req.signature))


def queue(session: Session, req: BisectRequest, *, now: datetime, origin_signature: str = ""
          ) -> tuple[int, bool]:
    """Queue a request; (its id, True) when new, (the existing id, False) when already known.
    A known request learns its bug when it did not have one yet."""
    row = _find(session, req)
    if row is not None:
        if row.origin_bug is None and req.origin_bug is not None:
            row.origin_bug = req.origin_bug
        return row.id, False
    try:
        with session.begin_nested():
            row = BisectionRow(kind=req.kind, cell=req.cell, old=req.old, new=req.new,
                               signature=req.signature, origin_signature=origin_signature,
                               origin_bug=req.origin_bug, flake_rate=req.flake_rate,
                               state=QUEUED, queued_at=now, day="", status="", first_new="",
                               outcome={}, reported_key="")
            session.add(row)
            session.flush()
    except IntegrityError:  # queued by another pass at the same moment
        again = _find(session, req)
        assert again is not None
        return again.id, False
    return row.id, True


def started_on(session: Session, day: str) -> int:
    return int(session.scalar(select(func.count(BisectionRow.id)).where(
        BisectionRow.day == day)) or 0)


def take_next(session: Session, *, now: datetime, per_day: int) -> BisectionRecord | None:
    """The next bisection to run, marked running: one a crash left running first (it started
    already, so it is not counted again), else the oldest queued one if today's budget allows."""
    row = session.scalar(select(BisectionRow).where(BisectionRow.state == RUNNING)
                         .order_by(BisectionRow.started_at, BisectionRow.id).limit(1))
    if row is None:
        if started_on(session, day_of(now)) >= per_day:
            return None
        row = session.scalar(select(BisectionRow).where(BisectionRow.state == QUEUED)
                             .order_by(BisectionRow.queued_at, BisectionRow.id).limit(1))
        if row is None:
            return None
        row.state, row.started_at, row.day = RUNNING, now, day_of(now)
    session.execute(delete(BisectionStep).where(BisectionStep.bisection_id == row.id))
    session.flush()
    return _record(row)


def queued_count(session: Session) -> int:
    return int(session.scalar(select(func.count(BisectionRow.id)).where(
        BisectionRow.state == QUEUED)) or 0)


def finish(session: Session, bisection_id: int, outcome: BisectOutcome, now: datetime) -> None:
    row = session.get(BisectionRow, bisection_id)
    assert row is not None
    row.state, row.finished_at, row.status = DONE, now, outcome.status
    row.first_new = outcome.first_new.id if outcome.first_new else ""
    row.outcome = outcome_to_json(outcome)
    record_steps(session, bisection_id, outcome.steps)


def fail(session: Session, bisection_id: int, error: str, now: datetime) -> None:
    """A bisection that could not run: done, status ``error``, never reported as a commit."""
    row = session.get(BisectionRow, bisection_id)
    assert row is not None
    row.state, row.finished_at, row.status, row.outcome = DONE, now, ERROR, {"error": error}


def requeue_errors(session: Session) -> int:
    """Put every bisection that could not run back in the queue (after fixing what stopped it:
    the repository, the matrix); returns how many."""
    rows = list(session.scalars(select(BisectionRow).where(BisectionRow.status == ERROR)))
    for row in rows:
        row.state, row.status, row.outcome = QUEUED, "", {}
        row.started_at = row.finished_at = None
        row.day = ""
    return len(rows)


def record_steps(session: Session, bisection_id: int, steps: Sequence[StepVerdict]) -> None:
    session.execute(delete(BisectionStep).where(BisectionStep.bisection_id == bisection_id))
    session.add_all([BisectionStep(bisection_id=bisection_id, position=i, commit=s.commit.id,
                                   verdict=s.verdict, details=asdict(s))
                     for i, s in enumerate(steps)])


def step_count(session: Session, bisection_id: int) -> int:
    return int(session.scalar(select(func.count(BisectionStep.id)).where(
        BisectionStep.bisection_id == bisection_id)) or 0)


def mark_reported(session: Session, bisection_id: int, key: str) -> None:
    row = session.get(BisectionRow, bisection_id)
    if row is not None:
        row.reported_key = key


def get(session: Session, bisection_id: int) -> BisectionRecord | None:
    row = session.get(BisectionRow, bisection_id)
    return _record(row) if row is not None else None


def all_bisections(session: Session) -> list[BisectionRecord]:
    """Every bisection, oldest first."""
    return [_record(r) for r in session.scalars(
        select(BisectionRow).order_by(BisectionRow.queued_at, BisectionRow.id))]


def latest_by_signature(session: Session) -> dict[str, BisectionRecord]:
    """The newest bisection of each CI signature (one query; the views read only these)."""
    sig = func.coalesce(func.nullif(BisectionRow.origin_signature, ""), BisectionRow.signature)
    newest = select(func.max(BisectionRow.id)).group_by(sig)
    return {r.signature: r for r in (_record(row) for row in session.scalars(
        select(BisectionRow).where(BisectionRow.id.in_(newest))))}


def by_signature(session: Session) -> dict[str, list[BisectionRecord]]:
    """Bisections per CI signature they are about, oldest first."""
    out: dict[str, list[BisectionRecord]] = {}
    for rec in all_bisections(session):
        out.setdefault(rec.signature, []).append(rec)
    return out
