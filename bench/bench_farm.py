#!/usr/bin/env python3
"""CI farm benchmark: prints its figures; docs/BENCHMARKS.md ("CI farm") records them.

1. Full fixture matrix on a local farm (one worker, max_builds = cores): wall time vs the sum
   of per-cell build+boot wall time divided by the cores -> ratio (target <= 1.3).
2. Rebuild of an unchanged cell and of a one-file-changed cell vs its cold build, with and
   without ccache -> speed-ups (target >= 3x), using the farm's own make command lines.
3. Master start-up time with a generated 1,000-cell matrix (target < 10 s).

Usage: python bench/bench_farm.py [--skip-matrix] [--skip-rebuild] [--skip-startup]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from farm import fragments, localfarm  # noqa: E402
from farm.matrix import load_matrix  # noqa: E402

MATRIX = REPO / "ci" / "matrix.toml"


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({model}), {datetime.date.today().isoformat()}"


def children_cpu_seconds(pid_file: Path) -> float:
    """CPU time (user + system) of every finished child of a process: for the worker, exactly
    the cells' configure, make, compiler and boot processes, and none of Buildbot's own work."""
    pid = int(pid_file.read_text().strip())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" of the command name, cutime and cstime are fields 14 and 15 (0-based).
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds(pid_file: Path) -> float:
    """CPU time (user + system) a process spent itself: Buildbot's own work."""
    pid = int(pid_file.read_text().strip())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_matrix(tmp: Path, builds_per_core: int) -> None:
    cores = os.cpu_count() or 1
    plan = localfarm.WorkerPlan("bench", max_builds=builds_per_core * cores)
    state_dir = tmp / "farm"
    try:
        state = localfarm.up(state_dir, MATRIX, [plan])
        pid_file = state_dir / "workers" / plan.name / "twistd.pid"
        before = localfarm.max_build_id(state)
        cpu_before = children_cpu_seconds(pid_file)
        master_pid = state_dir / "master" / "twistd.pid"
        own_before = self_cpu_seconds(master_pid) + self_cpu_seconds(pid_file)
        started = time.monotonic()
        localfarm.force(state, "*")
        localfarm.wait_idle(state, 1800, settle=0.5)
        wall = time.monotonic() - started
        cpu = children_cpu_seconds(pid_file) - cpu_before
        own = self_cpu_seconds(master_pid) + self_cpu_seconds(pid_file) - own_before
        builds = localfarm.builds_since(state, before)
    finally:
        localfarm.down(state_dir)
    print(f"matrix: cells' CPU time (configure + build + boot processes) {cpu:.1f} s / {cores} "
          f"= {cpu / cores:.1f} s -> ratio wall/ideal {wall / (cpu / cores):.2f} "
          "(the issue's measure; target <= 1.3)")
    print(f"matrix: Buildbot's own CPU (master + worker daemons) {own:.1f} s; idle "
          f"{max(0.0, wall * cores - cpu - own):.1f} core-seconds of {wall * cores:.1f}")
    work = sum((b["props"].get("configure_seconds") or 0) + (b["props"].get("build_seconds") or 0)
               + (b["props"].get("boot_wall_seconds") or 0) for b in builds)
    whole = sum((b["complete_at"] or 0) - (b["started_at"] or 0) for b in builds)
    ideal = work / cores
    print(f"matrix: {len(builds)} cells on {cores} cores, max_builds {plan.max_builds}, "
          f"wall {wall:.1f} s")
    print(f"matrix: sum(configure + build + boot step wall) {work:.1f} s / {cores} = {ideal:.1f} s "
          f"-> ratio wall/ideal {wall / ideal:.2f} (target <= 1.3)")
    print(f"matrix: sum(whole builds incl. configure, kconfig check, Buildbot steps) "
          f"{whole:.1f} s / {cores} = {whole / cores:.1f} s -> ratio {wall / (whole / cores):.2f}")


def _timed(cmd: list[str] | str, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, shell=isinstance(cmd, str), env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def bench_rebuild(tmp: Path, cell_name: str = "hello-crc-kvm-x86_64") -> None:
    m = load_matrix(MATRIX)
    cell = next(c for c in m.cells() if c.name == cell_name)
    tree = tmp / "tree"
    shutil.copytree(m.tree(cell.app.tree).path or "", tree)
    touched = tree / "lib" / "crc" / "crc32.c"
    for use_ccache in (False, True):
        env = {**os.environ, "CCACHE_DIR": str(tmp / f"ccache-{use_ccache}")}
        label = "with ccache" if use_ccache else "without ccache"

        def cold(build_dir: Path, env: dict[str, str] = env, use: bool = use_ccache) -> float:
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            (build_dir / fragments.FRAGMENT_NAME).write_text(fragments.fragment_text(cell))
            t = _timed(fragments.defconfig_command(cell, str(tree), str(build_dir)), env)
            return t + _timed(fragments.build_command(cell, str(tree), str(build_dir), m.farm,
                                                      use), env)

        build_dir = tmp / f"cell-{use_ccache}"
        t_cold = cold(build_dir)
        cmd = fragments.build_command(cell, str(tree), str(build_dir), m.farm, use_ccache)
        t_same = _timed(cmd, env)
        touched.write_text(touched.read_text() + f"\n/* bench {time.time()} */\n")
        t_one = _timed(cmd, env)
        print(f"rebuild {label}: cold {t_cold:.2f} s, unchanged {t_same:.3f} s "
              f"({t_cold / t_same:.1f}x), one file changed {t_one:.3f} s "
              f"({t_cold / t_one:.1f}x)")
        if use_ccache:
            t_fresh = cold(tmp / "cell-fresh")  # a fresh build dir, cache warm
            print(f"rebuild with ccache: fresh build dir, warm cache {t_fresh:.2f} s "
                  f"({t_cold / t_fresh:.1f}x vs cold)")


def _generated_matrix(dest: Path, libraries: int) -> Path:
    text = MATRIX.read_text()
    head = text.split("\n[[library]]\n", 1)[0] + "\n".replace(
        'path = "../tests/fixtures/uktree"', f'path = "{REPO / "tests/fixtures/uktree"}"')
    libs = "".join(f'[[library]]\nname = "gen{i:04d}"\npaths = ["lib/gen{i:04d}/"]\n\n'
                   for i in range(libraries))
    tail = "[[platform]]\n" + text.split("\n[[platform]]\n", 1)[1]
    tail = tail.split("\n[[exclude]]\n", 1)[0]  # 4 platforms x 2 archs = 8 cells per library set
    path = dest / "matrix-1000.toml"
    path.write_text(head + libs + tail)
    return path


def bench_startup(tmp: Path, per_cell: bool) -> None:
    matrix = _generated_matrix(tmp, 124)  # (124 + base) x 8 = 1,000 cells
    n = len(load_matrix(matrix).cells())
    state_dir = tmp / "startup"
    probe = {"build": ["x86_64", "arm64"], "boot": []}
    try:
        started = time.monotonic()
        localfarm.up(state_dir, matrix, [localfarm.WorkerPlan("w")], probes={"w": probe})
        print(f"startup: {n}-cell matrix, master + worker up (first start, incl. create-master "
              f"and DB setup) in {time.monotonic() - started:.1f} s (target < 10 s)")
        localfarm.down(state_dir)
        started = time.monotonic()
        localfarm.up(state_dir, matrix, [localfarm.WorkerPlan("w")], probes={"w": probe})
        print(f"startup: {n}-cell matrix, restart of an existing master + worker in "
              f"{time.monotonic() - started:.1f} s")
    finally:
        localfarm.down(state_dir)
    if per_cell:
        state_dir = tmp / "startup-per-cell"
        try:
            started = time.monotonic()
            localfarm.up(state_dir, matrix, [localfarm.WorkerPlan("w")], probes={"w": probe},
                         master_settings={"builder_per_cell": True}, start_timeout=600)
            print(f"startup: same matrix with one real builder per cell: master + worker up "
                  f"in {time.monotonic() - started:.1f} s")
        finally:
            localfarm.down(state_dir)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-matrix", action="store_true")
    ap.add_argument("--skip-rebuild", action="store_true")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--builds-per-core", type=int, nargs="+", default=[1, 2],
                    help="worker max_builds = this x cores; one matrix run per value")
    ap.add_argument("--per-cell", action="store_true",
                    help="also time the 1,000-cell matrix with one real builder per cell (slow)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as d:
        tmp = Path(d)
        if not args.skip_rebuild:
            bench_rebuild(tmp)
        if not args.skip_matrix:
            for per_core in args.builds_per_core:
                bench_matrix(tmp / f"m{per_core}", per_core)
        if not args.skip_startup:
            bench_startup(tmp, args.per_cell)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
