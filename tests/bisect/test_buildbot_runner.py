"""Bisection steps on the farm: a real Buildbot master and two workers on 127.0.0.1, the
scripted fixture history as the tree, the triage side's BuildbotRunner submitting steps.

The same cause bisection through the LocalRunner and through the farm names the same first bad
commit, every farm step is a build of the cell's bisection builder on one of the two workers,
the steps' builds never enter the cell history (push and sweep), and a master that goes away
mid-bisection ends it in an error, never in a named commit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from farm import bisect_protocol as proto
from farm import localfarm
from farm.matrix import load_matrix
from tests.fixtures.ukhistory import History, make_history, write_matrix
from triage.ci.bisect.buildbot_runner import BuildbotRunner
from triage.ci.bisect.commits import CommitLog
from triage.ci.bisect.driver import run_bisection
from triage.ci.bisect.local import BisectError, bisect_locally
from triage.ci.bisect.model import (
    BAD,
    CAUSE,
    FOUND,
    SKIP,
    BisectOutcome,
    BisectRequest,
    StepRun,
)
from triage.ci.bisect.runners import LocalRunner
from triage.ci.intake import IntakeRules, make_server, serve_in_thread
from triage.ci.sweep import sweep
from triage.config import BisectSettings
from triage.store import Store
from triage.store import ci as ci_rows
from workers.failure import BOOT_FAILED

CELL = "hello-crc-kvm-x86_64"
APP_CELL = "extapp-crc-kvm-x86_64"  # the same app from a git repository of its own
LIBS = ("crc", "ring")
WORKERS = ("bb-a", "bb-b")
SECRET = "bisect-farm-secret"
pytestmark = pytest.mark.slow  # a real master, two workers, builds and boots


@dataclass
class Farm:
    hist: History
    matrix: Path
    state: localfarm.FarmState
    store: Store
    signature: str
    base: Path
    app_commits: tuple[str, str]  # the external app's commits, before and after the root

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.state.www_port}/"


def _require() -> None:
    for tool in ("make", "gcc", "qemu-system-x86_64", "git"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{tool} is required under CI but not installed")
            pytest.skip(f"{tool} not installed")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    _require()
    base = tmp_path_factory.mktemp("bisect-farm")
    hist = make_history(base / "repo")
    app_commits = _app_history(hist, base / "extapp")
    matrix = write_matrix(hist, base / "matrix.toml", libraries=LIBS)
    matrix.write_text(matrix.read_text(encoding="utf-8") + EXTAPP.format(path=base / "extapp"),
                      encoding="utf-8")
    # S as the farm reported it, read by the local runner (while the farm starts): the farm's
    # steps must agree on it.
    runs: list[StepRun] = []
    reader = threading.Thread(target=lambda: runs.append(LocalRunner(
        load_matrix(matrix), base / "local-sig").run(CELL, hist.breaking, 0)))
    reader.start()
    store = Store(f"sqlite:///{base / 'ci.sqlite3'}")
    store.migrate()
    intake = make_server(store, IntakeRules(SECRET.encode(), max_body_bytes=65536,
                                            clock_skew_seconds=300), "127.0.0.1", 0)
    serve_in_thread(intake)
    secret = base / "hmac.key"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    plans = [localfarm.WorkerPlan(name, max_builds=1) for name in WORKERS]
    caps = localfarm.probe(localfarm.worker_env(plans[0], base))
    state_dir = base / "farm"
    try:
        state = localfarm.up(
            state_dir, matrix, plans, probes={p.name: caps for p in plans},
            www_port=localfarm.free_port(),
            master_settings={"ci_intake_url": f"http://127.0.0.1:{intake.server_address[1]}",
                             "ci_secret_file": str(secret), "ci_master_name": "farm"})
        reader.join()
        (run,) = runs
        assert run.result == BOOT_FAILED and run.signature, run
        yield Farm(hist, matrix, state, store, run.signature, base, app_commits)
    finally:
        localfarm.down(state_dir)
        intake.shutdown()
        intake.server_close()
        store.dispose()


EXTAPP = """
[[app]]
name = "extapp"
tree = "fixture"
path = "{path}"
success_lines = ["Hello from xentriage"]
"""


def _git(repo: Path, *args: str, when: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org"}
    if when is not None:
        env |= {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def _app_history(hist: History, app: Path) -> tuple[str, str]:
    """The fixture app in a repository of its own: one commit older than the tree's root, one
    far newer (the root's step must be built with the first)."""
    shutil.copytree(hist.path / "apps" / "hello", app)
    root_time = int(_git(hist.path, "log", "-1", "--format=%ct", hist.root))
    _git(app, "init", "-q")
    ids = []
    for i, when in enumerate((root_time - 10, root_time + 10**7)):
        (app / "NOTE").write_text(str(i), encoding="utf-8")
        _git(app, "add", "-A")
        _git(app, "commit", "-qm", f"app {i}", when=when)
        ids.append(_git(app, "rev-parse", "HEAD"))
    return ids[0], ids[1]


def _settings(work: Path, **kw: Any) -> BisectSettings:
    return BisectSettings(max_builds=12, workers=2, workdir=work,
                          commit_url="https://example.org/uk/commit/{id}", **kw)


def _bisection_builds(farm: Farm, bisection: str) -> list[dict[str, Any]]:
    return [b for b in localfarm.builds_since(farm.state, 0)
            if b["props"].get(proto.BISECTION) == bisection]


def test_the_farm_names_the_same_first_bad_commit_as_the_local_runner(farm: Farm) -> None:
    hist = farm.hist
    request = BisectRequest(CAUSE, CELL, hist.root, hist.last_bad, farm.signature)
    log = CommitLog(hist.path, "https://example.org/uk/commit/{id}")
    # The local bisection runs beside the farm's (the farm's steps mostly wait on Buildbot).
    outcomes: list[BisectOutcome] = []
    beside = threading.Thread(target=lambda: outcomes.append(run_bisection(
        request, log, LocalRunner(load_matrix(farm.matrix), farm.base / "local", slots=2),
        _settings(farm.base / "local"))))
    beside.start()
    try:
        runner = BuildbotRunner(load_matrix(farm.matrix), farm.url, CELL,
                                bisection="bb-cause-1")
        assert runner.slots == 2  # both workers can build and boot kvm/x86_64
        remote = run_bisection(request, log, runner, _settings(farm.base / "unused"))
    finally:
        beside.join()
    (local,) = outcomes

    assert local.status == remote.status == FOUND, (local.reason, remote.reason)
    assert remote.first_new == local.first_new
    assert remote.first_new is not None and remote.first_new.id == hist.breaking
    assert remote.last_old == local.last_old
    verdicts = {s.commit.id: s.verdict for s in remote.steps}
    assert verdicts[hist.different] == SKIP  # failed differently on the farm too
    # The farm's steps ran the farm's cell command: the very signature S for every bad step.
    runs = [r for s in remote.steps for r in s.runs]
    assert all(r.signature == farm.signature for s in remote.steps if s.verdict == BAD
               for r in s.runs)
    assert {r.worker for r in runs} == set(WORKERS)
    assert all("/#/builders/" in r.build_url for r in runs)
    builds = _bisection_builds(farm, "bb-cause-1")
    assert len(builds) == remote.builds == len(runs)
    # Each a build of the cell's bisection builder at its commit, on the worker of its slot.
    assert {b["props"]["buildername"] for b in builds} == {"bisect-kvm-x86_64"}
    assert sorted(b["props"]["revision"] for b in builds) == sorted(r.commit for r in runs)
    assert all(b["props"]["workername"] == b["props"][proto.WORKER] for b in builds)
    assert sorted(b["props"][proto.STEP] for b in builds) == list(range(1, len(builds) + 1))
    # Persistent checkouts: one per worker, reused from step to step (incremental Git step).
    checkouts = [farm.state.state_dir / "workers" / w / "bisect-kvm-x86_64" / "tree" / ".git"
                 for w in WORKERS]
    assert all(c.is_dir() for c in checkouts)


def test_bisection_builds_stay_out_of_the_cell_history(farm: Farm) -> None:
    before = localfarm.max_build_id(farm.state)
    localfarm.force(farm.state, CELL)  # one farm build of the cell: that one is history
    localfarm.wait_idle(farm.state, 300)
    farm_builds = [b for b in localfarm.builds_since(farm.state, before)
                   if not proto.is_bisection_build(b.get("properties"))]
    assert len(farm_builds) == 1
    steps = _bisection_builds(farm, "bb-cause-1")
    assert steps

    def stored_ids() -> set[int]:
        with farm.store.session() as s:
            return {r.build_id for r in ci_rows.all_results(s)}

    # Pushed: the farm build, never a step (the reporter ran for each of them alike).
    deadline = time.monotonic() + 30
    while farm_builds[0]["buildid"] not in stored_ids():
        assert time.monotonic() < deadline, "the farm build was never pushed"
        time.sleep(0.5)
    assert not stored_ids() & {b["buildid"] for b in steps}
    # Swept from the REST API: the steps are skipped, not stored.
    report = sweep(farm.store, farm.url, master="farm")
    assert report.builds >= len(steps) + 1 and report.skipped >= len(steps)
    assert not stored_ids() & {b["buildid"] for b in steps}
    with farm.store.session() as s:
        assert [r.cell for r in ci_rows.all_results(s)] == [CELL]


def test_the_app_commit_paired_on_the_triage_host_is_built_on_the_worker(farm: Farm) -> None:
    runner = BuildbotRunner(load_matrix(farm.matrix), farm.url, APP_CELL, bisection="bb-app")
    assert "paired by commit time" in runner.pairing_text(APP_CELL)
    run = runner.run(APP_CELL, farm.hist.root, 1)
    assert run.result == "passed", run
    assert run.app_commit == farm.app_commits[0]
    (build,) = _bisection_builds(farm, "bb-app")
    assert build["props"][proto.APP_COMMIT] == farm.app_commits[0]
    assert build["props"]["workername"] == run.worker == sorted(WORKERS)[1]
    checkout = farm.state.state_dir / "workers" / run.worker / "bisect-kvm-x86_64" / "app"
    assert _git(checkout, "rev-parse", "HEAD") == farm.app_commits[0]


def test_the_service_bisects_a_fix_on_the_farm(farm: Farm) -> None:
    """The queue's bisector (``serve``'s bisect job) with ``bisect.runner = "buildbot"``."""
    from triage.ci.bisect.model import FIX
    from triage.ci.bisect.service import local_bisector
    from triage.config import load_settings

    config = farm.base / "xentriage.toml"
    config.write_text(f"""[bisect]
runner = "buildbot"
buildbot_url = "{farm.url}"
matrix = "{farm.matrix}"
repository = "{farm.hist.path}"
workdir = "{farm.base / 'service'}"
""", encoding="utf-8")
    bisect = local_bisector(load_settings(config))
    out = bisect(BisectRequest(FIX, CELL, farm.hist.breaking, farm.hist.tip, farm.signature,
                               origin_bug=7))
    assert out.status == FOUND, out.reason
    assert out.first_new is not None and out.first_new.id == farm.hist.fix
    assert out.last_old is not None and out.last_old.id == farm.hist.last_bad
    assert out.request.origin_bug == 7
    assert {r.worker for s in out.steps for r in s.runs} == set(WORKERS)  # workers = 0: all
    assert not (farm.base / "service").exists()  # no worktree, no build on this host


def test_a_lost_worker_is_a_skipped_step_not_a_verdict(farm: Farm) -> None:
    """Stops the second worker: the tests after this one have one slot."""
    runner = BuildbotRunner(load_matrix(farm.matrix), farm.url, CELL, bisection="bb-lost",
                            poll_seconds=0.3)
    assert runner.slots == 2
    lost = sorted(WORKERS)[1]
    subprocess.run([str(localfarm.BIN_DIR / "buildbot-worker"), "stop",
                    str(farm.state.state_dir / "workers" / lost)], check=True,
                   capture_output=True, timeout=120)
    run = runner.run(CELL, farm.hist.breaking, 1)  # pinned to the worker that is gone
    assert run.result == "environment" and run.signature == ""
    assert f"worker {lost} is not connected" in run.title
    assert not [b for b in _bisection_builds(farm, "bb-lost") if b.get("complete")]
    # The request was cancelled: nothing is left to build when the worker comes back.
    deadline = time.monotonic() + 20
    while localfarm.api_get(farm.state, "buildrequests", complete="false")["buildrequests"]:
        assert time.monotonic() < deadline, "the lost worker's request was not cancelled"
        time.sleep(0.3)
    assert BuildbotRunner(load_matrix(farm.matrix), farm.url, CELL).slots == 1
    # The same runner moves the lost slot's next step to the worker still connected.
    again = runner.run(CELL, farm.hist.breaking, 1)
    assert again.worker == sorted(WORKERS)[0] and again.result == BOOT_FAILED
    assert again.signature == farm.signature


def test_a_master_gone_mid_bisection_is_an_error_not_a_commit(farm: Farm) -> None:
    """Last in the module: it stops the master."""
    hist = farm.hist
    seen: list[StepRun] = []
    stopped = threading.Event()

    def stop_master(_round: int, run: StepRun) -> None:
        seen.append(run)
        if not stopped.is_set():  # the master dies (killed: an outage, not a shutdown)
            stopped.set()
            pid = int((farm.state.master_dir / "twistd.pid").read_text().strip())
            os.kill(pid, signal.SIGKILL)

    settings = _settings(farm.base / "unused", runner="buildbot", buildbot_url=farm.url,
                         buildbot_outage_seconds=1)
    with pytest.raises(BisectError) as err:
        bisect_locally(settings, CELL, hist.root, hist.last_bad, kind=CAUSE,
                       signature=farm.signature, matrix=farm.matrix, tree=hist.path,
                       on_step=stop_master)
    assert stopped.is_set() and seen
    assert "runner: Buildbot at" in str(err.value)
