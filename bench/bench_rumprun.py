"""Rumprun cells: the platform build (cold cache) and app cells on a warm cache.

Runs the farm's worker command (``python -m workers.cell``) for the given cells of a matrix with
a tree of kind "rumprun", in a fresh builder directory: the first cell pays the platform build
(``build-rr.sh``), the others reuse it (compile, bake, boot only). Prints per cell the whole
process wall time, the verdict, whether the platform build was cached and its time.

Run from the repo root::

    python bench/bench_rumprun.py [--matrix ci/matrix-rumprun.toml] \
        [--cells hello-hw_generic-hw-x86_64,hello-hw_virtio-hw-x86_64,exit3-hw_generic-hw-x86_64]

For a real rumprun checkout, point --matrix at a matrix like docs/farm.md's "Rumprun trees".
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from farm import fragments
from farm.matrix import load_matrix
from workers.cell import RESULT_MARKER


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--matrix", type=Path, default=Path("ci/matrix-rumprun.toml"))
    ap.add_argument("--cells", default="hello-hw_generic-hw-x86_64,hello-hw_virtio-hw-x86_64,"
                                       "exit3-hw_generic-hw-x86_64",
                    help="comma-separated cell names or globs, run in this order")
    ap.add_argument("--builder-dir", type=Path,
                    help="keep the builder directory (and its cache) here; default: a temp dir")
    args = ap.parse_args()
    m = load_matrix(args.matrix)
    cells = m.cells()
    chosen = [c for pat in args.cells.split(",") for c in cells
              if fnmatch.fnmatchcase(c.name, pat)]
    if not chosen:
        print("no cell matches", args.cells, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-rumprun-") as tmp:
        builder = args.builder_dir or Path(tmp)
        print(f"{'cell':40} {'wall s':>8} {'result':14} {'platform build':>20}")
        for cell in chosen:
            assert cell.tree.path is not None, "bench runs local trees"
            spec = fragments.cell_spec(cell, str(cell.tree.path),
                                       str(builder / m.farm.cells_dir / cell.name), m.farm)
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "workers.cell", "--spec-json",
                                   spec.to_json()], capture_output=True, text=True, check=False)
            wall = time.monotonic() - started
            line = next(ln for ln in reversed(proc.stdout.splitlines())
                        if ln.startswith(RESULT_MARKER))
            verdict = json.loads(line[len(RESULT_MARKER):])
            pb = verdict.get("runner", {}).get("platform_build") or {}
            what = ("cached" if pb.get("cached") else f"built in {pb.get('seconds', 0):.1f} s"
                    ) if pb else "-"
            print(f"{cell.name:40} {wall:8.2f} {verdict['cell_result']:14} {what:>20}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
