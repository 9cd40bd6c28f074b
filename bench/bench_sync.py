"""Bugzilla sync benchmark: request counts and wall time against the REST double.

Seeds N bugs (default 5,000, each with a description and a comment, changed over the last days)
into the Bugzilla double on 127.0.0.1, then measures in one run:

* a full sync (bound: ceil(N/500) + 5 requests),
* an incremental sync with nothing changed (bound: 2 requests, 0 writes),
* an incremental sync after 25 bugs changed,
* the naive baseline: python-bugzilla ``getbug(id)`` plus ``get_comments([id])`` per bug, timed
  on a sample (default 500 bugs) and extrapolated to N.

Run: ``python bench/bench_sync.py [--bugs 5000] [--naive-sample 500]`` from the repository root.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bugzilla  # the naive baseline uses python-bugzilla directly

from tests.bugzilla_double.double import BugzillaDouble
from triage.adapters.bugzilla import BugzillaGateway
from triage.config import load_settings
from triage.model import BugUpdate
from triage.store import Store
from triage.sync import sync_bugs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=5000)
    parser.add_argument("--naive-sample", type=int, default=500)
    args = parser.parse_args()
    n = args.bugs
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp, BugzillaDouble() as double:
        t0 = time.perf_counter()
        ids = double.seed_bugs([
            {"summary": f"Benchmark bug {i}: dom0 hangs on boot", "component": "Hypervisor",
             "description": f"Xen 4.19, steps ... log line {i}\n" * 5,
             "comments": [f"Follow-up {i}: still happens with staging"],
             "creation_time": now - 30 * 86400, "last_change_time": now - 86400 * 7 + 60 * i}
            for i in range(n)
        ])
        seed_s = time.perf_counter() - t0
        cfg = Path(tmp) / "xentriage.toml"
        cfg.write_text(f'[general]\nstate_dir = "{tmp}"\n[bugzilla]\nurl = "{double.url}"\n',
                       encoding="utf-8")
        settings = load_settings(cfg)
        store = Store(settings.store_url)
        store.migrate()
        gateway = BugzillaGateway(settings.bugzilla, double.admin_api_key)

        double.reset_counts()
        full = sync_bugs(store, gateway, settings)
        full_requests = double.request_count()

        # A new gateway, as a periodic job in a fresh process would have: connecting counts.
        gateway = BugzillaGateway(settings.bugzilla, double.admin_api_key)
        double.reset_counts()
        quiet = sync_bugs(store, gateway, settings)
        quiet_requests = double.request_count()
        quiet_writes = double.request_count("PUT") + double.request_count("POST")

        double.set_clock(now - 3600)
        for bug_id in ids[: n : max(1, n // 25)][:25]:
            gateway.update_bug(bug_id, BugUpdate(comment="new detail"))
        double.set_clock(now, frozen=False)
        double.reset_counts()
        some = sync_bugs(store, gateway, settings)
        some_requests = double.request_count()

        sample = ids[: args.naive_sample]
        naive = bugzilla.Bugzilla(double.url, api_key=double.admin_api_key, force_rest=True,
                                  use_creds=False)
        double.reset_counts()
        t0 = time.perf_counter()
        for bug_id in sample:
            naive.getbug(bug_id)
            naive.get_comments([bug_id])
        naive_s = time.perf_counter() - t0
        naive_requests = double.request_count()
        store.dispose()

    bound = math.ceil(n / 500) + 5
    print(f"bugs seeded: {n} in {seed_s:.1f}s")
    print(f"full sync: {full_requests} requests (bound {bound}), {full.seconds:.2f}s, "
          f"{full.stored} stored")
    print(f"incremental, nothing changed: {quiet_requests} requests (bound 2), "
          f"{quiet_writes} Bugzilla writes, {quiet.stored} store writes, {quiet.seconds:.3f}s")
    print(f"incremental, {some.fetched} changed: {some_requests} requests, {some.seconds:.3f}s")
    per_bug = naive_s / len(sample)
    print(f"naive getbug+get_comments per bug: {naive_requests} requests for {len(sample)} bugs "
          f"in {naive_s:.2f}s; extrapolated to {n}: {naive_requests * n // len(sample)} requests, "
          f"{per_bug * n:.1f}s")
    ok = full_requests <= bound and quiet_requests <= 2 and quiet_writes == 0 and quiet.stored == 0
    print("bounds:", "met" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
