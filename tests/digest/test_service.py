"""`xentriage serve` with the digest and wiki jobs: the persistent job store across a restart (a
digest missed while the service was down runs once), and `xentriage status` while the service
runs and after it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from click.testing import CliRunner
from sqlalchemy import select

from triage.cli import main
from triage.scheduler import JOBS_TABLE
from triage.store import Store
from triage.store.tables import Run


def _serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "triage", "--config", str(config), "serve",
                             "--no-mail"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env=env)
    deadline = time.monotonic() + 60
    while "serving" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def _status(config: Path) -> list[dict]:
    result = CliRunner().invoke(main, ["--config", str(config), "status", "--json"])
    assert result.exit_code == 0, result.output
    return {r["job"]: r for r in json.loads(result.output)}


def _digest_runs(url: str) -> list[Run]:
    store = Store(url)
    try:
        with store.session() as s:
            return list(s.scalars(select(Run).where(Run.kind == "job:digest")))
    finally:
        store.dispose()


def test_missed_digest_runs_once_after_a_restart_and_status_answers(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "xentriage.toml"
    config.write_text(f'[general]\nstate_dir = "{state}"\n[digest]\ntimezone = "Europe/Berlin"\n',
                      encoding="utf-8")
    url = f"sqlite:///{state / 'xentriage.sqlite3'}"
    log = tmp_path / "serve.log"

    before = _status(config)  # no service has run: answers all the same
    assert before["digest"]["result"] == "never ran" and before["digest"]["next_run"] is None

    proc = _serve(config, log)
    try:
        running = _status(config)
        nxt = datetime.fromisoformat(running["digest"]["next_run"])
        assert nxt > datetime.now(UTC) and nxt.weekday() == 0
        assert nxt.astimezone().utcoffset() is not None and nxt.hour == 9  # 09:00 Berlin
    finally:
        _stop(proc)

    # Down over a Monday morning: the stored next run is in the past.
    jobstore = SQLAlchemyJobStore(url=url, tablename=JOBS_TABLE)
    jobstore.start(None, "default")  # type: ignore[arg-type]
    job = jobstore.lookup_job("digest")
    job.next_run_time = datetime.now(UTC) - timedelta(days=15)
    jobstore.update_job(job)
    jobstore.shutdown()

    proc = _serve(config, log)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in _digest_runs(url) if r.finished_at is not None]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.0)  # would a second run show up?
        after = _status(config)
    finally:
        _stop(proc)
    runs = _digest_runs(url)
    assert len(runs) == 1 and runs[0].outcome == "ok", [r.summary for r in runs]
    assert after["digest"]["result"] == "ok" and after["digest"]["last_run"]
    assert datetime.fromisoformat(after["digest"]["next_run"]) > datetime.now(UTC)
    assert list((state / "outbox" / "dry-run").glob("*.eml"))  # a dry run: the outbox
    assert (state / "wiki" / "digest.wiki").exists()  # the wiki follows the digest
    stopped = _status(config)
    assert stopped["digest"]["result"] == "ok" and stopped["digest"]["next_run"]


def test_service_unit_is_valid_for_systemd(tmp_path: Path) -> None:
    import shutil

    unit = Path(__file__).resolve().parents[2] / "workers" / "provision" / "xentriage.service"
    text = unit.read_text(encoding="utf-8")
    assert "ExecStart=/opt/xentriage/.venv/bin/xentriage serve" in text
    assert "Restart=on-failure" in text and "XENTRIAGE_CONFIG=" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    local = tmp_path / "xentriage.service"
    local.write_text(text.replace("/opt/xentriage/.venv/bin/xentriage",
                                  str(Path(sys.executable).with_name("xentriage"))),
                     encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True,
                            timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "xentriage.service" in line]
    assert not problems, problems


def test_status_shows_a_failed_jobs_error(tmp_path: Path) -> None:
    from triage.job_runs import finish_job_run, start_job_run

    state = tmp_path / "state"
    config = tmp_path / "xentriage.toml"
    config.write_text(f'[general]\nstate_dir = "{state}"\n', encoding="utf-8")
    store = Store(f"sqlite:///{state / 'xentriage.sqlite3'}")
    store.migrate()
    run = start_job_run(store, "job:wiki", production=False)
    finish_job_run(store, run, "failed", {"error": "WikiError: wiki login refused"})
    ok = start_job_run(store, "job:wiki", production=False)
    finish_job_run(store, ok, "ok", {})
    store.dispose()
    rows = _status(config)
    assert rows["wiki"]["result"] == "ok"
    assert rows["wiki"]["last_error"] == "WikiError: wiki login refused"
    text = CliRunner().invoke(main, ["--config", str(config), "status"]).output
    assert "wiki login refused" in text and "has not run" in text


def test_scheduled_digest_with_smtp_down_is_retried_once_it_is_back(tmp_path: Path,
                                                                    smtp_server) -> None:
    from triage.jobs import digest_job, digest_retry_job

    state = tmp_path / "state"
    config = tmp_path / "xentriage.toml"
    config.write_text(f'[general]\nstate_dir = "{state}"\n[safety]\nproduction = true\n'
                      + smtp_server.toml() + '\n[digest]\nto = ["devel@example.org"]\n',
                      encoding="utf-8")
    url = f"sqlite:///{state / 'xentriage.sqlite3'}"
    smtp_server.stop()
    digest_job(str(config))
    digest_retry_job(str(config))  # still down: fails again, nothing lost
    smtp_server.start()
    digest_retry_job(str(config))
    digest_retry_job(str(config))  # nothing left to do: no run recorded
    assert len(smtp_server.wait_for(1)) == 1
    store = Store(url)
    with store.session() as s:
        runs = [(r.kind, r.outcome) for r in s.scalars(select(Run).order_by(Run.id))
                if r.kind.startswith("job:digest")]
    store.dispose()
    assert runs == [("job:digest", "failed"), ("job:digest-retry", "failed"),
                    ("job:digest-retry", "ok")]
    rows = _status(config)
    assert rows["digest-retry"]["result"] == "ok" and "cannot send" in rows["digest"][
        "last_error"]
