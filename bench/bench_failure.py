"""Failure classification and signature: a 50 MB build log, and the per-cell cost on a matrix.

    .venv/bin/python bench/bench_failure.py [--mb 50] [--logs DIR]

1. A synthetic build log of ``--mb`` MB made of real Unikraft build lines (compile steps,
   warnings, the linker's executable-stack warning, a cause near the end, make's cascade), in
   the farm's format. Each variant is classified in a fresh child process that streams the
   file, reporting wall time and peak RSS; side by side in the same run, a child that only
   reads the file line by line (the I/O floor) and one that reads it whole into memory (what
   a non-streaming classifier would hold).
2. ``--logs DIR``: every ``*.log`` under DIR (a real-tree matrix's cell logs, e.g. from
   ``python -m workers.cell`` runs), classified one by one; the cost per cell against the
   cell's own build and boot time from its verdict line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT, BUILD = "/srv/ci/unikraft", "/srv/ci/worker/kvm-x86_64/cells/helloworld-big-kvm-x86_64"
FILLER = [
    "  CC      libukalloc: alloc.o",
    "  CC      libposix_fdtab: fdtab.o",
    f"{ROOT}/lib/ukalloc/alloc.c: In function 'uk_alloc_free':",
    f"{ROOT}/lib/ukalloc/alloc.c:211:9: warning: unused variable 'x' [-Wunused-variable]",
    "  211 |         int x;",
    "      |             ^",
    "/usr/bin/ld: warning: fdtab.o: requires executable stack (because the .note.GNU-stack "
    "section is executable)",
    "  AR      libukdebug.a",
    "  OBJCOPY libkvmplat.o",
    "warning: failed to connect to jobserver from environment variable",
]
CAUSE = [
    f"/usr/bin/ld: {BUILD}/libposix_timerfd.o: in function `_timerfd_update':",
    f"{ROOT}/lib/posix-timerfd/timerfd.c:93: undefined reference to "
    "`uk_syscall_r_clock_gettime'",
    "collect2: error: ld returned 1 exit status",
    f"make[1]: *** [{ROOT}/plat/kvm/Linker.uk:54: {BUILD}/helloworld_qemu-x86_64.dbg] Error 1",
    "make: *** [Makefile:1170: sub-make] Error 2",
]

CHILD_CLASSIFY = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
t = time.perf_counter()
from workers.failure import classify_stream
with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    found, _ = classify_stream(fh, ["Hello world!"])
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, found.cls, found.signature,
      found.title.replace(" ", "_")[:60])
"""
CHILD_LINES = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
t = time.perf_counter()
from workers.failure import LogClassifier
from workers.failure.logformat import ChunkFeeder
clf = LogClassifier(["Hello world!"])
clf.section("build", "make -C /srv/ci/unikraft O=/srv/ci/worker/kvm-x86_64/cells/c")
feeder = ChunkFeeder(clf)
with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    for line in fh:
        feeder.line(line.rstrip("\\n"))
feeder.flush()
clf.exit_status(int(sys.argv[3]))
found = clf.result()
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, found.cls, found.signature, "-")
"""
CHILD_READ = """
import resource, sys, time
t = time.perf_counter()
n = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    for line in fh:
        n += 1
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "read", n, "-")
"""
CHILD_SLURP = """
import resource, sys, time
t = time.perf_counter()
text = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "slurp", len(text), "-")
"""


def write_log(path: Path, megabytes: int, cause_at: float | None) -> None:
    target = megabytes * 1024 * 1024
    header = ["XENTRIAGE-PHASE configure: fragment, make defconfig, .config check",
              f"make: Entering directory '{ROOT}'",
              f"XENTRIAGE-PHASE build: make -C {ROOT} A=/srv/ci/apps/helloworld O={BUILD} "
              f"C={BUILD}/.config -j2"]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\n".join(header) + "\n")
        size, i, placed = 0, 0, cause_at is None
        block = "\n".join(FILLER) + "\n"
        while size < target:
            if not placed and cause_at is not None and size >= target * cause_at:
                fh.write("\n".join(CAUSE) + "\n")
                placed = True
            fh.write(block)
            size += len(block)
            i += 1
        verdict = {"cell": "helloworld-big-kvm-x86_64", "phase": "build",
                   "cell_result": "build-failed" if cause_at is not None else "passed",
                   "boot_status": None}
        if cause_at is None:
            fh.write("XENTRIAGE-PHASE boot: kvm/x86_64, timeout 20s\nPowered by\nHello world!\n"
                     'XENTRIAGE-BOOT-RESULT {"status": "passed", "reason": ""}\n')
            verdict.update(phase="boot", boot_status="passed")
        fh.write("XENTRIAGE-CELL-RESULT " + json.dumps(verdict) + "\n")


def child(code: str, path: Path, status: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, str(path), str(REPO), str(status)],
                         capture_output=True, text=True, check=True).stdout.split()
    return out


def bench_big(megabytes: int, repeat: int) -> None:
    print(f"== {megabytes} MB log (streaming classify vs reading only vs reading whole)")
    print(f"{'variant':28} {f'seconds (best of {repeat})':>22} {'peak RSS MB':>12}  result")
    with tempfile.TemporaryDirectory(prefix="xentriage-bench-") as tmp:
        for name, cause_at in (("cause at 95% (link error)", 0.95),
                               ("cause at 5%", 0.05), ("passing (no cause)", None)):
            path = Path(tmp) / "cell.log"
            write_log(path, megabytes, cause_at)
            rows = []
            for label, code in (("classify", CHILD_CLASSIFY),
                                ("per line (worker live path)", CHILD_LINES),
                                ("read lines", CHILD_READ), ("read whole", CHILD_SLURP)):
                best, rss, res = float("inf"), 0, ""
                for _ in range(repeat):
                    out = child(code, path, 0 if cause_at is None else 2)
                    if float(out[0]) < best:
                        best, rss, res = float(out[0]), int(out[1]), " ".join(out[2:])
                rows.append((label, best, rss / 1024, res))
            print(f"-- {name}: {path.stat().st_size / 1e6:.1f} MB")
            for label, best, rss, res in rows:
                print(f"  {label:28} {best:20.3f} {rss:12.1f}  {res}")


def bench_cells(logs: Path) -> None:
    sys.path.insert(0, str(REPO))
    import io

    from workers.failure import classify_stream

    files = sorted(logs.rglob("*.log"))
    cost, cell_time, n = 0.0, 0.0, 0
    classes: dict[str, int] = {}
    for path in files:
        raw = path.read_text(encoding="utf-8", errors="replace")
        text = raw.splitlines()
        started = time.perf_counter()
        found, _ = classify_stream(io.StringIO(raw), ["Hello world!"])
        cost += time.perf_counter() - started
        classes[found.cls] = classes.get(found.cls, 0) + 1
        for line in reversed(text):
            if line.startswith("XENTRIAGE-CELL-RESULT "):
                v = json.loads(line.split(" ", 1)[1])
                cell_time += sum(v.get(k) or 0 for k in ("configure_seconds", "build_seconds",
                                                         "boot_wall_seconds"))
                break
        n += 1
    if not n:
        print(f"no *.log under {logs}")
        return
    print(f"== {n} real cell logs under {logs.name}/: {classes}")
    print(f"classification: {1000 * cost / n:.2f} ms per cell (total {cost:.3f} s); the cells' "
          f"own configure+build+boot: {cell_time / n:.1f} s per cell; "
          f"ratio {cost / cell_time:.2e}" if cell_time else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--logs", type=Path, help="a directory of real cell logs (*.log)")
    args = ap.parse_args()
    print(f"machine: {os.uname().machine}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    bench_big(args.mb, args.repeat)
    if args.logs:
        bench_cells(args.logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
