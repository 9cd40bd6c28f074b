"""``xentriage status``: each scheduled job's last run, next run, last result and last error.

Read from the two places that hold them, so it answers whether ``serve`` runs or not: the
scheduler's persistent job store (table ``apscheduler_jobs``: the next run) and the store's
``runs`` table (kind ``job:<id>``: every run a scheduled job recorded, with its outcome and
error). Nothing is created or changed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from sqlalchemy import inspect, select

from triage.cli.common import app, echo
from triage.scheduler import JOBS_TABLE
from triage.store.tables import Run


def _next_runs(store_url: str, engine: Any) -> dict[str, datetime | None] | None:
    if not inspect(engine).has_table(JOBS_TABLE):
        return None  # serve never ran against this store
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    jobstore = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
    jobstore.start(None, "default")  # type: ignore[arg-type]
    try:
        return {job.id: job.next_run_time for job in jobstore.get_all_jobs()}
    finally:
        jobstore.shutdown()


def _fmt(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M %Z}".strip() if when else "-"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Each scheduled job: last run, next run, last result, last error."""
    from triage.jobs import service_jobs

    a = app(ctx)
    settings = a.settings
    store = a.store
    # The scheduled jobs (runs of kind ``job:<id>``), then the IMAP watcher, which runs beside
    # them rather than on a schedule (kind ``mail-watch``, recorded by `mail watch` and `serve`).
    kinds = [(j.id, f"job:{j.id}") for j in service_jobs(settings, a.config_path)]
    kinds.append(("mail-watch", "mail-watch"))
    next_runs = _next_runs(settings.store_url, store.engine)
    rows: list[dict[str, Any]] = []
    with store.session() as s:
        for job, kind in kinds:
            last = s.scalars(select(Run).where(Run.kind == kind)
                             .order_by(Run.id.desc()).limit(1)).first()
            failed = s.scalars(select(Run).where(Run.kind == kind,
                                                 Run.outcome.in_(["failed", "aborted", "error"]))
                               .order_by(Run.id.desc()).limit(1)).first()
            rows.append({
                "job": job,
                "last_run": last.started_at if last else None,
                "result": (last.outcome if last else "never ran"),
                "next_run": (next_runs or {}).get(job),
                "last_error": str((failed.summary or {}).get("error", "")) if failed else "",
                "last_error_at": failed.started_at if failed else None,
            })
    if as_json:
        echo(json.dumps(rows, default=lambda v: v.isoformat(), indent=2))
        return
    if next_runs is None:
        echo("scheduler: `xentriage serve` has not run against this store yet "
                   "(no job store); next runs unknown")
    echo(f"{'job':<16} {'last run':<22} {'result':<10} {'next run':<22} last error")
    for r in rows:
        error = f"{_fmt(r['last_error_at'])}: {r['last_error']}" if r["last_error"] else ""
        echo(f"{r['job']:<16} {_fmt(r['last_run']):<22} {r['result']:<10} "
                   f"{_fmt(r['next_run']):<22} {error[:200]}")
