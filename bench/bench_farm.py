#!/usr/bin/env python3
"""CI farm benchmark: prints its figures; docs/BENCHMARKS.md ("CI farm") records them.

1. Full fixture matrix on a local farm (one worker, max_builds = N x build cores): wall time
   vs the sum of the cells' own CPU time (configure, make, compilers, boots) divided by the
   build cores -> ratio (target <= 1.3); Buildbot's own CPU (master, worker daemon) and the
   idle rest. Two arrangements side by side: everything sharing all CPUs, and the master
   pinned to CPU 0 with the worker and its builds on the others.
2. Rebuild of an unchanged cell and of a one-file-changed cell vs its cold build, with and
   without ccache -> speed-ups (target >= 3x), using the farm's own make command lines.
3. Master start-up time with a generated 1,000-cell matrix (target < 10 s).

Usage: python bench/bench_farm.py [--skip-matrix] [--skip-rebuild] [--skip-startup]
       [--arrangement shared|pinned|both] [--builds-per-core N ...] [--per-cell]
"""

from __future__ import annotations

import argparse
import collections
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


def bench_matrix(tmp: Path, builds_per_core: int, pinned: bool, matrix: Path = MATRIX) -> None:
    """``pinned``: the master on CPU 0, the worker and its builds on the others (a master with
    a host of its own); else everything shares every CPU."""
    all_cpus = sorted(os.sched_getaffinity(0))
    worker_cpus = frozenset(all_cpus[1:]) if pinned else None
    master_cpus = frozenset(all_cpus[:1]) if pinned else None
    cores = len(worker_cpus) if worker_cpus else len(all_cpus)
    plan = localfarm.WorkerPlan("bench", max_builds=builds_per_core * cores, cpus=worker_cpus)
    state_dir = tmp / "farm"
    arrangement = (f"master on CPU {all_cpus[0]}, worker + builds on {cores} other core(s)"
                   if pinned else f"master, worker and builds sharing {cores} cores")
    try:
        state = localfarm.up(state_dir, matrix, [plan], master_cpus=master_cpus)
        pid_file = state_dir / "workers" / plan.name / "twistd.pid"
        before = localfarm.max_build_id(state)
        cpu_before = children_cpu_seconds(pid_file)
        master_pid = state_dir / "master" / "twistd.pid"
        master_before = self_cpu_seconds(master_pid)
        worker_before = self_cpu_seconds(pid_file)
        started = time.monotonic()
        localfarm.force(state, "*")
        wall = localfarm.wait_idle(state, 1800, settle=0.5) - started
        cpu = children_cpu_seconds(pid_file) - cpu_before
        master_own = self_cpu_seconds(master_pid) - master_before
        worker_own = self_cpu_seconds(pid_file) - worker_before
        builds = localfarm.builds_since(state, before)
    finally:
        localfarm.down(state_dir)
    own = master_own + worker_own
    results = collections.Counter(str(b["props"].get("cell_result", "?")) for b in builds)
    counts = ", ".join(f"{n} {r}" for r, n in sorted(results.items()))
    print(f"matrix {matrix.name} [{arrangement}]: {len(builds)} cells, "
          f"max_builds {plan.max_builds}, wall {wall:.1f} s ({counts})")
    print(f"  cells' CPU time (configure + build + boot processes) {cpu:.1f} s / {cores} "
          f"= {cpu / cores:.1f} s -> ratio wall/ideal {wall / (cpu / cores):.2f} "
          "(the issue's measure; target <= 1.3)")
    build_core_seconds = wall * cores
    on_build_cores = cpu + (worker_own if pinned else own)
    print(f"  Buildbot's own CPU {own:.1f} s (master {master_own:.1f} s, worker daemon "
          f"{worker_own:.1f} s); build cores idle "
          f"{max(0.0, build_core_seconds - on_build_cores):.1f} of {build_core_seconds:.1f} "
          "core-seconds")


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

        if use_ccache:
            env["PATH"] = f"{fragments.CCACHE_DIR}:{env['PATH']}"

        def cold(build_dir: Path, env: dict[str, str] = env) -> float:
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
            (build_dir / fragments.FRAGMENT_NAME).write_text(fragments.fragment_text(cell))
            t = _timed(fragments.defconfig_command(cell, str(tree), str(build_dir)), env)
            return t + _timed(fragments.build_argv(cell, str(tree), str(build_dir), m.farm), env)

        build_dir = tmp / f"cell-{use_ccache}"
        t_cold = cold(build_dir)
        cmd = fragments.build_argv(cell, str(tree), str(build_dir), m.farm)
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
    ap.add_argument("--builds-per-core", type=int, nargs="+", default=[1],
                    help="worker max_builds = this x build cores; one matrix run per value")
    ap.add_argument("--arrangement", choices=("shared", "pinned", "both"), default="both",
                    help="shared: master, worker and builds on every CPU; pinned: the master "
                         "on CPU 0, the worker and builds on the rest (needs 2+ CPUs)")
    ap.add_argument("--matrix", type=Path, default=MATRIX,
                    help="the matrix for the full-matrix runs (default: ci/matrix.toml, the "
                         "fixture tree); e.g. a copy pointing at a real Unikraft checkout")
    ap.add_argument("--per-cell", action="store_true",
                    help="also time the 1,000-cell matrix with one real builder per cell (slow)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as d:
        tmp = Path(d)
        if not args.skip_rebuild:
            bench_rebuild(tmp)
        if not args.skip_matrix:
            modes = {"shared": [False], "pinned": [True], "both": [False, True]}[args.arrangement]
            if len(os.sched_getaffinity(0)) < 2:
                modes = [False]
            for per_core in args.builds_per_core:
                for pinned in modes:
                    bench_matrix(tmp / f"m{per_core}-{pinned}", per_core, pinned, args.matrix)
        if not args.skip_startup:
            bench_startup(tmp, args.per_cell)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
