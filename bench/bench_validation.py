"""Start-up cost of the one validator (triage.validation, pydantic 2) next to the hand-written
validators it replaced, side by side in one run.

Each figure is the CPU time (user + system) of a fresh ``python`` process (median of R runs)
that loads one file, so it includes every import the load needs:

* ``import triage.config`` alone (pydantic is not imported: it is loaded when a file is
  validated),
* ``load_settings(docs/example-config.toml)``, ``load_matrix(ci/matrix.toml)`` and
  ``load_workers(ci/workers.json)`` with this checkout's code and with the code of an older
  revision (``--old-rev``, default: the last commit before the validator), extracted with
  ``git archive`` into a temporary folder,
* ``import pydantic`` alone, for scale.

Then, in this process: the first validation of each file (builds pydantic's schema) and the
median of later ones.

Run: ``python bench/bench_validation.py [--repeat 9] [--old-rev 73f8b07]`` from the repo root.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIG = REPO / "docs" / "example-config.toml"
MATRIX = REPO / "ci" / "matrix.toml"
WORKERS = REPO / "ci" / "workers.json"

SNIPPETS = {
    "import triage.config": "import triage.config",
    "config": f"from triage.config import load_settings; load_settings({str(CONFIG)!r})",
    "matrix": f"from farm.matrix import load_matrix; load_matrix({str(MATRIX)!r})",
    "workers.json": "from pathlib import Path; from farm.routing import load_workers; "
                    f"load_workers(Path({str(WORKERS)!r}))",
    "all three": f"from pathlib import Path; from triage.config import load_settings; "
                 f"from farm.matrix import load_matrix; from farm.routing import load_workers; "
                 f"load_settings({str(CONFIG)!r}); load_matrix({str(MATRIX)!r}); "
                 f"load_workers(Path({str(WORKERS)!r}))",
}


def _process_ms(code: str, pythonpath: Path, repeat: int) -> float:
    """CPU time (user + system) of a fresh process: steadier than wall time on a shared box."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    env.pop("XENTRIAGE_CONFIG", None)
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=pythonpath)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                     * 1000)
    return statistics.median(times)


def _old_checkout(rev: str, into: Path) -> Path:
    archive = into / "old.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev, "triage", "farm", "workers"], cwd=REPO,
                       stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "old", filter="data")
    return into / "old"


def _in_process(repeat: int) -> list[tuple[str, float, float]]:
    from farm.matrix import load_matrix
    from farm.routing import load_workers
    from triage.config import load_settings

    loads: dict[str, Callable[[], object]] = {
        "config": lambda: load_settings(CONFIG),
        "matrix": lambda: load_matrix(MATRIX),
        "workers.json": lambda: load_workers(WORKERS),
    }
    out = []
    for name, load in loads.items():
        started = time.process_time()
        load()
        first = (time.process_time() - started) * 1000
        times = []
        for _ in range(repeat):
            started = time.process_time()
            load()
            times.append((time.process_time() - started) * 1000)
        out.append((name, first, statistics.median(times)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--old-rev", default="73f8b07")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = _old_checkout(args.old_rev, Path(tmp))
        print(f"fresh process, CPU ms, median of {args.repeat}   new     old {args.old_rev}")
        for label, code in SNIPPETS.items():
            new_ms = _process_ms(code, REPO, args.repeat)
            old_ms = _process_ms(code, old, args.repeat)
            print(f"  {label:<38} {new_ms:7.1f} {old_ms:7.1f}")
        print(f"  {'import pydantic (for scale)':<38} "
              f"{_process_ms('import pydantic', REPO, args.repeat):7.1f}")
    print("in process, CPU ms                      first   later (median)")
    for name, first, later in _in_process(args.repeat * 5):
        print(f"  {name:<38} {first:7.1f} {later:7.2f}")


if __name__ == "__main__":
    main()
