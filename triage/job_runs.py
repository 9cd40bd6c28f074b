"""A long-running job's run in the store (``runs``), so ``xentriage status`` can show which job
failed and why: started when the job starts, finished ``ok`` or ``error`` with the error text.

Error texts are the jobs' own messages, which never carry secrets (the adapters say who failed,
never what was sent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage.store import Store
from triage.store.decisions import finish_run, start_run


@dataclass
class JobRun:
    kind: str
    run_id: int
    summary: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    exit_code: int = 0
    # Set by the block for an outcome of its own ("failed", "aborted"); empty: "ok", or "error"
    # once :meth:`error` was called.
    outcome: str = ""

    def error(self, message: str, exit_code: int) -> None:
        self.message, self.exit_code = message, exit_code


def start_job_run(store: Store, kind: str, *, production: bool) -> int:
    with store.session() as s:
        return start_run(s, kind, production=production, now=datetime.now(UTC))


def finish_job_run(store: Store, run_id: int, outcome: str, summary: dict[str, Any]) -> None:
    with store.session() as s:
        finish_run(s, run_id, outcome, summary, datetime.now(UTC))


@contextmanager
def recorded_run(store: Store, kind: str, *, production: bool = False,
                 failed: str = "error") -> Iterator[JobRun]:
    """``with recorded_run(store, "mail-watch") as run: ...``; ``run.error(text, code)`` marks
    the run ``error``; an exception escaping the block is recorded too (outcome ``failed``),
    then raised."""
    run = JobRun(kind, start_job_run(store, kind, production=production))
    try:
        yield run
    except BaseException as exc:
        run.error(f"{type(exc).__name__}: {exc}"[:2000], run.exit_code or 1)
        run.outcome = failed
        raise
    finally:
        outcome = run.outcome or ("error" if run.exit_code else "ok")
        summary = {**run.summary, **({"error": run.message[:2000], "exit_code": run.exit_code}
                                     if run.exit_code else {})}
        finish_job_run(store, run.run_id, outcome, summary)
