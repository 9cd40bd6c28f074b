"""CI linking: intake throughput, sweep paging, and push latency on a real farm.

    .venv/bin/python bench/bench_ci_linking.py [--results 1000] [--threads 4]
        [--builds 10000] [--page 500] [--farm]

1. Intake: ``--results`` signed posts to the real intake endpoint (ThreadingHTTPServer,
   SQLite store in WAL mode) from ``--threads`` clients with keep-alive sessions; results/s.
   Every post is verified (HMAC, skew, replay ledger) and stored exactly once.
2. Sweep: ``--builds`` finished builds served as Buildbot's ``/api/v2/builds`` answers them
   (same JSON shape, ``buildid__gt`` / ``limit`` paging), swept into an empty store; pages
   and wall time. The page count is ceil(builds / page) + 1 (the last, short page).
3. ``--farm``: a real master + 2 workers on the fixture matrix push to the intake; the linker
   (push-driven, production, the Bugzilla double) retries new failures once, then files or
   comments. Latency per write: the action's confirmation time minus the finishing time of
   the build whose push caused it (the retry build for a new failure); p50 / p95.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.ci.world import result  # noqa: E402
from triage.ci.intake import (  # noqa: E402
    PATH,
    Answer,
    IntakeRules,
    make_http_server,
    make_server,
    serve_in_thread,
    signed_headers,
    verify,
)
from triage.ci.sweep import sweep  # noqa: E402
from triage.store import Store  # noqa: E402
from triage.store import ci as ci_rows  # noqa: E402

SECRET = b"bench-secret"


def fresh_store(tmp: Path, name: str) -> Store:
    store = Store(f"sqlite:///{tmp / name}")
    store.migrate()
    return store


def post_all(url: str, bodies: list[bytes]) -> list[int]:
    """One client: a keep-alive connection posting its share of the bodies."""
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    codes = []
    for body in bodies:
        conn.request("POST", parsed.path, body=body,
                     headers=signed_headers(SECRET, body, time.time()))
        resp = conn.getresponse()
        resp.read()
        codes.append(resp.status)
    conn.close()
    return codes


def result_docs(n: int, offset: int) -> list[dict[str, Any]]:
    return [result(f"hello-lib{i % 40}-kvm-x86_64", "build-failed", f"r{i // 40}",
                   offset + i + 1, sig="0123456789abcdef", title="x").to_json()
            for i in range(n)]


def bodies_of(docs: list[dict[str, Any]], batch: int) -> list[bytes]:
    """Posts as the reporter sends them: one result each, or ``{"results": [...]}``."""
    if batch <= 1:
        return [json.dumps(d, sort_keys=True).encode() for d in docs]
    return [json.dumps({"results": docs[i:i + batch]}, sort_keys=True).encode()
            for i in range(0, len(docs), batch)]


def bare_handle(rules: IntakeRules) -> Any:
    """The ceiling: the same HTTP server, a handler that only verifies the signature."""
    def handle(headers: Any, body: bytes) -> Answer:
        refused = verify(rules, headers, body, datetime.now(UTC))
        return refused or Answer(200, "verified")
    return handle


def intake_round(tmp: Path, pool: Any, n: int, threads: int, batch: int, bare: bool,
                 offset: int) -> dict[str, Any]:
    rules = IntakeRules(SECRET, 65536, 300)
    store = fresh_store(tmp, f"intake-{offset}.sqlite3")
    server = (make_http_server(bare_handle(rules), rules.max_body_bytes, "127.0.0.1", 0)
              if bare else make_server(store, rules, "127.0.0.1", 0))
    serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    bodies = bodies_of(result_docs(n, offset), batch)
    chunks = [bodies[i::threads] for i in range(threads)]
    start, cpu = time.perf_counter(), time.process_time()
    statuses = [c for part in pool.starmap(post_all, [(url, c) for c in chunks]) for c in part]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    server.shutdown()
    server.server_close()
    with store.session() as s:
        stored = ci_rows.result_count(s)
    store.dispose()
    # The server's own CPU (this process: the clients are the pool's): load-independent.
    return {"seconds": wall, "per_second": n / wall, "cpu_us": cpu / n * 1e6, "stored": stored,
            "non_200": sum(c != 200 for c in statuses)}


def bench_intake(tmp: Path, n: int, threads: int, batch: int, repeat: int) -> dict[str, Any]:
    """Side by side in one run, each ``repeat`` times (median), interleaved so each sees the
    same load: per post size (1 result, ``batch`` results) the bare endpoint (the same HTTP
    server, signature only: the ceiling) and the intake; results/s, the intake's share of its
    ceiling, and the server's own CPU per result."""
    sizes = (1, batch) if batch > 1 else (1,)
    modes = [(size, bare) for size in sizes for bare in (True, False)]
    runs: dict[tuple[int, bool], list[dict[str, Any]]] = {m: [] for m in modes}
    # Clients in their own processes (as the master is), so they do not share the server's GIL.
    with multiprocessing.get_context("spawn").Pool(threads) as pool:
        pool.map(time.sleep, [0.5] * threads)  # the clients' start-up (imports) is not timed
        offset = 0
        for _ in range(repeat):
            for size, bare in modes:
                runs[(size, bare)].append(intake_round(tmp, pool, n, threads, size, bare,
                                                       offset))
                offset += n
    out: dict[str, Any] = {"results": n, "threads": threads, "repeat": repeat}
    for size in sizes:
        ceiling = statistics.median(r["per_second"] for r in runs[(size, True)])
        for bare in (True, False):
            rs = runs[(size, bare)]
            rate = statistics.median(r["per_second"] for r in rs)
            name = (f"{'bare endpoint (HMAC only)' if bare else 'intake'}, "
                    f"{size} result{'s' if size > 1 else ''} per post")
            out[name] = {"per_second": round(rate), "of_ceiling": round(rate / ceiling, 2),
                         "runs": [round(r["per_second"]) for r in rs],
                         "server_cpu_us_per_result": round(statistics.median(
                             r["cpu_us"] for r in rs)),
                         "stored": sorted({r["stored"] for r in rs}),
                         "non_200": sum(r["non_200"] for r in rs)}
    return out


def fake_builds(n: int) -> list[dict[str, Any]]:
    t0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    out = []
    for i in range(1, n + 1):
        ok = i % 5 != 0
        props = {"cell": [f"hello-lib{i % 40}-kvm-x86_64", "xentriage-farm"],
                 "cell_result": ["passed" if ok else "build-failed", "xentriage-farm"],
                 "revision": [f"content-{i // 40:040x}"[:48], "Build"],
                 "workername": ["full", "Worker"]}
        if not ok:
            props["signature"] = ["0123456789abcdef", "xentriage-farm"]
            props["title"] = ["lib.c:1: error", "xentriage-farm"]
        out.append({"buildid": i, "builderid": 1 + i % 4, "number": i, "complete": True,
                    "complete_at": t0 + i, "started_at": t0 + i - 1, "results": 0,
                    "properties": props})
    return out


def bench_sweep(tmp: Path, n: int, page: int) -> dict[str, Any]:
    builds = fake_builds(n)
    requests_seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            q = parse_qs(urlparse(self.path).query)
            after, limit = int(q["buildid__gt"][0]), int(q["limit"][0])
            requests_seen.append(self.path)
            chosen = [b for b in builds if b["buildid"] > after][:limit]
            data = json.dumps({"builds": chosen, "meta": {"total": len(chosen)}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    store = fresh_store(tmp, "sweep.sqlite3")
    start = time.perf_counter()
    report = sweep(store, f"http://127.0.0.1:{api.server_address[1]}/", master="bench",
                   page_size=page)
    wall = time.perf_counter() - start
    again = sweep(store, f"http://127.0.0.1:{api.server_address[1]}/", master="bench",
                  page_size=page)
    api.shutdown()
    return {"builds": n, "page_size": page, "pages": report.pages,
            "bound": math.ceil(n / page) + 1, "stored": report.stored,
            "seconds": round(wall, 2), "second_sweep_pages": again.pages,
            "second_sweep_stored": again.stored}


def bench_farm(tmp: Path) -> dict[str, Any]:
    import os

    from farm import localfarm
    from tests.bugzilla_double.double import BugzillaDouble
    from tests.rules.world import KEY_ENV, double_options, write_config
    from triage.ci.service import IntakeService
    from triage.store.tables import ActionRow

    double = BugzillaDouble(**double_options()).start()
    os.environ[KEY_ENV] = double.admin_api_key
    secret = tmp / "hmac.key"
    secret.write_text("bench\n")
    port, www = localfarm.free_port(), localfarm.free_port()
    _, settings = write_config(tmp, double, f"""
[safety]
production = true
change_cap = 500
[ci]
intake_port = {port}
hmac_secret_file = "{secret}"
buildbot_url = "http://127.0.0.1:{www}/"
master_name = "farm"
""")
    store = Store(settings.store_url)
    store.migrate()
    plans = [localfarm.WorkerPlan("full", max_builds=2),
             localfarm.WorkerPlan("bare", max_builds=2, hide_tools=localfarm.NO_CROSS_NO_QEMU)]
    state_dir = tmp / "farm"
    state = localfarm.up(state_dir, REPO / "ci" / "matrix.toml", plans, www_port=www,
                         master_settings={"ci_intake_url": f"http://127.0.0.1:{port}",
                                          "ci_secret_file": str(secret),
                                          "ci_master_name": "farm"})
    intake = IntakeService(settings, store)
    intake.start()
    try:
        localfarm.force(state, "*")
        for _ in range(3):  # the run, then the retries of new failures
            localfarm.wait_idle(state, 1800)
            time.sleep(3)
        time.sleep(3)
        with store.session() as s:
            results = {(r.cell, r.build_id): r for r in ci_rows.all_results(s)}
            actions = [(a.key, a.confirmed_at) for a in s.query(ActionRow).filter(
                ActionRow.status == "confirmed")]
    finally:
        intake.stop()
        localfarm.down(state_dir)
        double.close()
    latencies = []
    for key, confirmed in actions:
        if confirmed is None:
            continue
        sig = key.split(":")[2]
        caused = [r for r in results.values() if r.signature == sig]
        if not caused:
            continue
        # the build whose push made the write possible: the latest one finished before it
        before = [r.finished_at for r in caused if r.finished_at <= confirmed + timedelta(0)]
        if before:
            latencies.append((confirmed - max(before)).total_seconds())
    latencies.sort()
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {"writes": len(latencies), "p50_seconds": round(statistics.median(latencies), 2)
            if latencies else None, "p95_seconds": round(q[18], 2) if latencies else None,
            "results": len(results)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=20, help="results per batch post")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--builds", type=int, default=10000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--farm", action="store_true")
    ap.add_argument("--only", choices=("intake", "sweep"), default=None,
                    help="run one part only (e.g. under a profiler)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out: dict[str, Any] = {}
        if args.only in (None, "intake"):
            out["intake"] = bench_intake(tmp, args.results, args.threads, args.batch,
                                         args.repeat)
        if args.only in (None, "sweep"):
            out["sweep"] = bench_sweep(tmp, args.builds, args.page)
        if args.farm:
            out["farm"] = bench_farm(tmp)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
