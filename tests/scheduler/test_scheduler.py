"""A job missed during downtime runs exactly once on restart; unchanged jobs keep their schedule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from triage.scheduler import JOBS_TABLE, JobSpec, build_scheduler

FUNC = "tests.scheduler.jobfuncs:append_line"


def _wait_for_lines(path: Path, n: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # would a duplicate run show up?
    return path.read_text().splitlines() if path.exists() else []


def test_weekly_job_missed_during_downtime_runs_once_on_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    out = tmp_path / "ran.txt"
    spec = JobSpec(id="weekly-digest", func=FUNC, cron="0 7 * * mon",
                   kwargs={"path": str(out), "text": "digest"})
    sched = build_scheduler(url, [spec])
    sched.shutdown(wait=True)
    # While the service is down, three Monday mornings pass: the stored next run is 20 days ago.
    jobstore = SQLAlchemyJobStore(url=url, tablename=JOBS_TABLE)
    jobstore.start(None, "default")  # type: ignore[arg-type]
    job = jobstore.lookup_job("weekly-digest")
    job.next_run_time = datetime.now(UTC) - timedelta(days=20)
    jobstore.update_job(job)
    jobstore.shutdown()

    restarted = build_scheduler(url, [spec])
    restarted.resume()
    try:
        assert _wait_for_lines(out, 1) == ["digest"]  # once, not three times, not zero
        nxt = restarted.get_job("weekly-digest").next_run_time
        assert nxt > datetime.now(UTC) and nxt.weekday() == 0 and nxt.hour == 7
    finally:
        restarted.shutdown(wait=False)


def test_unchanged_job_keeps_stored_next_run_and_removed_job_is_dropped(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    a = JobSpec(id="sync", func=FUNC, interval_seconds=3600, kwargs={"path": "x", "text": "a"})
    b = JobSpec(id="old", func=FUNC, interval_seconds=60, kwargs={"path": "x", "text": "b"})
    sched = build_scheduler(url, [a, b])
    first = sched.get_job("sync").next_run_time
    sched.shutdown(wait=False)
    time.sleep(1.1)
    sched = build_scheduler(url, [a])
    try:
        assert sched.get_job("sync").next_run_time == first
        assert sched.get_job("old") is None
    finally:
        sched.shutdown(wait=False)


def test_changed_schedule_replaces_stored_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    kw = {"path": "x", "text": "a"}
    sched = build_scheduler(url, [JobSpec(id="j", func=FUNC, interval_seconds=3600, kwargs=kw)])
    sched.shutdown(wait=False)
    sched = build_scheduler(url, [JobSpec(id="j", func=FUNC, interval_seconds=60, kwargs=kw)])
    try:
        assert sched.get_job("j").trigger.interval == timedelta(seconds=60)
    finally:
        sched.shutdown(wait=False)
