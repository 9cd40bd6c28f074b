"""Mail ingestion benchmarks (figures for docs/BENCHMARKS.md, section "Mail ingestion").

1. Backfill: an mbox of N Bugzilla notification mails (default 100,000, generated in a temporary
   folder in the recorded 5.2 format) parsed and stored by the exactly-once pipeline into SQLite,
   with the batched bug lookup against an in-memory tracker. Target: >= 3,000 mails/s.
2. IMAP: M messages (default 10,000) in a private dovecot on 127.0.0.1, fetched by the IMAP
   source (batched UID FETCH), beside a one-message-per-FETCH loop, in the same run.

    python bench/bench_mail.py [--mails 100000] [--imap 10000] [--chunk 1000]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mail.make_sample_mbox import (  # noqa: E402
    SampleBug,
    change_mail,
    comment_mail,
    new_bug_mail,
    request_mail,
)
from triage.adapters.mail.archive import MboxSource  # noqa: E402
from triage.adapters.tracker import BugBatch  # noqa: E402
from triage.ingest import Ingestor  # noqa: E402
from triage.model import Bug  # noqa: E402
from triage.store import Store  # noqa: E402


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


def generate_mbox(path: Path, n: int, n_bugs: int) -> dict[int, Bug]:
    rng = random.Random(42)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    samples = [SampleBug(id=10000 + i, summary=f"Xen issue number {i}: guest hangs on boot",
                         component=rng.choice(["Hypervisor", "Tools", "Unikraft"]),
                         reporter=f"user{i % 97}@example.org",
                         description="Xen 4.18, dom0 Debian 12.\nSteps: xl create.\n" * 3)
               for i in range(n_bugs)]
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
    t = datetime(2019, 1, 1, tzinfo=UTC)
    return {b.id: Bug(id=b.id, summary=b.summary, product=b.product, component=b.component,
                      status="CONFIRMED", creator=b.reporter, creation_time=t,
                      last_change_time=t) for b in samples}


def bench_backfill(n: int, chunk: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        folder = Path(tmp)
        mbox = folder / "list.mbox"
        t0 = time.perf_counter()
        bugs = generate_mbox(mbox, n, n_bugs=max(1, n // 20))
        gen = time.perf_counter() - t0
        store = Store(f"sqlite:///{folder / 'store.sqlite3'}")
        store.migrate()
        tracker = MemoryTracker(bugs)
        ingestor = Ingestor(store, quarantine_dir=folder / "q", tracker=tracker,
                            chunk_size=chunk)
        t1 = time.perf_counter()
        report = ingestor.run(MboxSource(mbox, batch_size=chunk))
        took = time.perf_counter() - t1
        store.dispose()
        assert report.processed == n, report
        return {"mails": n, "generate_s": gen, "seconds": took, "rate": n / took,
                "size_mb": mbox.stat().st_size / 1e6 if mbox.exists() else 0.0,
                "tracker_calls": tracker.calls, "chunks": report.chunks}


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
    ap.add_argument("--imap", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--fetch-batch", type=int, default=500)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}; date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    if args.mails:
        b = bench_backfill(args.mails, args.chunk)
        print(f"backfill: {b['mails']:.0f} mails ({b['size_mb']:.0f} MB mbox) in "
              f"{b['seconds']:.1f} s = {b['rate']:.0f} mails/s "
              f"(chunk {args.chunk}: {b['chunks']:.0f} transactions, "
              f"{b['tracker_calls']:.0f} batched tracker calls; generating took "
              f"{b['generate_s']:.1f} s)")
    if args.imap:
        r = bench_imap(args.imap, args.fetch_batch)
        print(f"imap: {r['messages']:.0f} messages (APPEND setup {r['append_s']:.1f} s)")
        print(f"  batched UID FETCH (<= {args.fetch_batch}/round trip): "
              f"{r['batched_round_trips']:.0f} round trips, {r['batched_s']:.2f} s")
        print(f"  one message per FETCH: {r['single_round_trips']:.0f} round trips, "
              f"{r['single_s']:.2f} s ({r['single_s'] / r['batched_s']:.1f}x slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
