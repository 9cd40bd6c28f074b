"""Periodic jobs: APScheduler 3.x with a persistent SQLAlchemy job store.

Why these settings (measured, see DESIGN.md "Scheduling"): with a persistent store and
``coalesce=True``, a job missed while the service was down runs **exactly once** on restart only
when ``misfire_grace_time=None``; with a finite grace (say one hour) a weekly digest missed over a
weekend is silently skipped. ``max_instances=1`` keeps a slow triage pass from overlapping itself.

Jobs are stored by reference (``module:function`` plus plain arguments), never as pickled closures,
so the job table survives upgrades of the code that defines them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
JOBS_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class JobSpec:
    """One periodic job. ``func`` is a ``module:function`` reference; ``kwargs`` must be plain
    data (they are stored in the job table)."""

    id: str
    func: str
    cron: str | None = None  # crontab fields "min hour dom mon dow", e.g. "0 7 * * mon"
    interval_seconds: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None  # this job's own time zone (the digest's); else the scheduler's

    def trigger(self, timezone: str) -> CronTrigger | IntervalTrigger:
        timezone = self.timezone or timezone
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError(f"job {self.id}: give exactly one of cron or interval_seconds")
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=timezone)
        assert self.interval_seconds is not None
        return IntervalTrigger(seconds=self.interval_seconds, timezone=timezone)


def build_scheduler(
    store_url: str,
    jobs: Sequence[JobSpec],
    *,
    timezone: str = "UTC",
    scheduler: BaseScheduler | None = None,
) -> BaseScheduler:
    """A scheduler whose jobs live in the store's database (table ``apscheduler_jobs``).

    Jobs are (re)registered with ``replace_existing=True``: a changed schedule in the code replaces
    the stored one, while an unchanged job keeps its stored ``next_run_time``, which is what makes
    a run missed during downtime fire once on start.
    """
    sched = scheduler or BackgroundScheduler()
    sched.configure(
        jobstores={"default": SQLAlchemyJobStore(url=store_url, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults=JOB_DEFAULTS,
        timezone=timezone,
    )
    wanted = {j.id for j in jobs}
    if len(wanted) != len(jobs):
        raise ValueError("job ids must be unique")
    sched.start(paused=True)
    try:
        for stale in [j for j in sched.get_jobs() if j.id not in wanted]:
            log.info("removing job %s: no longer defined", stale.id)
            stale.remove()
        for spec in jobs:
            existing = sched.get_job(spec.id)
            trigger = spec.trigger(timezone)
            if existing is not None and _same_schedule(existing, spec, trigger):
                continue  # keep its stored next_run_time (missed runs fire once on resume)
            sched.add_job(spec.func, trigger, id=spec.id, name=spec.id, kwargs=spec.kwargs,
                          replace_existing=True)
    except BaseException:
        sched.shutdown(wait=False)
        raise
    return sched


def _same_schedule(job: Any, spec: JobSpec, trigger: CronTrigger | IntervalTrigger) -> bool:
    return bool(job.func_ref == spec.func and str(job.trigger) == str(trigger)
                and dict(job.kwargs) == spec.kwargs)
