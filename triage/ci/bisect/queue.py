"""The bisection queue's runner: take the next request within the day's budget, run it, keep
its outcome (the ``bisect`` job of ``serve`` and ``xentriage ci bisect-run``).

Running a bisection is local work (our own worktrees and workers, like a retry), so a dry run
runs it too; what it says reaches Bugzilla only through CI linking's next pass (the Writer,
dry run unless production). A bisection that cannot run (an unknown revision, a broken
runner) is kept as ``error`` with the reason, never retried in a loop and never reported as a
commit. One a crash interrupted stays ``running`` and is run again first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from triage.ci.bisect.model import BisectOutcome, BisectRequest
from triage.config import Settings
from triage.store import Store
from triage.store import bisections as rows
from triage.store.bisections import BisectionRecord

log = logging.getLogger(__name__)

Bisector = Callable[[BisectRequest], BisectOutcome]


class BisectionError(RuntimeError):
    """The queue cannot be run: the local bisector cannot be set up (nothing is taken)."""


class QueueBusy(BisectionError):
    """Another run holds the queue (its worktrees and build directories are in use)."""


@contextmanager
def queue_lock(workdir: Path) -> Iterator[None]:
    """One queue runner at a time on this machine: ``ci bisect-run`` started while the
    ``bisect`` job of ``serve`` runs must neither run the same bisection again (a ``running``
    row is taken as interrupted only by the lock's holder) nor share the slots' worktrees."""
    import fcntl

    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / ".queue.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QueueBusy(f"another bisection run holds the queue ({workdir})") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class QueueReport:
    ran: list[tuple[BisectionRecord, BisectOutcome | None, str]] = field(default_factory=list)
    left: int = 0  # still queued
    budget_spent: bool = False  # the day's bisections.per_day started already
    link_error: str = ""  # the linking pass after the run failed (Bugzilla down): next pass

    def summary(self) -> str:
        done = [o for _, o, _ in self.ran if o is not None]
        errors = [e for _, _, e in self.ran if e]
        text = f"{len(self.ran)} bisection(s) run ({len(errors)} could not run), {self.left} queued"
        if self.budget_spent and self.left:
            text += "; today's budget is spent"
        return text + "".join(f"; {o.request.cell}: {o.status}" for o in done)


def run_queue(store: Store, settings: Settings, bisector: Bisector, *,
              clock: Callable[[], datetime] = lambda: datetime.now(UTC),
              limit: int | None = None) -> QueueReport:
    report = QueueReport()
    per_day = settings.bisect.per_day
    while limit is None or len(report.ran) < limit:
        with store.session() as s:
            rec = rows.take_next(s, now=clock(), per_day=per_day)
        if rec is None:
            break
        log.info("bisect: %s bisection %d of %s (%s..%s, signature %s)", rec.request.kind,
                 rec.id, rec.request.cell, rec.request.old, rec.request.new,
                 rec.request.signature)
        try:
            outcome = bisector(rec.request)
        except Exception as exc:  # one broken bisection must not stop the queue
            error = f"{type(exc).__name__}: {exc}"[:1000]
            log.error("bisect: bisection %d could not run: %s", rec.id, error)
            with store.session() as s:
                rows.fail(s, rec.id, error, clock())
            report.ran.append((rec, None, error))
            continue
        with store.session() as s:
            rows.finish(s, rec.id, outcome, clock())
        report.ran.append((rec, outcome, ""))
    with store.session() as s:
        report.left = rows.queued_count(s)
        report.budget_spent = rows.started_on(s, rows.day_of(clock())) >= per_day
    return report
