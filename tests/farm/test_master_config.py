"""ci/master.cfg as Buildbot loads it, and the `xentriage farm cells` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from twisted.internet import defer

from farm.buildbot_config import build_master_config, load_master_settings
from farm.matrix import load_matrix
from farm.steps import RunCell
from triage.cli.cmd_farm import command as farm_command

REPO = Path(__file__).resolve().parents[2]
BUILDBOT = Path(sys.executable).parent / "buildbot"


def test_buildbot_checkconfig_passes_on_ci_dir() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([str(BUILDBOT), "checkconfig", "ci/"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Config file is good!" in proc.stdout


def test_config_has_few_real_builders_and_no_collapsing(tmp_path: Path) -> None:
    (tmp_path / "farm.json").write_text(json.dumps({
        "matrix": str(REPO / "ci" / "matrix.toml"), "workers": str(REPO / "ci" / "workers.json"),
        "pb_port": 1, "www_port": 2,
    }))
    settings = load_master_settings(tmp_path, REPO / "ci")
    c = build_master_config(settings)
    cells = load_matrix(settings.matrix).cells()
    farm_builders = [b for b in c["builders"] if "farm" in b.tags]
    assert len(farm_builders) == len({cell.real_builder for cell in cells}) <= 8
    assert all(b.collapseRequests is False for b in c["builders"])
    assert c["protocols"]["pb"]["port"] == "tcp:1:interface=127.0.0.1"
    assert c["www"]["port"] == "tcp:2:interface=127.0.0.1"
    assert {s.name for s in c["schedulers"]} == {"on-change", "nightly", "force-cells",
                                                 "bisect-steps"}
    # Routing from ci/workers.json: kvm/arm64 only on the worker that boots it.
    kvm_arm = next(b for b in c["builders"] if b.name == "kvm-arm64")
    assert kvm_arm.workernames == ["x86-qemu"]


def test_farm_settings_reject_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "farm.json").write_text(json.dumps({"wwwport": 1}))
    try:
        load_master_settings(tmp_path, REPO / "ci")
    except ValueError as exc:
        assert "wwwport" in str(exc)
    else:
        raise AssertionError("unknown key accepted")


def test_cells_command_lists_the_expansion_as_json() -> None:
    result = CliRunner().invoke(farm_command, ["cells", "--json",
                                               "--matrix", str(REPO / "ci" / "matrix.toml")])
    assert result.exit_code == 0, result.output
    cells = json.loads(result.output)
    assert len(cells) == len(load_matrix(REPO / "ci" / "matrix.toml").cells())
    first = cells[0]
    assert set(first) >= {"name", "libraries", "platform", "arch", "builder"}


def test_cells_command_reports_invalid_matrix(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text("[farm]\njbos = 2\n")
    result = CliRunner().invoke(farm_command, ["cells", "--matrix", str(bad)])
    assert result.exit_code == 3 and "farm.jbos" in result.output


def test_git_tree_adds_the_update_step(tmp_path: Path) -> None:
    text = (REPO / "ci" / "matrix.toml").read_text().replace(
        'path = "../tests/fixtures/uktree"',
        'url = "https://git.example.org/unikraft.git"\nbranch = "staging"')
    (tmp_path / "matrix.toml").write_text(text)
    (tmp_path / "farm.json").write_text(json.dumps({
        "matrix": str(tmp_path / "matrix.toml"), "workers": str(REPO / "ci" / "workers.json")}))
    c = build_master_config(load_master_settings(tmp_path, REPO / "ci"))
    factory_steps = c["builders"][0].factory.steps
    assert [s.kwargs.get("name") for s in factory_steps] == ["update tree", None]
    assert factory_steps[1].step_class is RunCell
    cell = load_matrix(tmp_path / "matrix.toml").cells()[0]
    assert cell.tree.is_git and cell.tree.branch == "staging"


def test_one_cell_step_cheap_distribution_and_caches_sized_to_the_matrix() -> None:
    c = build_master_config(load_master_settings(Path("/nonexistent"), REPO / "ci"))
    cells = load_matrix(REPO / "ci" / "matrix.toml").cells()
    # Without a git tree the build is one step: configure, check, build and boot are phases of
    # one remote command (each Buildbot step costs database writes and round trips).
    assert [s.step_class for s in c["builders"][0].factory.steps] == [RunCell]
    # A pending request per cell must stay cached across distribution rounds.
    assert c["caches"]["BuildRequests"] >= len(cells)

    class Builder:
        def __init__(self, name: str, running: int) -> None:
            self.name, self.building = name, [object()] * running

        def getAvailableWorkers(self) -> list[object]:
            return [object()]

    class Data:  # an empty build history
        def get(self, path: tuple[str, ...], **kw: object) -> defer.Deferred[list[object]]:
            return defer.succeed([])

    class Master:
        data = Data()

    # No request pending anywhere: the least busy builders first.
    builders = [Builder("kvm-x86_64", 2), Builder("xen-x86_64", 0), Builder("fc-arm64", 1)]
    for b in builders:
        c["prioritizeBuilders"].__self__.note_requested(b.name, [])
    sorted_builders: list[list[Builder]] = []
    c["prioritizeBuilders"](Master(), builders).addCallback(sorted_builders.append)
    assert [b.name for b in sorted_builders[0]] == ["xen-x86_64", "fc-arm64", "kvm-x86_64"]
