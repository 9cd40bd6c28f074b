"""Bisection steps on the farm: the Buildbot runner with one and two workers, beside the local
runner, side by side in one run.

A real Buildbot master and two workers on 127.0.0.1 (``farm.localfarm``), the scripted fixture
history (tests/fixtures/ukhistory.py) with ``--commits`` commits between the root (known good)
and the fix's parent (known bad), the cell ``hello-crc-kvm-x86_64``. Each repetition bisects
the range three ways, in rotating order: the local runner with one slot, the Buildbot runner
limited to one worker (``bisect.workers = 1``), the Buildbot runner with both workers. Every
slot is warmed once untimed (a persistent worker already has its checkout and build directory).

Figures: builds and rounds of each way (deterministic), the median wall time of each, the
ratio two workers / one worker on the farm, and the farm's cost per build over the local one
(the force request, the master scheduling the build, the Git step, the polls).

Run: ``python bench/bench_bisect_farm.py [--commits 160] [--repeat 3]``; ``--quick`` is
``--commits 40 --repeat 1``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_bisect import CELL, history_for  # noqa: E402
from farm import localfarm  # noqa: E402
from farm.matrix import load_matrix  # noqa: E402
from tests.fixtures.ukhistory import History, write_matrix  # noqa: E402
from triage.ci.bisect.buildbot_runner import BuildbotRunner  # noqa: E402
from triage.ci.bisect.commits import CommitLog  # noqa: E402
from triage.ci.bisect.driver import run_bisection  # noqa: E402
from triage.ci.bisect.model import CAUSE, FOUND, BisectOutcome, BisectRequest, StepRunner  # noqa: E402
from triage.ci.bisect.runners import LocalRunner  # noqa: E402
from triage.config import BisectSettings  # noqa: E402

WAYS = ("local, 1 slot", "farm, 1 worker", "farm, 2 workers")


def bisect_once(hist: History, runner: StepRunner, width: int, signature: str,
                work: Path) -> tuple[BisectOutcome, float]:
    settings = BisectSettings(max_builds=40, workers=width, workdir=work)
    request = BisectRequest(CAUSE, CELL, hist.root, hist.last_bad, signature)
    started = time.perf_counter()
    out = run_bisection(request, CommitLog(hist.path), runner, settings)
    wall = time.perf_counter() - started
    if out.status != FOUND or out.first_new is None or out.first_new.id != hist.breaking:
        raise SystemExit(f"wrong outcome ({width} wide): {out.status} {out.reason}")
    return out, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=160)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="--commits 40 --repeat 1")
    args = ap.parse_args()
    if args.quick:
        args.commits, args.repeat = 40, 1
    with tempfile.TemporaryDirectory(prefix="bench-bisect-farm-") as tmp:
        base = Path(tmp)
        hist = history_for(args.commits, base / "repo")
        matrix_file = write_matrix(hist, base / "matrix.toml", libraries=("crc", "ring"))
        matrix = load_matrix(matrix_file)
        local = LocalRunner(matrix, base / "local", slots=1)
        signature = local.run(CELL, hist.breaking, 0).signature  # also warms the local slot
        plans = [localfarm.WorkerPlan(name, max_builds=1) for name in ("bench-a", "bench-b")]
        caps = localfarm.probe(localfarm.worker_env(plans[0], base))
        state_dir = base / "farm"
        try:
            state = localfarm.up(state_dir, matrix_file, plans,
                                 probes={p.name: caps for p in plans},
                                 www_port=localfarm.free_port())
            url = f"http://127.0.0.1:{state.www_port}/"
            farm = BuildbotRunner(matrix, url, CELL, bisection="bench-warm")
            for slot in range(farm.slots):
                farm.run(CELL, hist.root, slot)
            walls: dict[str, list[float]] = {w: [] for w in WAYS}
            shape: dict[str, tuple[int, int]] = {}
            for rep in range(args.repeat):
                order = WAYS[rep % 3:] + WAYS[:rep % 3]
                for way in order:
                    runner: StepRunner = local if way.startswith("local") else BuildbotRunner(
                        matrix, url, CELL, bisection=f"bench-{rep}-{way}")
                    width = 2 if way.endswith("2 workers") else 1
                    out, wall = bisect_once(hist, runner, width, signature, base / "local")
                    walls[way].append(wall)
                    shape[way] = (out.builds, out.rounds)
                    print(f"rep {rep + 1} {way:16s} builds {out.builds:2d} rounds "
                          f"{out.rounds:2d} wall {wall:6.1f} s", flush=True)
        finally:
            localfarm.down(state_dir)
    med = {w: statistics.median(v) for w, v in walls.items()}
    print(f"\n{args.commits}-commit range, medians of {args.repeat}:")
    for way in WAYS:
        builds, rounds = shape[way]
        print(f"  {way:16s} builds {builds:2d} rounds {rounds:2d} wall {med[way]:6.1f} s "
              f"({med[way] / rounds:.1f} s per round)")
    print(f"  farm two/one worker wall time: {med[WAYS[2]] / med[WAYS[1]]:.2f}")
    per_build = (med[WAYS[1]] - med[WAYS[0]]) / shape[WAYS[1]][0]
    print(f"  farm cost per build over the local runner: {per_build:+.1f} s")


if __name__ == "__main__":
    main()
