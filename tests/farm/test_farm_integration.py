"""The whole fixture matrix on a real Buildbot master with two differently capable workers.

Results are read back through Buildbot's REST API on 127.0.0.1, exactly as the triage
service's backfill sweep reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from farm import localfarm
from farm.matrix import load_matrix
from farm.routing import capabilities_from_probe
from farm.table import rows_from_builds

from .conftest import MATRIX, RunningFarm

pytestmark = pytest.mark.slow

SUCCESS, WARNINGS, FAILURE, SKIPPED, EXCEPTION = 0, 1, 2, 3, 4


@pytest.fixture(scope="module")
def full_run(farm: RunningFarm) -> dict[str, dict[str, Any]]:
    builds = farm.run_all()
    return {b["props"]["cell"]: b for b in builds}


def cell_log(farm: RunningFarm, buildid: int, log: str = "stdio") -> str:
    steps = localfarm.api_get(farm.state, f"builds/{buildid}/steps")["steps"]
    assert [s["name"] for s in steps] == ["worker_preparation", "cell"]
    resp = requests.get(f"{farm.state.api}/steps/{steps[1]['stepid']}/logs/{log}/raw",
                        headers=localfarm.PLAIN, timeout=30)
    resp.raise_for_status()
    return resp.text


def test_every_cell_ran_once_as_its_own_virtual_builder(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    expected = {c.name for c in load_matrix(MATRIX).cells()}
    assert set(full_run) == expected
    builders = localfarm.api_get(farm.state, "builders")["builders"]
    by_id = {b["builderid"]: b["name"] for b in builders}
    # Each build is filed under the cell's virtual builder, not the real (platform, arch) one.
    assert {by_id[b["builderid"]] for b in full_run.values()} == expected
    real = {b["name"] for b in builders if "bisect" not in b["tags"]} - expected
    assert real <= {f"{p}-{a}" for p in ("kvm", "fc", "xen", "linuxu")
                    for a in ("x86_64", "arm64")}


def test_cells_ran_on_workers_able_to_build_and_boot_them(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    caps = {name: capabilities_from_probe(p) for name, p in farm.probes.items()}
    assert "arm64" in caps["full"][0] and "arm64" not in caps["bare"][0]
    assert not {b for b in caps["bare"][1] if b[0] == "kvm"}, "bare must not boot kvm"
    cells = {c.name: c for c in load_matrix(MATRIX).cells()}
    workers_used = set()
    for name, build in full_run.items():
        cell, worker = cells[name], build["props"]["workername"]
        workers_used.add(worker)
        assert cell.arch.name in caps[worker][0], f"{name} built on {worker}"
        bootable_somewhere = any((cell.platform.boot_platform, cell.arch.name) in c[1]
                                 for c in caps.values())
        if bootable_somewhere:
            assert (cell.platform.boot_platform, cell.arch.name) in caps[worker][1], \
                f"{name} ran on {worker}, which cannot boot it"
            assert build["props"]["cell_result"] != "boot-skipped", name
    assert workers_used == {"full", "bare"}


def test_each_kind_of_result(farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    rows = {r.cell: r for r in rows_from_builds(full_run.values())}

    def check(cell: str, result: str, bb_result: int, *words: str) -> None:
        row = rows[cell]
        assert row.result == result, (cell, row)
        assert full_run[cell]["results"] == bb_result, (cell, full_run[cell]["results"])
        for w in words:
            assert w.lower() in row.reason.lower(), (cell, row.reason)

    # passed: built, booted, success line seen; the properties a reporter needs are there.
    for cell in ("hello-base-kvm-x86_64", "hello-base-kvm-arm64", "hello-crc-kvm-x86_64",
                 "hello-base-linuxu-x86_64"):
        check(cell, "passed", SUCCESS)
        props = full_run[cell]["props"]
        assert props["image_size"] > 0 and props["build_seconds"] > 0
        assert props["boot_seconds"] is not None and props["boot_seconds"] > 0
    # The log shows every phase, and the verdict the properties came from.
    log = cell_log(farm, full_run["hello-base-kvm-x86_64"]["buildid"])
    for phase in ("configure", "build", "boot"):
        assert f"XENTRIAGE-PHASE {phase}:" in log
    assert "Hello from xentriage" in log and "XENTRIAGE-CELL-RESULT " in log
    # failed at build, with the compiler's error in the log and the reason.
    check("hello-cpuid-kvm-arm64", "build-failed", FAILURE, "build failed", "cpuid.h")
    assert "fatal error: cpuid.h" in cell_log(farm, full_run["hello-cpuid-kvm-arm64"]["buildid"])
    check("hello-cpuid-kvm-x86_64", "passed", SUCCESS)
    # failed at boot: a panic on kvm/x86_64 only; the console gets a log of its own.
    check("hello-entropy-kvm-x86_64", "boot-failed", FAILURE, "failed at boot")
    console = cell_log(farm, full_run["hello-entropy-kvm-x86_64"]["buildid"], "console")
    assert "panic" in console.lower()
    assert "XENTRIAGE-PHASE" not in console and "make" not in console.split("\n", 1)[0]
    # timed out: the hanging library never prints the success line.
    check("hello-syncwait-kvm-x86_64", "boot-timeout", FAILURE, "timed out")
    # unsupported: Kconfig dropped a requested symbol; the dependency is named; not a failure.
    check("hello-netdev-xen-x86_64", "unsupported", SKIPPED, "PLAT_KVM")
    check("hello-directmap-xen-x86_64", "unsupported", SKIPPED, "LIBDIRECTMAP")
    # boot skipped: built fine, but no worker here boots xen or firecracker.
    for cell in ("hello-base-xen-x86_64", "hello-base-fc-arm64", "hello-base-fc-x86_64"):
        check(cell, "boot-skipped", SKIPPED, "boot skipped: no capable worker")
        assert rows[cell].image_size
    # environment: a host tool the worker lacks; the worker's fault, Buildbot's EXCEPTION.
    check("hello-hosttool-kvm-x86_64", "environment", EXCEPTION,
          "xentriage-fixture-tablegen not found on the worker")
    # The build's own summary names the class and the reason; never "build successful" for a
    # cell that was not verified.
    for cell, words in (("hello-netdev-xen-x86_64", "unsupported: "),
                        ("hello-base-xen-x86_64", "boot-skipped: boot skipped"),
                        ("hello-hosttool-kvm-x86_64", "environment: ")):
        state = full_run[cell]["state_string"]
        assert words in state and "successful" not in state, (cell, state)
    assert full_run["hello-base-xen-x86_64"]["state_string"].startswith("skipped")
    # Same cause, same signature: the compile error on arm64 is one signature everywhere.
    sig = full_run["hello-cpuid-kvm-arm64"]["props"]["signature"]
    assert sig and len(sig) == 16
    assert full_run["hello-entropy-kvm-x86_64"]["props"]["signature"] not in ("", sig)
    # The stdio log as Buildbot serves it (header included) classifies to the same signature
    # offline, which is what `xentriage ci classify` and CI linking rely on.
    import io

    from workers.failure import classify_stream

    for cell in ("hello-cpuid-kvm-arm64", "hello-hosttool-kvm-x86_64",
                 "hello-entropy-kvm-x86_64", "hello-netdev-xen-x86_64", "hello-base-kvm-x86_64"):
        text = cell_log(farm, full_run[cell]["buildid"])
        found, _ = classify_stream(io.StringIO(text))
        props = full_run[cell]["props"]
        assert found.cls == props["cell_result"], (cell, found)
        assert found.signature == (props.get("signature") or ""), (cell, found)


def test_change_schedules_only_the_touched_librarys_cells(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    before = localfarm.max_build_id(farm.state)
    localfarm.send_change(farm.state, ["lib/cpuid/cpuid.c"], project="fixture")
    localfarm.wait_idle(farm.state, 180, settle=2.0)
    rebuilt = {b["props"]["cell"] for b in localfarm.builds_since(farm.state, before)}
    expected = {c.name for c in load_matrix(MATRIX).cells()
                if [lib.name for lib in c.libraries] == ["cpuid"]}
    assert rebuilt == expected
    # A documentation-only change schedules nothing.
    before = localfarm.max_build_id(farm.state)
    localfarm.send_change(farm.state, ["README.md"], project="fixture")
    localfarm.wait_idle(farm.state, 60, settle=2.0)
    assert localfarm.builds_since(farm.state, before) == []
    # Why each change built what it built is in the master's log, where its operator looks.
    said = (farm.state.master_dir / "twistd.log").read_text(encoding="utf-8", errors="replace")
    assert "change to 1 file(s)" in said and f"-> {len(expected)} cell(s)" in said
    assert "-> 0 cell(s)" in said


def test_cli_run_prints_the_result_table(farm: RunningFarm,
                                         full_run: dict[str, dict[str, Any]]) -> None:
    from click.testing import CliRunner

    from triage.cli.cmd_farm import command as farm_command

    result = CliRunner().invoke(farm_command, [
        "run", "--state-dir", str(farm.state.state_dir), "--cells", "hello-cpuid-kvm-*",
        "--timeout", "120"])
    # cpuid fails to compile on arm64: the run reports it and exits with the failed-cells code.
    assert result.exit_code == 8, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["cell", "result", "reason"]
    rows = {ln.split()[0]: ln for ln in lines[2:] if ln.startswith("hello-")}
    assert set(rows) == {"hello-cpuid-kvm-arm64", "hello-cpuid-kvm-x86_64"}
    assert "build-failed" in rows["hello-cpuid-kvm-arm64"]
    assert "passed" in rows["hello-cpuid-kvm-x86_64"]
    assert lines[-1] == "2 cells: 1 build-failed, 1 passed"


def test_run_progress_counts_what_the_master_reports(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    """`farm run`'s progress line reads the real data API: after the run, every build done."""
    localfarm.wait_idle(farm.state, 120, settle=1.0)
    now = localfarm.run_progress(farm.state, 0)
    finished = [b for b in localfarm.builds_since(farm.state, 0) if b.get("complete")]
    assert (now.running, now.queued) == (0, 0)
    assert now.done == len(finished) >= len(full_run)


def test_pinned_daemons_and_their_builds_keep_their_cpus(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to pin")
    master = int((farm.state.master_dir / "twistd.pid").read_text())
    bare = int((farm.state.state_dir / "workers" / "bare" / "twistd.pid").read_text())
    full = int((farm.state.state_dir / "workers" / "full" / "twistd.pid").read_text())
    assert os.sched_getaffinity(master) == {cpus[0]}
    assert os.sched_getaffinity(bare) == {cpus[-1]}
    assert os.sched_getaffinity(full) == set(cpus)
    # Every thread of the master (its database thread pool too) inherited the pin.
    for task in Path(f"/proc/{master}/task").iterdir():
        assert os.sched_getaffinity(int(task.name)) == {cpus[0]}



def test_slow_cells_start_first_and_the_next_run_uses_their_durations(
        farm: RunningFarm, full_run: dict[str, dict[str, Any]]) -> None:
    """farm.longest_first on a real master: without history the cells that wait out a boot
    timeout the matrix sets start among the first builds of the run (4 slots); a later run's
    requests carry each cell's last duration as their priority (tenths of a second)."""
    hangs = {"hello-syncwait-kvm-x86_64", "hello-syncwait-kvm-arm64",
             "hello-syncwait-linuxu-x86_64"}
    assert all(full_run[c]["props"]["cell_result"] == "boot-timeout" for c in hangs)
    first = {b["props"]["cell"] for b in sorted(full_run.values(),
                                                key=lambda b: b["buildid"])[:6]}
    assert hangs <= first, first
    cells = ["hello-syncwait-linuxu-x86_64", "hello-base-linuxu-x86_64"]
    before = localfarm.max_build_id(farm.state)
    localfarm.force(farm.state, ",".join(cells))
    localfarm.wait_idle(farm.state, 120, settle=1.0)
    again = {b["props"]["cell"]: b for b in localfarm.builds_since(farm.state, before)}
    priority = {}
    for cell in cells:
        req = localfarm.api_get(farm.state, f"buildrequests/{again[cell]['buildrequestid']}")
        priority[cell] = req["buildrequests"][0]["priority"]
        took = full_run[cell]["complete_at"] - full_run[cell]["started_at"]  # whole seconds
        assert abs(priority[cell] / 10 - took) <= 1.5, (cell, priority[cell], took)
    assert priority["hello-syncwait-linuxu-x86_64"] > priority["hello-base-linuxu-x86_64"]
    # After `buildbot reconfig` the order is new and reads the durations back from the
    # master's database (each build's cell property), not from the builds it saw itself.
    buildbot = Path(sys.executable).with_name("buildbot")
    proc = subprocess.run([str(buildbot), "reconfig", str(farm.state.master_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    before = localfarm.max_build_id(farm.state)
    localfarm.force(farm.state, "hello-syncwait-linuxu-x86_64")
    localfarm.wait_idle(farm.state, 120, settle=1.0)
    third = localfarm.builds_since(farm.state, before)
    req = localfarm.api_get(farm.state, f"buildrequests/{third[0]['buildrequestid']}")
    took = again["hello-syncwait-linuxu-x86_64"]
    took_s = took["complete_at"] - took["started_at"]
    assert abs(req["buildrequests"][0]["priority"] / 10 - took_s) <= 1.5, (req, took_s)
    read = [line for line in (farm.state.master_dir / "twistd.log").read_text(
        encoding="utf-8", errors="replace").splitlines() if "longest-first:" in line]
    assert read and "from the master's history" in read[-1], read[-3:]
    assert int(read[-1].split("durations of ")[1].split()[0]) >= len(full_run) - 1
