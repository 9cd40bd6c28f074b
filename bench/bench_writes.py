"""Benchmark: Bugzilla requests per write in one ``triage --production`` pass.

Seeds the Bugzilla REST double with ``--bugs`` new bugs (half too vague, so the follow-up rule
asks for details with a comment, a needinfo flag and a whiteboard tag; half complete, so the
review rule comments and adds a keyword), syncs them into a fresh SQLite store, queues them,
and runs one production pass through the engine, counting every request the double sees during
the pass (reconcile, refresh, pre-write reads, writes, the cache update after the writes).
The goal (issue "half the requests per write") is at most N + 3 requests for N writes.

Run from the repository root: ``python bench/bench_writes.py [--bugs 43]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bugzilla_double.double import BugzillaDouble
from triage.adapters import open_tracker
from triage.config import load_settings
from triage.engine import TriageEngine
from triage.store import Store
from triage.sync import sync_bugs

KEY_ENV = "XT_BENCH_WRITES_KEY"
VAGUE = "Xen crashes when I start a guest, with the latest version."
COMPLETE = """Xen version: 4.19.1
Hardware: Dell R740, Intel Xeon Gold 6230
Dom0: Debian 12, Linux 6.1.0
Guest: HVM Ubuntu 22.04
Steps to reproduce:
1. xl create guest.cfg
2. run stress-ng --cpu 4 inside the guest
3. wait ten minutes
Expected: the guest keeps running.
Actual: the host hangs; serial log attached (xl dmesg and the console output).
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=43)
    args = parser.parse_args()
    double = BugzillaDouble(resolutions=("FIXED", "INVALID", "WONTFIX", "DUPLICATE",
                                         "WORKSFORME", "INCOMPLETE"),
                            extra_keywords={"triage-review": "Waiting for the triage reviewer"},
                            lose_same_second_mail=False).start()
    os.environ[KEY_ENV] = double.admin_api_key
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reporters = [f"reporter{i}@example.org" for i in range(args.bugs)]
            for who in reporters:
                double.create_user(who)
            double.seed_bugs([{"summary": f"bug {i}", "product": "Xen",
                               "component": "Hypervisor", "creator": who,
                               "status": "UNCONFIRMED",
                               "description": VAGUE if i % 2 == 0 else COMPLETE}
                              for i, who in enumerate(reporters)])
            path = Path(tmp) / "xentriage.toml"
            path.write_text(f'[general]\nstate_dir = "{Path(tmp) / "state"}"\n'
                            'bot_email = "admin@bugzilla.local"\n'
                            f'[bugzilla]\nurl = "{double.url}"\napi_key_env = "{KEY_ENV}"\n'
                            f'[safety]\nchange_cap = {args.bugs * 4}\n', encoding="utf-8")
            settings = load_settings(path)
            store = Store(settings.store_url)
            store.migrate()
            tracker = open_tracker(settings, production=True)
            sync_bugs(store, tracker, settings, full=True)  # queues every bug
            double.reset_counts()
            report = TriageEngine(settings, store, tracker).run(production=True)
            requests = double.request_log
            store.dispose()
    finally:
        double.close()
    writes = len(report.written)
    # The write phase: from the first request after the pass's refresh read (its four batched
    # requests: bugs, comments, history, attachments) to the end of the pass.
    refresh = 4
    write_phase = requests[refresh:]
    assert all(r.method == "GET" for r in requests[:refresh])
    by_kind = Counter(f"{r.method} {'/rest/bug/<id>' if r.method == 'PUT' else r.path}"
                      for r in requests)
    print(f"bugs: {args.bugs}, writes planned: {len(report.plan.to_write)}, "
          f"written: {writes}, failed: {len(report.failed)}")
    print(f"requests during the pass: {len(requests)}, of which {refresh} are the pass's "
          f"refresh read")
    print(f"requests to make the {writes} writes: {len(write_phase)} "
          f"({len(write_phase) / max(writes, 1):.2f} per write; goal <= N + 3 = {writes + 3})")
    for kind, n in sorted(by_kind.items()):
        print(f"  {n:5d}  {kind}")
    return 0 if len(write_phase) <= writes + 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
