"""The fixture Rumprun tree's cells on a real Buildbot master and worker (ci/matrix-rumprun.toml):
every failure class, one platform build reused by every app cell, ``halted`` and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from farm import localfarm
from farm.matrix import load_matrix

from .conftest import RunningFarm, require_binaries

pytestmark = pytest.mark.slow

MATRIX = Path(__file__).resolve().parents[2] / "ci" / "matrix-rumprun.toml"
SUCCESS, FAILURE, SKIPPED, EXCEPTION = 0, 2, 3, 4


@pytest.fixture(scope="module")
def rr_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFarm]:
    require_binaries()
    state_dir = tmp_path_factory.mktemp("rrfarm")
    plans = [localfarm.WorkerPlan("full", max_builds=2)]
    probes = {p.name: localfarm.probe(localfarm.worker_env(p, state_dir)) for p in plans}
    try:
        yield RunningFarm(localfarm.up(state_dir, MATRIX, plans, probes=probes), probes)
    finally:
        localfarm.down(state_dir)


@pytest.fixture(scope="module")
def builds(rr_farm: RunningFarm) -> dict[str, dict[str, Any]]:
    return {b["props"]["cell"]: b for b in rr_farm.run_all(timeout=300)}


def verdict(farm: RunningFarm, build: dict[str, Any]) -> dict[str, Any]:
    steps = localfarm.api_get(farm.state, f"builds/{build['buildid']}/steps")["steps"]
    cell = next(s for s in steps if s["name"] == "cell")
    resp = requests.get(f"{farm.state.api}/steps/{cell['stepid']}/logs/stdio/raw",
                        headers=localfarm.PLAIN, timeout=30)
    resp.raise_for_status()
    line = next(ln for ln in reversed(resp.text.splitlines())
                if "XENTRIAGE-CELL-RESULT " in ln)
    out: dict[str, Any] = json.loads(line.split("XENTRIAGE-CELL-RESULT ", 1)[1])
    out["_log"] = resp.text
    return out


def test_every_rumprun_cell_ran(builds: dict[str, dict[str, Any]]) -> None:
    assert set(builds) == {c.name for c in load_matrix(MATRIX).cells()}


@pytest.mark.parametrize("cell,result,bb,words", [
    ("hello-hw_generic-hw-x86_64", "passed", SUCCESS, 'returned 0, halted'),
    ("hello-hw_virtio-hw-x86_64", "passed", SUCCESS, 'returned 0, halted'),
    ("hello-hw_generic-hw-arm64", "unsupported", SKIPPED, "x86_64 only"),
    ("hello-xen_pv-xen-x86_64", "boot-skipped", SKIPPED, "boot skipped"),
    ("exit3-hw_generic-hw-x86_64", "boot-failed", FAILURE, 'returned 3'),
    ("trap-hw_generic-hw-x86_64", "boot-failed", FAILURE, "FATAL TRAP: invalid opcode"),
    ("spin-hw_generic-hw-x86_64", "boot-timeout", FAILURE, "did not return within 4 s"),
    ("undef-hw_generic-hw-x86_64", "build-failed", FAILURE,
     "undefined reference to no_such_function"),
    ("nocommon-hw_generic-hw-x86_64", "environment", EXCEPTION, "-fcommon"),
])
def test_each_class(builds: dict[str, dict[str, Any]], cell: str, result: str, bb: int,
                    words: str) -> None:
    props = builds[cell]["props"]
    assert props["cell_result"] == result, props["result_reason"]
    assert builds[cell]["results"] == bb
    assert words in props["result_reason"]
    if result not in ("passed", "unsupported", "boot-skipped"):
        assert props["signature"]


def test_platform_build_cached_across_app_cells(rr_farm: RunningFarm,
                                                builds: dict[str, dict[str, Any]]) -> None:
    hw = [verdict(rr_farm, b) for name, b in builds.items()
          if name.endswith("-hw-x86_64") and not name.startswith("nocommon")]
    records = [v["runner"]["platform_build"] for v in hw]
    assert len({r["key"] for r in records}) == 1
    assert [r["cached"] for r in records].count(False) == 1, records
    # The app is compiled once for both of hello's bake configurations.
    hellos = [v for v in hw if v["cell"].startswith("hello-")]
    assert sum("compile_seconds" in v["runner"] for v in hellos) == 1


def test_halted_guest_is_stopped_and_exit_codes_read(rr_farm: RunningFarm,
                                                     builds: dict[str, dict[str, Any]]) -> None:
    ok = verdict(rr_farm, builds["hello-hw_generic-hw-x86_64"])
    assert "\nhalted" in ok["_log"] and ok["runner"]["exit_code"] == 0
    assert ok["boot_seconds"] < 15  # stopped at "halted", not at the 20 s timeout
    bad = verdict(rr_farm, builds["exit3-hw_generic-hw-x86_64"])
    assert bad["runner"]["exit_code"] == 3 and "=== ERROR: _exit(3) called ===" in bad["_log"]
    undef = verdict(rr_farm, builds["undef-hw_generic-hw-x86_64"])
    assert "Not rumprun bin?" not in undef["_log"]  # stopped at cc: no bake cascade
