"""``python -m workers.cell``: one cell of the committed matrix, fragment to verdict, on the
fixture tree with real make, gcc and QEMU, exactly as a farm worker runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farm import fragments
from farm.matrix import Cell, load_matrix
from workers.cell import PHASE_MARKER, RESULT_MARKER, CellSpec

from .conftest import REPO, require_binary

MATRIX = load_matrix(REPO / "ci" / "matrix.toml")
CELLS = {c.name: c for c in MATRIX.cells()}


def run(args: list[str], timeout: float = 120) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "workers.cell", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    last = proc.stdout.splitlines()[-1]
    assert last.startswith(RESULT_MARKER), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, proc.stdout, json.loads(last[len(RESULT_MARKER):])


def spec(cell: Cell, build_dir: Path) -> str:
    return fragments.cell_spec(cell, str(cell.tree.path), str(build_dir), MATRIX.farm).to_json()


@pytest.fixture(scope="module")
def tools() -> None:
    for binary in ("make", "gcc", "aarch64-linux-gnu-gcc", "qemu-system-x86_64"):
        require_binary(binary)


def test_a_passing_cell_reports_every_phase_and_its_figures(tools: None, tmp_path: Path) -> None:
    rc, out, verdict = run(["--spec-json", spec(CELLS["hello-base-kvm-x86_64"], tmp_path)])
    assert rc == 0 and verdict["cell_result"] == "passed", verdict
    phases = [ln.split(":", 1)[0][len(PHASE_MARKER):] for ln in out.splitlines()
              if ln.startswith(PHASE_MARKER)]
    assert phases == ["configure", "build", "boot"]
    assert verdict["image_size"] > 0 and verdict["build_seconds"] > 0
    assert verdict["boot_seconds"] > 0 and verdict["boot_status"] == "passed"
    assert (tmp_path / "xentriage.fragment").read_text().startswith("# xentriage cell")
    assert "Hello from xentriage" in (tmp_path / "console.log").read_text()
    # The persistent build directory makes the second run incremental.
    rc2, _, again = run(["--spec-json", spec(CELLS["hello-base-kvm-x86_64"], tmp_path)])
    assert rc2 == 0 and again["build_seconds"] < verdict["build_seconds"] + 1


def test_compiler_error_is_the_reason(tools: None, tmp_path: Path) -> None:
    rc, _, verdict = run(["--spec-json", spec(CELLS["hello-cpuid-kvm-arm64"], tmp_path)])
    assert rc == 1 and verdict["cell_result"] == "build-failed"
    assert "fatal error: cpuid.h" in verdict["result_reason"]
    assert verdict["phase"] == "build" and verdict["boot_status"] is None


def test_dropped_symbol_is_unsupported_and_names_the_dependency(tools: None,
                                                                tmp_path: Path) -> None:
    rc, _, verdict = run(["--spec-json", spec(CELLS["hello-netdev-xen-x86_64"], tmp_path)])
    assert rc == 3 and verdict["cell_result"] == "unsupported"
    assert "PLAT_KVM" in verdict["result_reason"]
    assert [d["symbol"] for d in verdict["dropped"]] == ["CONFIG_LIBNETDEV"]
    assert verdict["build_seconds"] is None  # nothing was built


def test_panic_and_no_booter(tools: None, tmp_path: Path) -> None:
    rc, out, verdict = run(["--spec-json", spec(CELLS["hello-entropy-kvm-x86_64"],
                                                tmp_path / "a")])
    assert rc == 1 and verdict["cell_result"] == "boot-failed"
    assert "failed at boot" in verdict["result_reason"] and "PANIC" in out
    # xen: built, but this machine boots no xen guests -> not verified, not failed.
    rc, _, verdict = run(["--spec-json", spec(CELLS["hello-base-xen-x86_64"], tmp_path / "b")])
    assert rc == 3 and verdict["cell_result"] == "boot-skipped"
    assert verdict["image_size"] > 0 and verdict["boot_seconds"] is None


def test_spec_from_a_file_and_bad_specs(tmp_path: Path) -> None:
    good = json.loads(spec(CELLS["hello-base-kvm-x86_64"], tmp_path / "cell"))
    for doc, words in (
        ("{not json", "bad cell spec"),
        ("[1]", "must be a JSON object"),
        (json.dumps({**good, "extra": 1}), "unknown cell spec key 'extra'"),
        (json.dumps({k: v for k, v in good.items() if k != "build"}), "lacks 'build'"),
    ):
        path = tmp_path / "spec.json"
        path.write_text(doc)
        rc, _, verdict = run(["--spec", str(path)])
        assert rc == 4 and verdict["cell_result"] == "environment", doc
        assert words in verdict["result_reason"], verdict
    assert CellSpec.from_json(json.dumps(good)).name == "hello-base-kvm-x86_64"


def test_missing_tool_is_the_workers_fault_not_a_crash(tmp_path: Path) -> None:
    doc = json.loads(spec(CELLS["hello-base-kvm-x86_64"], tmp_path))
    doc["defconfig"] = ["/nonexistent/make", "defconfig"]
    rc, out, verdict = run(["--spec-json", json.dumps(doc)])
    assert rc == 4 and verdict["cell_result"] == "environment"
    assert "make not found on the worker" in verdict["result_reason"]
    assert "cannot run /nonexistent/make" in out and verdict["signature"]
    assert any("cannot run /nonexistent/make" in ln for ln in verdict["evidence"])


def test_bad_boot_options_are_an_error_with_a_verdict(tools: None, tmp_path: Path) -> None:
    doc = json.loads(spec(CELLS["hello-base-kvm-x86_64"], tmp_path))
    doc["boot"] = ["--platform", "pdp11"]
    rc, _, verdict = run(["--spec-json", json.dumps(doc)])
    assert rc == 4 and verdict["cell_result"] == "environment"
    assert "bad boot options" in verdict["result_reason"] and verdict["image_size"] > 0


def test_preflight_names_the_missing_host_tools(tmp_path: Path) -> None:
    from workers import preflight

    kconfig = tmp_path / "tree" / "support" / "kconfig"
    kconfig.mkdir(parents=True)
    (kconfig / "lexer.l").write_text("%%\n")
    (kconfig / "parser.y").write_text("%%\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    (empty / "make").write_text("#!/bin/sh\n")
    (empty / "make").chmod(0o755)
    missing = preflight.missing_tools(tmp_path / "tree", ["make", "CROSS_COMPILE=aarch64-x-"],
                                      str(empty))
    assert [m.split()[0] for m in missing] == ["aarch64-x-gcc", "flex", "bison"]
    assert "lexer.l" in missing[1]
    # The fixture tree needs no flex: only make and the compiler.
    assert set(preflight.needed_tools(REPO / "tests/fixtures/uktree", ["make"])) == {"make",
                                                                                    "gcc"}


def test_a_boot_routed_to_a_worker_that_cannot_run_it_is_environment(tools: None,
                                                                      tmp_path: Path) -> None:
    """The master routed the boot here because this worker declared it could run it: a VMM
    that is not there is the worker's problem, not "no capable worker"."""
    from workers.runners.xen import XenRunner

    if XenRunner().availability("x86_64").ok:
        pytest.skip("this machine is a Xen dom0")
    doc = json.loads(spec(CELLS["hello-base-xen-x86_64"], tmp_path))
    rc, _, verdict = run(["--spec-json", json.dumps(doc)])
    assert rc == 3 and verdict["cell_result"] == "boot-skipped"
    doc["boot_expected"] = True
    rc, _, verdict = run(["--spec-json", json.dumps(doc)])
    assert rc == 4 and verdict["cell_result"] == "environment", verdict
    assert "cannot run it" in verdict["result_reason"] and verdict["signature"]
