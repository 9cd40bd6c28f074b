"""Bisection of a 160-commit range: builds with one worker, wall time with two, side by side.

The scripted fixture history (tests/fixtures/ukhistory.py) with ``--commits`` commits between
the last revision known good (its root) and the first known bad (the fix's parent); the
breaking commit sits at about 44 % of the range and a commit that fails differently at the
first test point, so every run also skips once. Each repetition bisects the same range with the
local runner (real git worktrees, ``python -m workers.cell``, QEMU under TCG) once with one
slot and once with two, in alternating order, each in a fresh work directory (cold build
directories; ccache warmed by one untimed run first, as a bisecting worker's would be).

Figures: builds and rounds of each run (the same in every repetition without a runner that
stops steps: the algorithm is deterministic; pipelined, the order of step ends decides), the
median wall time of each width, and the ratio two/one. ``--pipelined`` also times two slots as
a pipeline (``bisect.pipeline``), ``--before`` one and two slots as the code ran before the
kept .config, all in the same rotation; ``--profile`` prints where
a step's time goes (checkout, spec, python start, configure, build, boot) and each slot's idle
time.

Targets (issue #17): one worker <= ceil(log2 160) + 2 = 10 builds; two workers' wall time
<= 0.7 x one worker's.

Run: ``python bench/bench_bisect.py [--commits 160] [--repeat 3] [--pipelined] [--before]
[--profile]``;
``--quick`` is ``--commits 40 --repeat 1``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from farm.matrix import load_matrix  # noqa: E402
from tests.fixtures.ukhistory import History, make_history, write_matrix  # noqa: E402
from triage.ci.bisect.commits import CommitLog  # noqa: E402
from triage.ci.bisect.driver import SlotSpan, run_bisection  # noqa: E402
from triage.ci.bisect.model import CAUSE, FOUND, BisectOutcome, BisectRequest  # noqa: E402
from triage.ci.bisect.runners import LocalRunner, StepTiming  # noqa: E402
from triage.config import BisectSettings  # noqa: E402

CELL = "hello-crc-kvm-x86_64"


def history_for(commits: int, where: Path) -> History:
    # the fix sits at round(0.8 x length): pick the length whose last bad commit is `commits`
    length = round((commits + 1) / 0.8)
    hist = make_history(where, length=length)
    if hist.index(hist.last_bad) != commits:
        raise SystemExit(f"cannot script a {commits}-commit range (got "
                         f"{hist.index(hist.last_bad)})")
    return hist


@dataclass
class Run:
    out: BisectOutcome
    wall: float
    trace: list[SlotSpan]
    timings: list[StepTiming]

    def idle(self) -> float:
        """Seconds each slot spent without a step, on average (the round barrier's cost plus
        the driver's own time between steps)."""
        slots = sorted({s.slot for s in self.trace})
        busy = [sum(s.ended - s.started for s in self.trace if s.slot == k) for k in slots]
        return statistics.fmean(self.wall - b for b in busy)


PHASES = ("checkout", "spec", "python", "configure", "build", "boot")


def bisect_once(hist: History, matrix: Path, work: Path, slots: int, signature: str,
                cold: bool = False, pipeline: bool = False, keep_config: bool = True,
                core_each: bool = False) -> Run:
    settings = BisectSettings(max_builds=40, workers=slots, workdir=work)
    cpus = sorted(os.sched_getaffinity(0))
    # --core-each: every worker a host of one core (slot i on core i), the one-worker run too
    slot_cpus = [frozenset({cpus[i % len(cpus)]}) for i in range(slots)] if core_each else None
    runner = LocalRunner(load_matrix(matrix), work, slots=slots, keep_config=keep_config,
                         slot_cpus=slot_cpus)
    if not cold:
        # A farm's workers are persistent: each already has its worktree and the cell's build
        # directory from earlier builds. Give every slot that state (one untimed build at the
        # range's old end), so the timed run compares bisection, not first-use set-up, which
        # would fall on the two-worker run twice.
        for slot in range(slots):
            runner.run(CELL, hist.root, slot)
    request = BisectRequest(CAUSE, CELL, hist.root, hist.last_bad, signature)
    runner.timings.clear()
    trace: list[SlotSpan] = []
    started = time.perf_counter()
    out = run_bisection(request, CommitLog(hist.path), runner, settings, trace=trace,
                        pipeline=pipeline)
    wall = time.perf_counter() - started
    if out.status != FOUND or out.first_new is None or out.first_new.id != hist.breaking:
        raise SystemExit(f"wrong outcome with {slots} slot(s): {out.status} {out.reason}")
    return Run(out, wall, trace, list(runner.timings))


def profile_line(runs: list[Run]) -> str:
    """Mean seconds per step of each phase and a slot's idle time, medians over the runs."""
    def per_step(run: Run, phase: str) -> float:
        return statistics.fmean(getattr(t, phase) for t in run.timings)
    parts = [f"{ph} {statistics.median(per_step(r, ph) for r in runs):.3f}" for ph in PHASES]
    step = statistics.median(statistics.fmean(s.ended - s.started for s in r.trace)
                             for r in runs)
    idle = statistics.median(r.idle() for r in runs)
    return f"per step: {', '.join(parts)}; step {step:.3f}; idle per slot {idle:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=160)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="--commits 40 --repeat 1")
    ap.add_argument("--cold", action="store_true",
                    help="fresh slots: worktrees and build directories created in the timed run")
    ap.add_argument("--profile", action="store_true",
                    help="also print where a step's time goes and each slot's idle time")
    ap.add_argument("--core-each", action="store_true",
                    help="give each worker's slot a core of its own (workers on hosts of their "
                         "own), the one-worker run one core too")
    ap.add_argument("--pipelined", action="store_true",
                    help="also time two workers as a pipeline (bisect.pipeline = true)")
    ap.add_argument("--before", action="store_true",
                    help="also time the code before this pass (rounds, defconfig every step), "
                         "one and two workers, in the same rotation")
    args = ap.parse_args()
    if args.quick:
        args.commits, args.repeat = 40, 1
    base = Path(tempfile.mkdtemp(prefix="bench-bisect-"))
    try:
        hist = history_for(args.commits, base / "repo")
        matrix = write_matrix(hist, base / "matrix.toml", libraries=("crc", "ring"))
        warm = LocalRunner(load_matrix(matrix), base / "warm", slots=1)
        signature = warm.run(CELL, hist.breaking, 0).signature  # also warms ccache
        for commit in (hist.root, hist.different, hist.last_bad):
            warm.run(CELL, commit, 0)
        # variants: (label, slots, pipelined, keep .config); "two" in rounds (the default:
        # every slot waits for the round's slowest step), "two, pipelined" beside it;
        # "before": the code before the kept .config (rounds, defconfig every step), timed in
        # the same rotation as the current code.
        variants = [("one", 1, False, True), ("two", 2, False, True)]
        if args.pipelined:
            variants.append(("two, pipelined", 2, True, True))
        if args.before:
            variants += [("one, before", 1, False, False), ("two, before", 2, False, False)]
        runs: dict[str, list[Run]] = {v[0]: [] for v in variants}
        for rep in range(args.repeat):
            turn = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for label, slots, piped, keep in turn if rep % 2 == 0 else turn[::-1]:
                work = base / f"w{len(runs[label])}-{variants.index((label, slots, piped, keep))}"
                run = bisect_once(hist, matrix, work, slots, signature, cold=args.cold,
                                  pipeline=piped, keep_config=keep, core_each=args.core_each)
                runs[label].append(run)
                print(f"rep {rep + 1} {label}: builds {run.out.builds} rounds "
                      f"{run.out.rounds} wall {run.wall:.2f}s", flush=True)
        walls = {label: statistics.median(r.wall for r in rs) for label, rs in runs.items()}
        if args.profile:
            for label, rs in runs.items():
                print(f"profile, {label}: {profile_line(rs)}")
        one = runs["one"][-1].out
        bound = math.ceil(math.log2(args.commits)) + 2
        print(f"range {args.commits} commits; slots {'cold' if args.cold else 'persistent'}"
              f"{', a core each' if args.core_each else ', sharing the cores'}; "
              f"one worker: {one.builds} builds (bound {bound}), {one.rounds} rounds, median "
              f"wall {walls['one']:.2f}s")
        for label, rs in runs.items():
            if label != "one":
                out = rs[-1].out
                base_one = "one, before" if label == "two, before" else "one"
                print(f"{label}: {out.builds} builds, {out.rounds} rounds, median wall "
                      f"{walls[label]:.2f}s, ratio to {base_one} "
                      f"{walls[label] / walls[base_one]:.2f} (target <= 0.70)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
