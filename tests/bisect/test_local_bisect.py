"""Bisections of the scripted fixture history with real builds and boots (local runner).

Every step checks a commit out in a slot's git worktree and runs ``python -m workers.cell``
with the farm's spec: make, the fixture tree's compiler, QEMU under TCG.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from farm.matrix import load_matrix
from tests.fixtures.ukhistory import History, make_history, write_matrix
from triage.ci.bisect.commits import CommitLog
from triage.ci.bisect.driver import run_bisection
from triage.ci.bisect.model import (
    BAD,
    CAUSE,
    FIX,
    FOUND,
    GOOD,
    INCONCLUSIVE,
    SKIP,
    BisectOutcome,
    BisectRequest,
    StepRun,
)
from triage.ci.bisect.runners import LocalRunner, RunnerError
from triage.config import BisectSettings
from workers.failure import BOOT_FAILED, BUILD_FAILED, PASSED

CELL = "hello-crc-kvm-x86_64"
LIBS = ("crc", "ring")
pytestmark = pytest.mark.slow  # real builds and boots: about a minute in all


def _require(name: str) -> None:
    if shutil.which(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required under CI but not installed")
        pytest.skip(f"{name} not installed")


@pytest.fixture(scope="module")
def hist(tmp_path_factory: pytest.TempPathFactory) -> History:
    for tool in ("make", "gcc", "qemu-system-x86_64"):
        _require(tool)
    return make_history(tmp_path_factory.mktemp("hist") / "repo")


@pytest.fixture(scope="module")
def signature(hist: History, tmp_path_factory: pytest.TempPathFactory) -> str:
    """S as the farm would report it: the breaking commit's failure."""
    runner = _runner(hist, tmp_path_factory.mktemp("sig"), 1)
    run = runner.run(CELL, hist.breaking, 0)
    assert run.result == BOOT_FAILED and run.signature, run
    return run.signature


def _runner(hist: History, work: Path, slots: int) -> LocalRunner:
    matrix = load_matrix(write_matrix(hist, work / "matrix.toml", libraries=LIBS))
    return LocalRunner(matrix, work / "bisect", slots=slots)


def _bisect(hist: History, work: Path, kind: str, old: str, new: str, sig: str, *,
            slots: int = 1, flake_rate: float = 0.0, max_builds: int = 12,
            max_repeats: int = 5, pipeline: bool = False) -> BisectOutcome:
    settings = BisectSettings(max_builds=max_builds, workers=slots, workdir=work / "bisect",
                              commit_url="https://example.org/uk/commit/{id}",
                              max_repeats=max_repeats, pipeline=pipeline)
    request = BisectRequest(kind, CELL, old, new, sig, flake_rate=flake_rate)
    return run_bisection(request, CommitLog(hist.path, settings.commit_url),
                         _runner(hist, work, slots), settings)


def _verdicts(out: BisectOutcome) -> dict[str, str]:
    return {s.commit.id: s.verdict for s in out.steps}


def test_cause_bisection_names_the_breaking_commit_and_skips_the_different_failure(
        hist: History, signature: str, tmp_path: Path) -> None:
    out = _bisect(hist, tmp_path, CAUSE, hist.root, hist.last_bad, signature)
    assert out.status == FOUND, out.reason
    assert out.first_new is not None and out.first_new.id == hist.breaking
    assert out.last_old is not None and out.last_old.id == hist.last_good
    assert out.first_new.subject == hist.subject(hist.breaking)
    assert out.first_new.url == f"https://example.org/uk/commit/{hist.breaking}"
    assert out.first_new.author
    verdicts = _verdicts(out)
    # the commit that fails differently was tested (first test point) and skipped, not bad
    assert verdicts[hist.different] == SKIP
    skipped = next(s for s in out.steps if s.commit.id == hist.different)
    assert skipped.runs[0].result == BUILD_FAILED and skipped.runs[0].signature != signature
    assert "failed differently" in skipped.reason
    # the bad end is checked first; the good end only when the answer rests on it
    assert verdicts[hist.last_bad] == BAD and hist.root not in verdicts
    assert verdicts[hist.last_good] == GOOD
    assert out.builds <= 12 and out.confidence == 1.0
    assert out.reproduce == f"xentriage ci bisect-step {CELL} {hist.breaking}"


def test_fix_bisection_names_the_fixing_commit(hist: History, signature: str,
                                               tmp_path: Path) -> None:
    out = _bisect(hist, tmp_path, FIX, hist.breaking, hist.tip, signature)
    assert out.status == FOUND, out.reason
    assert out.first_new is not None and out.first_new.id == hist.fix
    assert out.last_old is not None and out.last_old.id == hist.last_bad
    assert all(r.result == PASSED for s in out.steps if s.verdict == BAD for r in s.runs)


@pytest.mark.parametrize("pipeline", [False, True], ids=["rounds", "pipelined"])
def test_two_workers_agree_with_one_in_fewer_rounds(hist: History, signature: str,
                                                    tmp_path: Path, pipeline: bool) -> None:
    one = _bisect(hist, tmp_path / "one", CAUSE, hist.root, hist.last_bad, signature)
    two = _bisect(hist, tmp_path / "two", CAUSE, hist.root, hist.last_bad, signature,
                  slots=2, pipeline=pipeline)
    assert two.status == one.status == FOUND
    assert two.first_new == one.first_new
    assert two.rounds < one.rounds
    assert {r.worker for s in two.steps for r in s.runs} == {"local/0", "local/1"}


def test_only_skips_around_the_breaking_commit_is_inconclusive(tmp_path: Path,
                                                              signature: str) -> None:
    masked = make_history(tmp_path / "masked", masked=True)
    out = _bisect(masked, tmp_path, CAUSE, masked.root, masked.last_bad, signature)
    assert out.status == INCONCLUSIVE and out.first_new is None
    assert "only skipped commits" in out.reason
    assert [c.id for c in out.candidates] == [masked.different, masked.breaking,
                                              masked.different_fixed]


def test_flaky_step_beyond_the_budget_is_inconclusive_not_wrong(tmp_path: Path,
                                                               signature: str) -> None:
    flaky = make_history(tmp_path / "flaky", flaky=True)
    out = _bisect(flaky, tmp_path, CAUSE, flaky.root, flaky.last_bad, signature,
                  flake_rate=0.2, max_builds=12)
    assert out.status == INCONCLUSIVE and out.first_new is None
    assert out.reason.startswith("budget spent")
    assert flaky.breaking in [c.id for c in out.candidates]
    assert out.repeats == 3 and out.builds == 12


def test_flaky_step_with_budget_enough_names_the_right_commit(tmp_path: Path,
                                                             signature: str) -> None:
    flaky = make_history(tmp_path / "flaky", flaky=True)
    out = _bisect(flaky, tmp_path, CAUSE, flaky.root, flaky.last_bad, signature,
                  flake_rate=0.2, max_builds=60, slots=2, max_repeats=8)
    assert out.status == FOUND, out.reason
    assert out.first_new is not None and out.first_new.id == flaky.breaking
    flaked = [s for s in out.steps if s.commit.id in flaky.flaky and s.verdict == GOOD]
    assert flaked and any(r.result == BOOT_FAILED for s in flaked for r in s.runs)
    assert 0.95 <= out.confidence < 1.0


def test_the_app_is_paired_by_time_when_it_has_its_own_history(tmp_path: Path,
                                                              hist: History) -> None:
    app = tmp_path / "app"
    shutil.copytree(hist.path / "apps" / "hello", app)
    times = [int(t) for t in subprocess.run(
        ["git", "-C", str(hist.path), "log", "--format=%ct", hist.root, "-1"],
        check=True, capture_output=True, text=True).stdout.split()]
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org"}
    subprocess.run(["git", "init", "-q", str(app)], check=True)
    ids = []
    for i, when in enumerate((times[0] - 10, times[0] + 10**7)):
        (app / "NOTE").write_text(str(i))
        stamp = {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
        subprocess.run(["git", "-C", str(app), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(app), "commit", "-qm", f"app {i}"], check=True,
                       env={**env, **stamp})
        ids.append(subprocess.run(["git", "-C", str(app), "rev-parse", "HEAD"], check=True,
                                  capture_output=True, text=True).stdout.strip())
    matrix_file = write_matrix(hist, tmp_path / "matrix.toml", libraries=LIBS)
    matrix_file.write_text(matrix_file.read_text().replace('path = "apps/hello"',
                                                           f'path = "{app}"'))
    runner = LocalRunner(load_matrix(matrix_file), tmp_path / "bisect")
    run = runner.run(CELL, hist.root, 0)
    assert run.result == PASSED and run.app_commit == ids[0]
    assert "paired by commit time" in runner.pairing_text(CELL)


def test_cli_bisect_and_step(hist: History, signature: str, tmp_path: Path) -> None:
    from triage.cli import main

    matrix = write_matrix(hist, tmp_path / "matrix.toml", libraries=LIBS)
    config = tmp_path / "xentriage.toml"
    config.write_text(f'[bisect]\nworkdir = "{tmp_path / "work"}"\n')
    cli = CliRunner()
    args = ["--config", str(config), "ci", "bisect", CELL, hist.root[:10], hist.last_bad,
            "--matrix", str(matrix), "--workers", "2"]
    res = cli.invoke(main, [*args, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == FOUND and doc["first_new"]["id"] == hist.breaking
    assert doc["request"]["signature"] == signature  # read off the bad end's first run
    text = cli.invoke(main, args)
    assert text.exit_code == 0
    assert f"first bad:    {hist.breaking}" in text.stdout
    assert "steps (in the order tested)" in text.stdout and "skip" in text.stdout
    # inconclusive: exit 6, the reason said
    res = cli.invoke(main, [*args, "--max-builds", "3"])
    assert res.exit_code == 6 and "budget spent" in res.stdout
    # bad input: exit 7 before any build
    assert cli.invoke(main, [*args[:4], "no-such-cell", *args[5:]]).exit_code == 7
    assert cli.invoke(main, [*args[:5], "nope", *args[6:]]).exit_code == 7
    res = cli.invoke(main, ["--config", str(config), "ci", "bisect-step", CELL, hist.breaking,
                            "--matrix", str(matrix), "--json"])
    assert res.exit_code == 0, res.output
    step = json.loads(res.stdout)
    assert step["result"] == BOOT_FAILED and step["signature"] == signature


def test_a_broken_slot_worktree_is_made_again(hist: History, tmp_path: Path) -> None:
    runner = _runner(hist, tmp_path, 1)
    assert runner.run(CELL, hist.root, 0).result == PASSED
    tree = runner.slot_dir(runner.cell(CELL), 0) / "tree"
    (tree / ".git").write_text("gitdir: /nonexistent\n")  # its repository entry is gone
    again = runner.run(CELL, hist.breaking, 0)
    assert again.result == BOOT_FAILED, again
    # and a commit the repository does not have is an environment skip, not a crash
    missing = runner.run(CELL, "0" * 40, 0)
    assert missing.result == "environment" and "runner: git checkout" in missing.title


def test_a_step_stopped_at_boot_returns_at_once_and_the_slot_builds_on(hist: History,
                                                                      tmp_path: Path) -> None:
    """cancel() during a real boot: the run comes back marked stopped, and the slot's next
    step (same build directory) still gets its right verdict."""
    import threading
    import time

    from triage.ci.bisect.runners import last_phase

    runner = _runner(hist, tmp_path, 1)
    assert runner.run(CELL, hist.root, 0).result == PASSED
    stopped = None
    for _ in range(20):  # the boot lasts a fraction of a second: catch it in one of the tries
        out: list[StepRun] = []

        def step(res: list[StepRun] = out) -> None:
            res.append(runner.run(CELL, hist.breaking, 0))
        worker = threading.Thread(target=step)
        worker.start()
        while worker.is_alive():
            log = runner.last_log
            if log is not None and last_phase(log) == "boot" and runner.cancel(0):
                break
            time.sleep(0.002)
        worker.join(timeout=60)
        if "stopped" in out[0].title:
            stopped = out[0]
            break
    assert stopped is not None, "no boot was caught in 20 tries"
    assert runner.cancel(0) is False
    again = runner.run(CELL, hist.breaking, 0)
    assert again.result == BOOT_FAILED and again.signature


def test_a_slot_keeps_its_config_while_no_kconfig_input_changes(hist: History, signature: str,
                                                               tmp_path: Path) -> None:
    runner = _runner(hist, tmp_path, 1)
    kept = "kept the .config of the last configure"
    verdicts = []
    for commit in (hist.root, hist.commits[1], hist.breaking, hist.root):
        run = runner.run(CELL, commit, 0)
        assert runner.last_log is not None
        verdicts.append((run.result, run.signature, kept in runner.last_log.read_text()))
    assert verdicts[0] == (PASSED, "", False)  # the slot's first configure
    assert verdicts[1] == (PASSED, "", True)  # a README/source change: .config kept
    assert verdicts[2] == (BOOT_FAILED, signature, True)  # same verdict as configured afresh
    assert verdicts[3] == (PASSED, "", True)  # and back
    off = LocalRunner(runner.matrix, tmp_path / "off", keep_config=False)
    for commit in (hist.root, hist.breaking):
        assert off.run(CELL, commit, 0).result in (PASSED, BOOT_FAILED)
        assert off.last_log is not None and kept not in off.last_log.read_text()


def test_kconfig_inputs_that_change_force_a_configure(tmp_path: Path) -> None:
    from triage.ci.bisect.runners import config_inputs_changed

    repo = tmp_path / "r"
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    ids = []
    for rel in ("lib/a/a.c", "README.md", "lib/a/Config.uk", "lib/a/a.h", "support/kconfig/x",
                "lib/b/Makefile.uk", "configs/x86_defconfig", "apps/hello/main.c"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(f"{rel}\n")
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", rel], check=True, env=env)
        ids.append(subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                                  capture_output=True, text=True).stdout.strip())
    changed = [config_inputs_changed(repo, a, b) for a, b in itertools.pairwise(ids)]
    assert changed == [False, True, False, True, True, True, False]
    assert config_inputs_changed(repo, ids[3], ids[1]) is True  # either direction
    assert config_inputs_changed(repo, ids[0], ids[0]) is False
    assert config_inputs_changed(repo, ids[0], "0" * 40) is True  # git cannot tell: configure


def test_slots_pinned_to_cpus_run_their_steps_there(hist: History, tmp_path: Path) -> None:
    """``slot_cpus`` (the bench's one core per worker): each slot's step, and what it starts,
    runs on its own CPU set. The step's python is a wrapper that records its affinity."""
    cpus = sorted(os.sched_getaffinity(0))
    seen = tmp_path / "affinity"
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status >> {seen}\n"
                       f"exec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    matrix = load_matrix(write_matrix(hist, tmp_path / "matrix.toml", libraries=LIBS))
    last = frozenset({cpus[-1]})
    runner = LocalRunner(matrix, tmp_path / "bisect", slots=1, python=str(wrapper),
                         slot_cpus=[last])
    assert runner.run(CELL, hist.root, 0).result == PASSED
    assert seen.read_text().split() == ["Cpus_allowed_list:", str(cpus[-1])]
    with pytest.raises(RunnerError, match="slot_cpus"):
        LocalRunner(matrix, tmp_path / "b2", slots=2, slot_cpus=[last])
