"""Benchmark: how long ``xentriage --help`` and ``xentriage config check`` take, whole process
(and ``xentriage mail backfill`` refusing a file that is not a mailbox).

Figures (docs/BENCHMARKS.md, section "CLI start-up"). Each command runs ``--runs`` times as a
fresh process (``python -c "from triage.cli import main; main()" ARGS``, what the console script
does); the median wall time and the median CPU time (user + system of the child: less sensitive
to a busy shared machine) are printed. With ``--base REV`` the same commands run, interleaved run
by run, from a checkout of REV (a temporary ``git worktree``), so the two are measured side by
side under the same load. Also printed: which heavy packages each command imported.

Run from the repository root: ``python bench/bench_startup.py [--runs 15] [--base REV]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The third: a file that is not a mailbox, refused with exit 7 (issue #9: "~3 s to say so").
BAD_ARCHIVE = "not-a-mailbox.txt"
COMMANDS = (("--help",), ("config", "check"), ("mail", "backfill", BAD_ARCHIVE))
HEAVY = ("buildbot", "twisted", "alembic", "sqlalchemy", "jinja2", "rich", "matplotlib",
         "flask", "pydantic", "requests", "bugzilla")
RUN = "import sys; from triage.cli import main; sys.argv[0] = 'xentriage'; main()"
PROBE = """
import contextlib, io, sys
from triage.cli import main
try:
    with contextlib.redirect_stdout(io.StringIO()):
        main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = %r
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))) or "-")
"""


def _env(tree: Path, workdir: Path) -> dict[str, str]:
    # The tree first on the path wins over the editable install's finder.
    env = {**os.environ, "PYTHONPATH": str(tree), "HOME": str(workdir)}
    env.pop("XENTRIAGE_CONFIG", None)  # the embedded defaults, the same for both trees
    return env


def time_once(tree: Path, args: tuple[str, ...], workdir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=workdir,
                          env=_env(tree, workdir), check=False, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    if done.returncode not in (0, 7):  # 7: the bad archive, refused as it should be
        raise SystemExit(f"xentriage {' '.join(args)} exited {done.returncode}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports(tree: Path, args: tuple[str, ...], workdir: Path) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), *args], cwd=workdir,
                         env=_env(tree, workdir), check=False, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--base", help="Also time this git revision (side by side).")
    ns = parser.parse_args()
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="xt-startup-") as tmp:
        workdir = Path(tmp) / "cwd"
        workdir.mkdir()
        (workdir / BAD_ARCHIVE).write_text("this is not a mailbox\n")
        if ns.base:
            base = Path(tmp) / "base"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                            str(base), ns.base], check=True)
            trees[f"base {ns.base}"] = base
        try:
            samples: dict[tuple[str, tuple[str, ...]], list[tuple[float, float]]] = {
                (label, args): [] for label in trees for args in COMMANDS}
            for tree in trees.values():  # warm the page cache and .pyc files once
                for args in COMMANDS:
                    time_once(tree, args, workdir)
            for _ in range(ns.runs):
                for label, tree in trees.items():
                    for args in COMMANDS:
                        samples[(label, args)].append(time_once(tree, args, workdir))
            print(f"{'tree':24s} {'command':46s} {'wall median':>12s} {'cpu median':>11s}  "
                  "heavy packages imported")
            for (label, args), runs in samples.items():
                wall = statistics.median(w for w, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                cmd = "xentriage " + " ".join(args)
                print(f"{label:24s} {cmd:46s} {wall:11.3f}s {cpu:10.3f}s  "
                      f"{heavy_imports(trees[label], args, workdir)}")
            print(f"({ns.runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f})")
        finally:
            if ns.base:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(trees[f"base {ns.base}"])], check=False)


if __name__ == "__main__":
    main()
