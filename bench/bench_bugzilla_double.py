"""Bugzilla REST double benchmark: how fast the test double itself is.

Other benchmarks (sync, digest) run against the double, so its own costs must stay small next to
what they measure. Figures printed:

* seeding N bugs (default 5,000, each with a description and one comment) via ``seed_bugs``,
* a 500-bug search (Bugzilla's default page) with ``include_fields``, median of R runs,
* a ``getbugs``-style batch of 100 ids with all default fields, median of R runs,
* single requests per second (``GET /rest/version``) and updates per second (``PUT /rest/bug``)
  over one keep-alive connection,
* python-bugzilla ``query()`` of 500 bugs with ``include_fields``, median of R runs.

Run: ``python bench/bench_bugzilla_double.py [--bugs 5000] [--repeat 15]`` from the repo root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bugzilla
import requests

from tests.bugzilla_double.double import BugzillaDouble

FIELDS = "id,summary,status,last_change_time,creator,whiteboard,keywords,flags,cc"


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with BugzillaDouble() as double:
        double.create_user("eve@example.org")
        specs = [{"summary": f"bench bug {i}", "creator": "eve@example.org",
                  "component": ("Hypervisor", "Tools", "Unikraft")[i % 3],
                  "keywords": ["regression"] if i % 4 == 0 else [], "cc": ["eve@example.org"],
                  "whiteboard": f"triage:w{i % 9}", "description": f"description {i}",
                  "comments": [f"follow-up {i}"],
                  "flags": [{"name": "needinfo", "status": "?", "requestee": "eve@example.org"}]
                  if i % 10 == 0 else []} for i in range(args.bugs)]
        started = time.perf_counter()
        ids = double.seed_bugs(specs)
        seed_s = time.perf_counter() - started

        session = requests.Session()
        key = {"Bugzilla_api_key": double.admin_api_key}
        url = double.url

        def search() -> None:
            r = session.get(url + "bug", params={**key, "product": "Xen",
                                                  "include_fields": FIELDS}, timeout=30)
            assert len(r.json()["bugs"]) == 500

        def batch() -> None:
            params: dict[str, str | list[int]] = {**key, "id": ids[:100]}
            r = session.get(url + "bug", params=params, timeout=30)
            assert len(r.json()["bugs"]) == 100

        search()
        search_ms = _median_ms(search, args.repeat)
        batch_ms = _median_ms(batch, args.repeat)

        n = 300
        started = time.perf_counter()
        for _ in range(n):
            session.get(url + "version", timeout=10)
        version_rps = n / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(n):
            session.put(url + f"bug/{ids[i]}", params=key,
                        json={"whiteboard": f"bench {i}"}, timeout=10)
        update_rps = n / (time.perf_counter() - started)

        bz = bugzilla.Bugzilla(url, api_key=double.admin_api_key, force_rest=True)
        query = bz.build_query(product="Xen", include_fields=FIELDS.split(","))
        pybz_ms = _median_ms(lambda: bz.query(query), args.repeat)

    print(f"bugs seeded:                         {args.bugs}")
    print(f"seed_bugs:                           {seed_s:.2f} s "
          f"({args.bugs / seed_s:,.0f} bugs/s)")
    print(f"search 500 bugs, include_fields:     {search_ms:.1f} ms (median of {args.repeat})")
    print(f"batch of 100 ids, default fields:    {batch_ms:.1f} ms (median of {args.repeat})")
    print(f"GET /rest/version:                   {version_rps:,.0f} requests/s")
    print(f"PUT /rest/bug/<id> (whiteboard):     {update_rps:,.0f} updates/s")
    print(f"python-bugzilla query(), 500 bugs:   {pybz_ms:.1f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
