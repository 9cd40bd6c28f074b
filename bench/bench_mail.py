"""Mail ingestion benchmarks (figures for docs/BENCHMARKS.md, section "Mail ingestion").

1. Backfill against its ceiling, side by side in one run: an mbox of N Bugzilla notification
   mails (default 100,000, generated once in a temporary folder in the recorded 5.2 format) is
   read three ways, each in a child process of its own (so each has its own peak RSS), the three
   interleaved ``--repeat`` times and the median taken:
   * the ceiling: the archive's streaming reader and the standard library's header parser
     (``email.parser.BytesHeaderParser``, compat32) per message; no store, no events;
   * the full pipeline into SQLite (parse, Message-ID dedupe, events, bug cache, queue,
     checkpoint; one transaction per chunk), bugs looked up batched in an in-memory tracker;
   * the same into PostgreSQL (a private cluster on 127.0.0.1 started by the bench, durable
     defaults: fsync and synchronous_commit on), when its server binaries are installed.
   Goal: pipeline rate >= 0.70 x ceiling rate on SQLite; peak RSS bounded (streaming, chunked).
   The ratio is given on wall time and on CPU time (``time.process_time`` of each child): on a
   shared, loaded machine the second is the steadier one.
2. IMAP: M messages (default 10,000) in a private dovecot on 127.0.0.1, fetched by the IMAP
   source (batched UID FETCH), beside a one-message-per-FETCH loop, in the same run.

    python bench/bench_mail.py [--mails 100000] [--repeat 3] [--imap 10000] [--chunk 1000]
                               [--backends sqlite,postgresql] [--profile 30]

``--profile N`` runs the SQLite pipeline once more under cProfile and prints its N costliest
functions (own time), for the profile in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mail.make_sample_mbox import (  # noqa: E402
    SampleBug,
    change_mail,
    comment_mail,
    new_bug_mail,
    request_mail,
)
from triage.adapters.tracker import BugBatch  # noqa: E402
from triage.model import Bug  # noqa: E402


class MemoryTracker:
    name = "memory"
    read_only = True

    def __init__(self, bugs: dict[int, Bug]) -> None:
        self.bugs = bugs
        self.calls = 0

    def get_bugs(self, ids: Sequence[int], **_kw: object) -> BugBatch:
        self.calls += 1
        return BugBatch(tuple(self.bugs[i] for i in ids if i in self.bugs),
                        tuple(i for i in ids if i not in self.bugs))


def sample_bugs(n_bugs: int) -> list[SampleBug]:
    rng = random.Random(42)
    return [SampleBug(id=10000 + i, summary=f"Xen issue number {i}: guest hangs on boot",
                      component=rng.choice(["Hypervisor", "Tools", "Unikraft"]),
                      reporter=f"user{i % 97}@example.org",
                      description="Xen 4.18, dom0 Debian 12.\nSteps: xl create.\n" * 3)
            for i in range(n_bugs)]


def tracker_bugs(n_bugs: int) -> dict[int, Bug]:
    t = datetime(2019, 1, 1, tzinfo=UTC)
    return {b.id: Bug(id=b.id, summary=b.summary, product=b.product, component=b.component,
                      status="CONFIRMED", creator=b.reporter, creation_time=t,
                      last_change_time=t) for b in sample_bugs(n_bugs)}


def generate_mbox(path: Path, n: int, n_bugs: int) -> None:
    rng = random.Random(42)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    samples = sample_bugs(n_bugs)
    with path.open("wb") as out:
        for k in range(n):
            bug = samples[k % n_bugs]
            when = start + timedelta(minutes=k)
            r = k // n_bugs
            if r == 0:
                raw = new_bug_mail(bug, when, rng)
            elif r % 3 == 1:
                raw = comment_mail(bug, when, rng, who="dev@xenproject.org", who_name="Dev",
                                   text="Please attach `xl dmesg`.", comment_no=r)
            elif r % 3 == 2:
                raw = request_mail(bug, when, rng, requester="dev@xenproject.org",
                                   requester_name="Dev", requestee=bug.reporter)
            else:
                raw = change_mail(bug, when, rng, who="dev@xenproject.org", who_name="Dev",
                                  changes=[("Status", "UNCONFIRMED", "CONFIRMED")],
                                  changed="bug_status", status="CONFIRMED")
            out.write(f"From MAILER-DAEMON {when:%a %b %d %H:%M:%S %Y}\n".encode())
            out.write(raw.replace(b"\nFrom ", b"\n>From "))
            out.write(b"\n")


def n_bugs_for(n: int) -> int:
    return max(1, n // 20)


# --- the measured runs, each in a child process (``--child``) --------------------------------

def run_ceiling(mbox: Path) -> dict[str, Any]:
    """The bare minimum: read the archive, parse each message's headers (standard library)."""
    from email.parser import BytesHeaderParser

    from triage.adapters.mail.archive import iter_mbox

    parser = BytesHeaderParser()
    t0, c0 = time.perf_counter(), time.process_time()
    count = 0
    for _offset, _end, raw in iter_mbox(mbox):
        parser.parsebytes(raw)
        count += 1
    return {"mails": count, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


def run_pipeline(mbox: Path, url: str, folder: Path, n_bugs: int, chunk: int,
                 profile: int = 0) -> dict[str, Any]:
    from triage.adapters.mail.archive import MboxSource
    from triage.ingest import Ingestor
    from triage.store import Store

    store = Store(url)
    store.migrate()
    tracker = MemoryTracker(tracker_bugs(n_bugs))
    ingestor = Ingestor(store, quarantine_dir=folder / "q", tracker=tracker, chunk_size=chunk)
    before_kb = peak_rss_kb()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    report = ingestor.run(MboxSource(mbox, batch_size=chunk))
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)
        print(out.getvalue(), file=sys.stderr)
    store.dispose()
    if report.processed != report.received or report.duplicates or report.quarantined:
        raise SystemExit(f"pipeline lost or rejected mail: {report}")
    return {"mails": report.processed, "seconds": took, "cpu_seconds": cpu,
            "chunks": report.chunks,
            "tracker_calls": tracker.calls, "rss_before_kb": before_kb}


def peak_rss_kb() -> int:
    """This process's own peak RSS in KiB: ``VmHWM`` (per address space, so it starts afresh at
    exec). ``ru_maxrss`` is kept across exec on Linux and would report the bench's parent's
    resident size if that was larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(args: argparse.Namespace) -> int:
    mbox = Path(args.mbox)
    if args.child == "ceiling":
        result = run_ceiling(mbox)
    else:
        result = run_pipeline(mbox, args.url, Path(args.folder), args.n_bugs, args.chunk,
                              args.profile)
    result["peak_rss_kb"] = peak_rss_kb()
    print(json.dumps(result))
    return 0


def in_child(kind: str, mbox: Path, *, url: str = "", folder: Path | None = None,
             n_bugs: int = 1, chunk: int = 1000, profile: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--mbox", str(mbox),
           "--url", url, "--folder", str(folder or mbox.parent), "--n-bugs", str(n_bugs),
           "--chunk", str(chunk), "--profile", str(profile)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-4000:]}")
    if profile:
        print(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_backfill(n: int, chunk: int, repeat: int, backends: Sequence[str],
                   profile: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        folder = Path(tmp)
        mbox = folder / "list.mbox"
        t0 = time.perf_counter()
        generate_mbox(mbox, n, n_bugs_for(n))
        gen = time.perf_counter() - t0
        cluster = start_postgres() if "postgresql" in backends else None
        runs: dict[str, list[dict[str, Any]]] = {"ceiling": [], **{b: [] for b in backends}}
        try:
            for r in range(repeat):
                runs["ceiling"].append(in_child("ceiling", mbox))
                for backend in backends:
                    run_dir = folder / f"{backend}-{r}"
                    run_dir.mkdir()
                    url = (cluster.new_database() if backend == "postgresql" and cluster
                           else f"sqlite:///{run_dir / 'store.sqlite3'}")
                    runs[backend].append(in_child("pipeline", mbox, url=url, folder=run_dir,
                                                  n_bugs=n_bugs_for(n), chunk=chunk))
            if profile:
                run_dir = folder / "profile"
                run_dir.mkdir()
                in_child("pipeline", mbox, url=f"sqlite:///{run_dir / 'store.sqlite3'}",
                         folder=run_dir, n_bugs=n_bugs_for(n), chunk=chunk, profile=profile)
        finally:
            if cluster is not None:
                cluster.stop()
                shutil.rmtree(cluster.root, ignore_errors=True)
        return {"mails": n, "generate_s": gen, "size_mb": mbox.stat().st_size / 1e6,
                "runs": runs}


def start_postgres() -> Any:
    from tests.support.postgres import PostgresCluster, _pg_bindir

    bindir = _pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries missing (apt-get install postgresql), "
                         "or pass --backends sqlite")
    # A folder of its own: the server runs as ``postgres``, which cannot enter the bench's.
    root = Path(tempfile.mkdtemp(prefix="bench-mail-pg-"))
    cluster = PostgresCluster(bindir, root, durable=True)
    cluster.start()
    return cluster


def median_rate(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["mails"] / r["seconds"] for r in runs)


def bench_imap(m: int, batch: int) -> dict[str, float]:
    from tests.support.imap_server import ImapMailbox, running_dovecot
    from triage.adapters.mail.imap import ImapParams, ImapSource
    from triage.config import Secret

    rng = random.Random(5)
    bug = SampleBug(id=1, summary="guest hangs", description="x" * 400)
    raws = [comment_mail(bug, datetime(2026, 1, 1, tzinfo=UTC), rng, who="d@x.org",
                         who_name="D", text=f"comment {i}", comment_no=i) for i in range(m)]
    import os

    with running_dovecot() as server:
        box = ImapMailbox(server, "bench")
        c = server.client()
        c.create("bench")
        c.logout()
        t0 = time.perf_counter()
        box.append_many(raws)
        append_s = time.perf_counter() - t0
        os.environ["XENTRIAGE_BENCH_IMAP_PASSWORD"] = server.password
        params = ImapParams(host="127.0.0.1", port=server.port, user=server.user,
                            password=Secret("bench", env="XENTRIAGE_BENCH_IMAP_PASSWORD"),
                            folder="bench", tls=False, fetch_batch_size=batch)
        batched = ImapSource(params)
        t1 = time.perf_counter()
        got = sum(len(b.messages) for b in batched.batches(None))
        batched_s = time.perf_counter() - t1
        assert got == m
        single = ImapSource(params)
        single.connect()
        before = single.round_trips
        t2 = time.perf_counter()
        uids = single.new_uids(0)
        fetched = sum(len(single.fetch([u])) for u in uids)
        single_s = time.perf_counter() - t2
        assert fetched == m
        result = {"messages": m, "append_s": append_s,
                  "batched_s": batched_s, "batched_round_trips": batched.round_trips,
                  "single_s": single_s, "single_round_trips": single.round_trips - before}
        batched.close()
        single.close()
        return result


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mails", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgresql",
                    help="comma-separated: sqlite, postgresql")
    ap.add_argument("--profile", type=int, default=0, metavar="N")
    ap.add_argument("--imap", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--fetch-batch", type=int, default=500)
    ap.add_argument("--child", choices=["ceiling", "pipeline"], help=argparse.SUPPRESS)
    ap.add_argument("--mbox", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--n-bugs", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    # Stopped early (SIGTERM): unwind, so the child run and the PostgreSQL cluster are stopped
    # and the temporary folders removed by the ``finally`` blocks.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        ap.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    print(f"machine: {machine()}; date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"load average at start: {load()}")
    if args.mails:
        b = bench_backfill(args.mails, args.chunk, max(1, args.repeat), backends, args.profile)
        runs = b["runs"]
        ceiling = median_rate(runs["ceiling"])
        print(f"backfill: {b['mails']:.0f} mails ({b['size_mb']:.0f} MB mbox, generated in "
              f"{b['generate_s']:.1f} s), median of {len(runs['ceiling'])} interleaved runs")
        print(f"  ceiling (stream + stdlib header parse): {ceiling:,.0f} mails/s, "
              f"peak RSS {max(r['peak_rss_kb'] for r in runs['ceiling']) / 1024:.0f} MiB")
        for backend in backends:
            mine = runs[backend]
            ratio = statistics.median(c["seconds"] / p["seconds"]
                                      for p, c in zip(mine, runs["ceiling"], strict=True))
            cpu_ratio = statistics.median(c["cpu_seconds"] / p["cpu_seconds"]
                                          for p, c in zip(mine, runs["ceiling"], strict=True))
            last = mine[-1]
            each = ", ".join(f"{r['mails'] / r['seconds']:,.0f}" for r in mine)
            print(f"  pipeline, {backend}: {median_rate(mine):,.0f} mails/s = "
                  f"{ratio:.2f} x ceiling (CPU time: {cpu_ratio:.2f} x; runs: "
                  f"{each}); "
                  f"peak RSS {max(r['peak_rss_kb'] for r in mine) / 1024:.0f} MiB "
                  f"({last['rss_before_kb'] / 1024:.0f} MiB before the first mail); "
                  f"{last['chunks']} transactions, {last['tracker_calls']} tracker calls")
    if args.imap:
        r = bench_imap(args.imap, args.fetch_batch)
        print(f"imap: {r['messages']:.0f} messages (APPEND setup {r['append_s']:.1f} s)")
        print(f"  batched UID FETCH (<= {args.fetch_batch}/round trip): "
              f"{r['batched_round_trips']:.0f} round trips, {r['batched_s']:.2f} s")
        print(f"  one message per FETCH: {r['single_round_trips']:.0f} round trips, "
              f"{r['single_s']:.2f} s ({r['single_s'] / r['batched_s']:.1f}x slower)")
    return 0


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
