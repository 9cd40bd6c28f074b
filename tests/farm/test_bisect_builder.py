"""The master's bisection builders and scheduler as master.cfg builds them, the property that
keeps their builds out of the cell history, and the triage runner's errors without a master."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from buildbot.steps.source.git import Git

from farm import bisect_protocol as proto
from farm.bisect_builder import BisectCell, PinnedGit, bisect_factory, pinned_worker
from farm.buildbot_config import build_master_config, load_master_settings
from farm.localfarm import free_port
from farm.matrix import load_matrix
from farm.reporter import cell_result
from triage.ci.bisect.buildbot_runner import BuildbotRunner
from triage.ci.bisect.local import BisectError, bisect_locally
from triage.ci.bisect.model import CAUSE
from triage.ci.bisect.runners import RunnerError, RunnerUnavailable
from triage.config import BisectSettings, ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "ci" / "matrix.toml"


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    (tmp_path / "farm.json").write_text(json.dumps({
        "matrix": str(MATRIX), "workers": str(REPO / "ci" / "workers.json"), **extra}))
    return build_master_config(load_master_settings(tmp_path, REPO / "ci"))


def test_a_bisection_builder_beside_each_real_builder_with_its_workers(tmp_path: Path) -> None:
    c = _config(tmp_path)
    real = {b.name: b for b in c["builders"] if "farm" in b.tags}
    twins = {b.name: b for b in c["builders"] if proto.TAG in b.tags}
    assert set(twins) == {proto.builder_name(n) for n in real}
    for name, builder in real.items():
        twin = twins[proto.builder_name(name)]
        assert twin.workernames == builder.workernames  # the same routing (farm.routing)
        assert twin.canStartBuild is pinned_worker and twin.collapseRequests is False
        # No app of ci/matrix.toml has a history of its own: no app checkout step.
        assert [s.step_class for s in twin.factory.steps] == [Git, BisectCell]
    sched = next(s for s in c["schedulers"] if s.name == proto.SCHEDULER)
    assert sorted(sched.builderNames) == sorted(twins)
    # Only the force scheduler feeds them: no change or nightly run builds a bisection step.
    for other in c["schedulers"]:
        if other.name != proto.SCHEDULER:
            assert not set(other.builderNames) & set(twins)
    # kvm/arm64 only on the worker that boots it, for bisections too.
    assert twins["bisect-kvm-arm64"].workernames == ["x86-qemu"]


def test_bisection_builders_can_be_turned_off(tmp_path: Path) -> None:
    c = _config(tmp_path, bisect_builders=False)
    assert not [b for b in c["builders"] if proto.TAG in b.tags]
    assert proto.SCHEDULER not in {s.name for s in c["schedulers"]}


class _Props:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def getProperty(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class _Request:
    def __init__(self, **props: Any) -> None:
        self.properties = _Props(**props)


class _WorkerForBuilder:
    def __init__(self, name: str) -> None:
        self.worker = type("W", (), {"workername": name})()


def test_a_step_runs_on_the_worker_of_its_slot() -> None:
    assert pinned_worker(None, _WorkerForBuilder("a"), _Request(bisect_worker="a"))
    assert not pinned_worker(None, _WorkerForBuilder("b"), _Request(bisect_worker="a"))
    assert pinned_worker(None, _WorkerForBuilder("b"), _Request())  # unpinned: any worker


def _build(**props: Any) -> dict[str, Any]:
    return {"buildid": 9, "url": "http://127.0.0.1/#/builders/1/builds/3",
            "properties": {k: [v, "test"] for k, v in props.items()}}


def test_the_push_reporter_leaves_bisection_builds_out() -> None:
    verdict = {"cell": "hello-crc-kvm-x86_64", "cell_result": "boot_failed",
               "signature": "0123456789abcdef", "revision": "a" * 40}
    pushed = cell_result(_build(**verdict), "farm")
    assert pushed is not None and pushed["cell"] == "hello-crc-kvm-x86_64"
    assert cell_result(_build(**verdict, bisection="cause:x:1..2"), "farm") is None
    assert proto.is_bisection_build({"bisection": "b1"})
    assert not proto.is_bisection_build({"bisection": ["", "src"]})
    assert not proto.is_bisection_build(None)


def test_the_buildbot_runner_without_a_master_is_a_clear_error(tmp_path: Path) -> None:
    matrix = load_matrix(MATRIX)
    cell = matrix.cells()[0].name
    with pytest.raises(RunnerError, match=r"bisect\.buildbot_url"):
        BuildbotRunner(matrix, "", cell)
    with pytest.raises(RunnerError, match="no cell"):
        BuildbotRunner(matrix, "http://127.0.0.1:1/", "no-such-cell")
    runner = BuildbotRunner(matrix, f"http://127.0.0.1:{free_port()}/", cell)
    with pytest.raises(RunnerUnavailable, match=r"Buildbot at http://127\.0\.0\.1"):
        _ = runner.slots
    settings = BisectSettings(runner="buildbot", buildbot_url=runner.url, workdir=tmp_path)
    with pytest.raises(BisectError, match="Buildbot at"):
        bisect_locally(settings, cell, "HEAD~1", "HEAD", kind=CAUSE, signature="s",
                       matrix=MATRIX, tree=REPO)


def test_bisect_runner_settings_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[bisect]\nrunner = "buildbot"\nbuildbot_url = "http://127.0.0.1:8010/"\n')
    settings = load_settings(path)
    assert settings.bisect.runner == "buildbot"
    assert settings.bisect.buildbot_url == "http://127.0.0.1:8010/"
    path.write_text('[bisect]\nrunner = "ssh"\n')
    with pytest.raises(ConfigError, match=r"bisect\.runner"):
        load_settings(path)


def test_bisect_step_with_the_master_down_says_so(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from triage.cli import main

    config = tmp_path / "x.toml"
    config.write_text(f'[bisect]\nrunner = "buildbot"\nworkdir = "{tmp_path}"\n'
                      f'buildbot_url = "http://127.0.0.1:{free_port()}/"\n')
    cell = load_matrix(MATRIX).cells()[0].name
    repo = tmp_path / "repo"  # a one-commit tree repository: the step's revision resolves
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.org",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.org"}
    for args in (["init", "-q", str(repo)], ["-C", str(repo), "commit", "-q",
                                             "--allow-empty", "-m", "one"]):
        subprocess.run(["git", *args], check=True, capture_output=True,
                       env={**os.environ, **env})
    res = CliRunner().invoke(main, ["--config", str(config), "ci", "bisect-step", cell, "HEAD",
                                    "--tree", str(repo), "--matrix", str(MATRIX)])
    assert res.exit_code == 7, res.output
    assert "error: runner: Buildbot at http://127.0.0.1" in res.output


def test_the_farm_run_table_leaves_bisection_builds_out() -> None:
    from farm.table import rows_from_builds

    farm_build = {"buildid": 1, "complete": True, "results": 0, "state_string": "ok",
                  "props": {"cell": "c1", "cell_result": "passed"}}
    step = {"buildid": 2, "complete": True, "results": 2, "state_string": "failed",
            "props": {"cell": "c1", "cell_result": "boot-failed", "bisection": "cause:c1"}}
    assert [(r.cell, r.result) for r in rows_from_builds([farm_build, step])] == [
        ("c1", "passed")]


def test_an_app_with_its_own_history_gets_its_checkout_step(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / ".git").mkdir()  # what app_repository looks for
    text = MATRIX.read_text(encoding="utf-8").replace('path = "apps/hello"', f'path = "{app}"')
    tree = REPO / "tests" / "fixtures" / "uktree"
    text = text.replace('path = "../tests/fixtures/uktree"', f'path = "{tree}"')
    (tmp_path / "matrix.toml").write_text(text, encoding="utf-8")
    matrix = load_matrix(tmp_path / "matrix.toml")
    cells = {c.name: c for c in matrix.cells()}
    assert proto.app_repository(next(iter(cells.values()))) == str(app)
    factory = bisect_factory(matrix, cells, frozenset())
    assert [s.step_class for s in factory.steps] == [Git, PinnedGit, BisectCell]
