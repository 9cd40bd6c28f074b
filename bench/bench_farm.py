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

4. Master variants (``--variants``/``--all-variants``), each on shared cores, back to back
   and interleaved ``--repeat`` times: the master's database (SQLite as Buildbot opens it, as
   the farm opens it, PostgreSQL), cache sizes, log compression. Master CPU seconds per build
   (its utime + stime delta / builds, split reactor / database threads) beside the ratio;
   ``--profile DIR`` py-spy records the master during each variant's first run.
5. Every matrix run's timeline (bench/farm_timeline.py): each build's and cell step's start and
   end from the master's events beside the farm's CPU sampled from /proc every 0.25 s: idle by
   phase (start ramp, middle, tail) and by state, stalls, free slots, a per-second strip.

Usage: python bench/bench_farm.py [--skip-matrix] [--skip-rebuild] [--skip-startup]
       [--arrangement shared|pinned|both] [--builds-per-core N ...] [--per-cell]
       [--variants NAME ... | --all-variants] [--repeat N] [--profile DIR]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from farm import fragments, localfarm, master_stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from farm_measures import (  # noqa: E402
    CoreSampler,
    machine_cpu,
    master_threads,
    process_tree_cpu,
    summarize_profile,
)
from farm_timeline import analyse, build_spans, report  # noqa: E402

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


@dataclass
class MatrixRun:
    label: str
    builds: int
    wall: float
    cells_cpu: float
    cores: int
    master_cpu: float
    worker_cpu: float
    db_server_cpu: float  # PostgreSQL's processes (0 for SQLite, which runs in the master)
    threads: dict[str, float]  # the master's CPU by thread: reactor, database, other
    statements: dict[str, int]  # the master's SQL statements by verb, and its commits
    slots_used: dict[str, float] = field(default_factory=dict)  # farm_timeline.slot_use()

    def per_build(self, verb: str) -> float:
        if verb == "all":
            return sum(v for k, v in self.statements.items() if k != "COMMIT") / max(1, self.builds)
        return self.statements.get(verb, 0) / max(1, self.builds)

    @property
    def ratio(self) -> float:
        return self.wall / (self.cells_cpu / self.cores)

    @property
    def master_per_build(self) -> float:
        return self.master_cpu / max(1, self.builds)


def bench_matrix(tmp: Path, builds_per_core: int, pinned: bool, matrix: Path = MATRIX,
                 variant: str = "default", db_url: str | None = None,
                 settings: dict[str, Any] | None = None, db_pid: int | None = None,
                 profile: Path | None = None) -> MatrixRun:
    """``pinned``: the master on CPU 0, the worker and its builds on the others (a master with
    a host of its own); else everything shares every CPU. ``settings``: farm.json keys of the
    variant; ``db_pid``: the database server whose CPU to count; ``profile``: py-spy's raw
    stacks of the master during the run go there."""
    all_cpus = sorted(os.sched_getaffinity(0))
    worker_cpus = frozenset(all_cpus[1:]) if pinned else None
    master_cpus = frozenset(all_cpus[:1]) if pinned else None
    cores = len(worker_cpus) if worker_cpus else len(all_cpus)
    plan = localfarm.WorkerPlan("bench", max_builds=builds_per_core * cores, cpus=worker_cpus)
    state_dir = tmp / "farm"
    arrangement = (f"master on CPU {all_cpus[0]}, worker + builds on {cores} other core(s)"
                   if pinned else f"master, worker and builds sharing {cores} cores")
    spy = None
    try:
        state = localfarm.up(state_dir, matrix, [plan], master_cpus=master_cpus, db_url=db_url,
                             master_settings={"count_statements": True, **(settings or {})})
        mdir = state_dir / "master"
        pid_file = state_dir / "workers" / plan.name / "twistd.pid"
        before = localfarm.max_build_id(state)
        cpu_before = children_cpu_seconds(pid_file)
        master_pid = state_dir / "master" / "twistd.pid"
        master_before = self_cpu_seconds(master_pid)
        threads_before = master_threads(master_pid)
        worker_before = self_cpu_seconds(pid_file)
        db_before = process_tree_cpu(db_pid) if db_pid else 0.0
        stmts_before = master_stats.read_counts(mdir)
        if profile is not None:
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                 master_pid.read_text().strip(), "-r", "100", "-f", "raw", "-o", str(profile),
                 "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = CoreSampler((int(master_pid.read_text()), int(pid_file.read_text())))
        sampler.start()
        machine_before = machine_cpu()
        bench_before = time.process_time()
        started, forced_at = time.monotonic(), time.time()
        localfarm.force(state, "*")
        # Each poll costs the master ~3 ms of CPU (measured idle): every 0.5 s, not 0.25 s.
        wall = localfarm.wait_idle(state, 1800, settle=0.5, every=0.5) - started
        machine_after = machine_cpu()
        samples = sampler.stop()
        bench_own = time.process_time() - bench_before
        cpu = children_cpu_seconds(pid_file) - cpu_before
        master_own = self_cpu_seconds(master_pid) - master_before
        threads = master_threads(master_pid)
        worker_own = self_cpu_seconds(pid_file) - worker_before
        db_cpu = process_tree_cpu(db_pid) - db_before if db_pid else 0.0
        time.sleep(0.6)  # the counts file is written every 0.5 s
        stmts = collections.Counter(master_stats.read_counts(mdir))
        stmts.subtract(stmts_before)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        builds = localfarm.builds_since(state, before)
        events = master_stats.read_timeline(mdir)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        localfarm.down(state_dir)
    by_thread = {"reactor": threads.get("reactor", 0.0) - threads_before.get("reactor", 0.0)}
    by_thread["database and other threads"] = master_own - by_thread["reactor"]
    spans = build_spans(events, {int(b["buildid"]): str(b["props"].get("cell", "?"))
                                 for b in builds})
    timeline = analyse(spans, samples, forced_at, forced_at + wall, cores, plan.max_builds)
    run = MatrixRun(variant, len(builds), wall, cpu, cores, master_own, worker_own, db_cpu,
                    by_thread, dict(stmts), timeline.slots_used)
    own = master_own + worker_own
    results = collections.Counter(str(b["props"].get("cell_result", "?")) for b in builds)
    counts = ", ".join(f"{n} {r}" for r, n in sorted(results.items()))
    print(f"matrix {matrix.name} [{arrangement}] variant {variant}: {len(builds)} cells, "
          f"max_builds {plan.max_builds}, wall {wall:.1f} s ({counts})")
    print(f"  cells' CPU time (configure + build + boot processes) {cpu:.1f} s / {cores} "
          f"= {cpu / cores:.1f} s -> ratio wall/ideal {run.ratio:.2f} "
          "(the issue's measure; target <= 1.3)")
    build_core_seconds = wall * cores
    on_build_cores = cpu + (worker_own if pinned else own + db_cpu)
    print(f"  Buildbot's own CPU {own:.1f} s (master {master_own:.1f} s = "
          f"{run.master_per_build:.3f} s per build [reactor {by_thread['reactor']:.1f} s, "
          f"database threads {by_thread['database and other threads']:.1f} s], worker daemon "
          f"{worker_own:.1f} s); database server {db_cpu:.1f} s; build cores idle "
          f"{max(0.0, build_core_seconds - on_build_cores):.1f} of {build_core_seconds:.1f} "
          "core-seconds")
    busy = machine_after[0] - machine_before[0]
    others = max(0.0, busy - cpu - own - db_cpu - bench_own)
    print(f"  whole machine during the run: busy {busy:.1f} core-seconds, of which other "
          f"processes (not this farm or benchmark) {others:.1f}; idle "
          f"{machine_after[1] - machine_before[1]:.1f}" + ("" if pinned else
          f"; ratio with the others' share taken out of the wall time "
          f"{(wall - others / cores) / (cpu / cores):.2f} (an estimate for a loaded machine)"))
    print(f"  master's database work per build: {run.per_build('all'):.0f} statements "
          f"({', '.join(f'{k} {v / max(1, run.builds):.0f}' for k, v in sorted(stmts.items()))})")
    print("\n".join(report(timeline)))
    return run


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


# Candidates for Buildbot's cost per build, run back to back on the same matrix: farm.json keys
# over the farm's defaults (a function of the PostgreSQL URL where the variant needs one).
VARIANTS: dict[str, Any] = {
    # Buildbot's own SQLite handling: a connection per operation, every commit fsynced.
    "buildbot-sqlite": {"sqlite_connections": "per-operation", "sqlite_synchronous": "full"},
    "sqlite-reuse-full": {"sqlite_synchronous": "full"},  # connection kept, commits fsynced
    "sqlite": {},  # the farm's default (farm.master_db)
    "postgresql": lambda url: {},
    # Buildbot sizes its database thread pool from SQLAlchemy's (5 + 10 overflow).
    "postgresql-2-threads": lambda url: {"master_overrides": {"db": {
        "db_url": url, "engine_kwargs": {"pool_size": 2, "max_overflow": 0}}}},
    "buildbot-caches": {"master_overrides": {"caches": {}}},  # Buildbot's default cache sizes
    "log-raw": {"master_overrides": {"logCompressionMethod": "raw"}},  # default: gz
    # Scheduling (issue 16, the idle of shared cores): Buildbot's submission order instead of
    # the longest expected cell first; Buildbot's quarantine after every environment verdict;
    # both (the farm before).
    "submitted-order": {"request_order": "submitted"},
    "buildbot-quarantine": {"environment_quarantine": "always"},
    "submitted-quarantine": {"request_order": "submitted", "environment_quarantine": "always"},
}


def bench_variants(tmp: Path, names: list[str], repeat: int, builds_per_core: int,
                   matrix: Path, profile_dir: Path | None) -> None:
    """Each variant on shared cores, interleaved ``repeat`` times; medians side by side."""
    cluster = None
    if any(callable(VARIANTS[n]) for n in names):
        from tests.support.postgres import PostgresCluster, _pg_bindir

        bindir = _pg_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL variants need Debian's postgresql (setup.sh --tests)")
        cluster = PostgresCluster(bindir, Path(tempfile.mkdtemp(prefix="bench-pg-")))
        cluster.start()
    runs: dict[str, list[MatrixRun]] = {n: [] for n in names}
    try:
        for i in range(repeat):
            for name in names:
                spec, db_url, db_pid = VARIANTS[name], None, None
                if callable(spec):
                    assert cluster is not None
                    db_url = cluster.new_database()
                    spec = spec(db_url)
                    db_pid = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
                profile = (profile_dir / f"{name}-{i + 1}.raw"
                           if profile_dir is not None and i == 0 else None)
                runs[name].append(bench_matrix(tmp / f"v{i}-{name}", builds_per_core, False,
                                               matrix, name, db_url, spec, db_pid, profile))
                if profile is not None:
                    print(summarize_profile(profile))
    finally:
        if cluster is not None:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
    print(f"variants, shared cores, median of {repeat} (interleaved runs):")
    print(f"  {'variant':22s} {'wall s':>7s} {'ratio':>6s} {'master s/build':>15s} "
          f"{'reactor s':>10s} {'db threads s':>13s} {'db server s':>12s} "
          f"{'stmts/build':>12s} {'commits/build':>14s} {'stalled s':>10s} "
          f"{'free slot-s waiting/draining':>29s}")
    for name, rs in runs.items():
        def med(f: Any, rs: list[MatrixRun] = rs) -> float:
            return float(statistics.median(f(r) for r in rs))
        print(f"  {name:22s} {med(lambda r: r.wall):7.1f} {med(lambda r: r.ratio):6.2f} "
              f"{med(lambda r: r.master_per_build):15.3f} "
              f"{med(lambda r: r.threads['reactor']):10.1f} "
              f"{med(lambda r: r.threads['database and other threads']):13.1f} "
              f"{med(lambda r: r.db_server_cpu):12.1f} {med(lambda r: r.per_build('all')):12.0f} "
              f"{med(lambda r: r.per_build('COMMIT')):14.0f} "
              f"{med(lambda r: r.slots_used['stalled']):10.1f} "
              f"{med(lambda r: r.slots_used['free slot-seconds, requests waiting']):21.1f}/"
              f"{med(lambda r: r.slots_used['free slot-seconds, draining']):.1f}")


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
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=[],
                    help="also run these master variants (shared cores, max_builds = first "
                         "--builds-per-core) back to back")
    ap.add_argument("--all-variants", action="store_true", help="every variant")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each variant (interleaved); medians are printed")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="py-spy record the master during each variant's first run (raw "
                         "stacks in DIR) and print where its CPU went")
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
        names = list(VARIANTS) if args.all_variants else args.variants
        if names:
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
            bench_variants(tmp, names, args.repeat, args.builds_per_core[0], args.matrix,
                           args.profile)
        if not args.skip_startup:
            bench_startup(tmp, args.per_cell)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
