"""Benchmark: a daily triage pass over 5,000 open bugs.

Figures (docs/BENCHMARKS.md, section "Triage rules"):

1. rule evaluation alone (the pure core: every rule's chain on every bug, plus the nag ledger),
   median of ``--repeat`` runs; the target is under 2 s;
2. the whole engine in a dry run from the store (load the bugs, states, ledger; evaluate; store
   decisions and the dry-run action rows), SQLite;
3. the same pass refreshing the bugs from the Bugzilla REST double first, counting the requests
   (batched reads: bugs, comments, history, attachments) against the naive one-request-per-bug
   reading.

Run from the repository root: ``python bench/bench_triage.py [--bugs 5000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bugzilla_double.double import BugzillaDouble
from tests.builders import BOT, comment, config_toml, make_bug
from triage.config import load_settings
from triage.engine import TriageEngine
from triage.markers import marker_for, with_marker
from triage.model import Bug
from triage.nag import NagLedger
from triage.plan import plan_pass
from triage.rules import build_rules
from triage.rules.base import RuleContext, StateRecord
from triage.store import Store
from triage.store import bugs as bug_cache

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
COMPLETE = """Xen 4.17.2 on x86_64, Dell PowerEdge R740 with an Intel Xeon Gold 6230.
Dom0 is Debian 12 with kernel 6.1.0-13-amd64.
Steps to reproduce:
1. xl create /etc/xen/guest.cfg
2. xl console guest
Expected: the guest boots. Actual: the host hangs after a few seconds.
(XEN) Panic on CPU 3:
(XEN) FATAL TRAP: vector = 6 (invalid opcode)
""" + "(XEN) filler line of a long xl dmesg paste\n" * 40
VAGUE = "Xen crashes when I start a guest with the latest version. " * 5


def corpus(n: int) -> list[dict[str, object]]:
    """A realistic mix: vague, complete, corporate, waiting for the reporter, answered."""
    out: list[dict[str, object]] = []
    for i in range(n):
        kind = i % 10
        creator = f"user{i % 1000}@example.org" if kind != 9 else f"dev{i % 100}@citrix.com"
        created = NOW - timedelta(days=1 + i % 90)
        comments: list[dict[str, object]] = [{"text": "Same here on my box.",
                                              "creator": f"other{i % 50}@example.net",
                                              "time": created + timedelta(hours=2)}]
        text = COMPLETE if kind in (0, 1, 2) else VAGUE
        if kind in (3, 4, 5):  # a follow-up was posted some days ago
            key = f"followup:{i + 1}:round1"
            comments.append({"text": with_marker("Please add details.", marker_for(key)),
                             "creator": BOT, "time": created + timedelta(hours=5)})
        if kind == 5:  # ... and the reporter answered
            comments.append({"text": "It is x86_64.", "creator": creator,
                             "time": created + timedelta(days=1)})
        out.append({"summary": f"bug {i}", "product": "Xen", "component": "Hypervisor",
                    "creator": creator, "status": "UNCONFIRMED", "description": text,
                    "comments": comments, "creation_time": created, "last_change_time": created})
    return out


def as_bugs(rows: list[dict[str, object]]) -> list[Bug]:
    bugs = []
    for i, r in enumerate(rows, start=1):
        created = r["creation_time"]
        assert isinstance(created, datetime)
        later = [comment(i, n, c["text"], c["creator"], c["time"], cid=i * 10 + n)
                 for n, c in enumerate(r["comments"], start=1)]  # type: ignore[attr-defined]
        bugs.append(make_bug(i, None, summary=str(r["summary"]), creator=str(r["creator"]),
                             created=created, comments=[
                                 comment(i, 0, str(r["description"]), str(r["creator"]),
                                         created, cid=i * 10), *later]))
    return bugs


def config(tmp: Path, url: str = "", key_env: str = "XT_BENCH_KEY") -> Path:
    path = tmp / "bench.toml"
    path.write_text(config_toml(
        tmp / "state", bot_email=BOT,
        bugzilla={"url": url, "api_key_env": key_env} if url else None,
        sections='[orgs]\ndomains = { "citrix.com" = "Citrix" }\n[safety]\n'
                 "change_cap = 100000\n"), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = corpus(args.bugs)
    bugs = as_bugs(rows)
    print(f"bugs: {len(bugs)}; machine: {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        settings = load_settings(config(tmp))
        rules = build_rules(settings)
        times = []
        for _ in range(args.repeat):
            ledger = NagLedger.from_entries(settings.nag, [BOT], [])
            start = time.perf_counter()
            plan, _ = plan_pass(bugs, rules, lambda b: RuleContext(
                now=NOW, settings=settings, state=StateRecord(b.id)), ledger)
            times.append(time.perf_counter() - start)
        writes = len(plan.to_write)
        print(f"1. rule evaluation, {len(bugs)} bugs: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}); {writes} writes planned")

        store = Store(settings.store_url)
        store.migrate()
        with store.session() as s:
            for b in bugs:
                bug_cache.upsert_bug(s, b)
        start = time.perf_counter()
        report = TriageEngine(settings, store, None, clock=lambda: NOW).run(all_open=True)
        first = time.perf_counter() - start
        start = time.perf_counter()
        TriageEngine(settings, store, None, clock=lambda: NOW).run(all_open=True)
        second = time.perf_counter() - start
        print(f"2. engine dry run from the store (SQLite): first pass {first:.2f} s "
              f"({report.summary()['decisions']} decisions stored), second pass {second:.2f} s")
        store.dispose()

    with tempfile.TemporaryDirectory() as tmpdir, BugzillaDouble(
            lose_same_second_mail=False) as double:
        tmp = Path(tmpdir)
        os.environ["XT_BENCH_KEY"] = double.admin_api_key
        people = {str(r["creator"]) for r in rows} | {
            str(c["creator"]) for r in rows for c in r["comments"]}  # type: ignore[attr-defined]
        for who in sorted(people):
            double.create_user(who)
        ids = double.seed_bugs(rows)
        settings = load_settings(config(tmp, double.url))
        from triage.adapters import open_tracker

        tracker = open_tracker(settings, production=False)
        store = Store(settings.store_url)
        store.migrate()
        double.reset_counts()
        start = time.perf_counter()
        TriageEngine(settings, store, tracker, clock=lambda: NOW).run(bug_ids=ids)
        wall = time.perf_counter() - start
        n = double.request_count()
        print(f"3. pass refreshing {len(ids)} bugs from the Bugzilla double: {n} requests "
              f"(naive per-bug reads of bug + comments + history + attachments: "
              f"{4 * len(ids)}), {wall:.2f} s")
        store.dispose()


if __name__ == "__main__":
    main()
