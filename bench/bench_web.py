"""Benchmark: the CI matrix and triage pages at scale, beside Buildbot's own grid view.

Figures (docs/BENCHMARKS.md, section "CI status web view"):

1. matrix page, 1,001 cells (143 library sets x 7 platform/arch columns) x 20 results of
   history each: server render (query + model + template) with an empty cache and with a warm
   one, and the number of database queries (counted by a SQLAlchemy statement listener) beside
   the same page for a 56-cell matrix: the count does not grow with the cells;
2. the same page fetched over HTTP from inside the running Buildbot master (wsgi dashboard);
3. Buildbot's grid view for the same builds: the five data API requests its page makes
   (buildsets, changes, builders, buildrequests, builds), once with its default limits (1,000
   builds, 100 changes: what it shows by default) and once with the limit raised to cover the
   same 20,020 builds;
4. triage page for 10,000 open bugs in the open-for-developers states (and 2,000 bugs closed
   over the trend's weeks): server render, first (a new app, nothing cached) and cached.

Full loads and first renders are also reported as CPU time of the benchmark's process (the
render's own cost, whatever else the shared machine runs).

How the Buildbot database is seeded: a real master is started by ``farm.localfarm.up`` on a
generated 1,001-cell matrix (one worker, which stays idle), then 20 runs of history are written
straight into its SQLite database with ``tests/support/buildbot_seed.py`` (per run a source
stamp and its change; per cell and run a buildset, build request, build and the properties the
farm's step publishes), exactly the rows a farm run leaves. The master reads them as its history.

Run from the repository root: ``python bench/bench_web.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
import sqlalchemy as sa

from farm import localfarm
from farm.matrix import load_matrix
from tests.support import buildbot_seed
from triage.store import Store
from triage.store.tables import BugRow, TriageStateRow
from triage.web.app import WebContext, create_app
from triage.web.buildbot_db import EngineDatabase
from triage.web.wiring import cell_specs

RUNS = 20
CLOSED, CLOSED_FROM = 2_000, 1_000_000  # closed bugs beside the open ones (the trend)
LIBRARIES = 142  # + the base set = 143 library sets; x 7 columns = 1,001 cells
REPO = Path(__file__).resolve().parent.parent


def big_matrix(path: Path) -> Path:
    text = (REPO / "ci" / "matrix.toml").read_text()
    head, rest = text.split("\n[[library]]\n", 1)
    rest = rest[rest.index("\n[[platform]]\n"):]
    libs = "".join(f'[[library]]\nname = "lib{i:03d}"\npaths = ["lib/lib{i:03d}/"]\n\n'
                   for i in range(LIBRARIES))
    head = head.replace('path = "../tests/fixtures/uktree"',
                        f'path = "{REPO / "tests" / "fixtures" / "uktree"}"')
    path.write_text(head + "\n" + libs + rest)
    return path


def outcome(cell: str, run: int) -> tuple[str, str]:
    n = int(re.sub(r"\D", "", cell.split("-")[1]) or 0)
    if "xen" in cell:
        return "boot-skipped", "boot skipped: no capable worker"
    if n % 17 == 3 and run > 12:
        return "build-failed", "build failed: fatal error: missing.h"
    if n % 11 == 5 and run % 3 == 0:
        return "boot-failed", "failed at boot: panic"
    return "passed", ""


class Counting(EngineDatabase):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.statements = 0
        sa.event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.statements += 1


def timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    seconds, _, out = timed_cpu(fn, repeat)
    return seconds, out


def timed_cpu(fn, repeat: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median wall time, median CPU time of this process (what the render itself costs,
    whatever the other sessions on the machine are doing), and the last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), out


def matrix_page(db_url: str, matrix: Path, repeat: int) -> dict[str, float]:
    db = Counting(db_url)
    specs = cell_specs(load_matrix(matrix).cells())
    app = create_app(WebContext(specs=specs, builds=db, store=None,
                                buildbot_url="http://127.0.0.1/", history=RUNS))
    client = app.test_client()
    data = app.extensions["xentriage.data"]

    def cold() -> int:
        data.clear()
        before = db.statements
        body = client.get("/matrix.html").get_data()
        assert b"data-cell=" in body
        return db.statements - before

    cold_s, cold_cpu, queries = timed_cpu(cold, repeat)
    client.get("/matrix.html")
    warm_s, _ = timed(lambda: client.get("/matrix.html").get_data(), repeat)
    json_s, _ = timed(lambda: client.get("/matrix.html?format=json").get_data(), repeat)
    shown = client.get("/matrix.html?format=json").get_json()["shown"]
    # A build finishes between two requests (the common case on a busy farm): a new build of
    # one cell, written as the farm would; the request refreshes only that cell.
    state = {"n": 0}

    def after_a_build() -> int:
        state["n"] += 1
        new_build(db.engine, specs[state["n"]].name)
        before = db.statements
        client.get("/matrix.html").get_data()
        return db.statements - before

    inc_s, inc_queries = timed(after_a_build, repeat)
    db.dispose()
    return {"cells": len(specs), "shown": shown, "cold": cold_s, "cold_cpu": cold_cpu,
            "warm": warm_s,
            "json": json_s, "queries": float(queries),  # type: ignore[arg-type]
            "incremental": inc_s, "inc_queries": float(inc_queries)}  # type: ignore[arg-type]


def new_build(engine: sa.Engine, cell: str) -> None:
    with engine.begin() as conn:
        builderid = conn.exec_driver_sql("SELECT id FROM builders WHERE name = ?",
                                         (cell,)).scalar()
        top = conn.exec_driver_sql("SELECT max(id) FROM builds").scalar() or 0
        conn.exec_driver_sql(
            "INSERT INTO builds (id, number, builderid, buildrequestid, masterid, started_at, "
            "complete_at, locks_duration_s, state_string, results) VALUES "
            "(?, ?, ?, 1, 1, 1800000000, 1800000060, 0, 'failed', 2)",
            (top + 1, top + 1, builderid))  # a number no earlier build of the cell has
        conn.exec_driver_sql(
            "INSERT INTO build_properties (buildid, name, value, source) VALUES "
            "(?, 'cell_result', '\"build-failed\"', 'bench'), "
            "(?, 'result_reason', '\"build failed: x.h\"', 'bench'), "
            "(?, 'revision', '\"beef\"', 'bench')", (top + 1, top + 1, top + 1))


def grid_view(state: localfarm.FarmState, limit: int, changes: int, repeat: int) -> float:
    paths = [("buildsets", {"limit": limit, "order": "-bsid"}),
             ("changes", {"limit": changes, "order": "-changeid"}),
             ("builders", {}),
             ("buildrequests", {"limit": limit, "order": "-buildrequestid"}),
             ("builds", {"limit": limit, "order": "-buildrequestid"})]

    def fetch() -> int:
        n = 0
        for path, params in paths:
            for attempt in range(3):  # a busy master was seen to drop a long answer
                try:
                    r = requests.get(f"{state.api}/{path}", params=params,
                                     headers=localfarm.PLAIN, timeout=600)
                    r.raise_for_status()
                    n += len(r.content)
                    break
                except requests.RequestException:
                    if attempt == 2:
                        raise
        return n

    seconds, _ = timed(fetch, repeat)
    return seconds


def triage_page(tmp: Path, bugs: int, repeat: int
                ) -> tuple[float, float, float, int, int]:
    store = Store(f"sqlite:///{tmp / 'triage.sqlite3'}")
    store.migrate()
    now = datetime.now(UTC)
    states = ["open-for-dev", "claimed", "nudged", "in-review", "needs-info", "reminded"]
    with store.session() as s:
        s.add_all(BugRow(id=i, product="Xen", component=f"comp{i % 12}", status="CONFIRMED",
                         resolution="", summary=f"bug {i}: guest crashes under load " * 2,
                         creator="r@example.org", assigned_to="", is_open=True,
                         creation_time=now - timedelta(days=i % 400),
                         last_change_time=now - timedelta(days=i % 60), data={},
                         fetched_at=now) for i in range(1, bugs + 1))
        s.add_all(TriageStateRow(bug_id=i, state=states[i % len(states)],
                                 since=now - timedelta(days=i % 90),
                                 claimed_by=f"dev{i % 40}@example.org" if i % 6 in (1, 2)
                                 else "", claimed_at=None, organisation="",
                                 fix_reference="", updated_at=now)
                  for i in range(1, bugs + 1))
        # Bugs closed over the trend's weeks, each with the status change in its history
        # (where the trend reads its closing time) and a later comment.
        s.add_all(BugRow(id=CLOSED_FROM + i, product="Xen", component=f"comp{i % 12}",
                         status="RESOLVED", resolution="FIXED" if i % 4 else "WONTFIX",
                         summary=f"closed bug {i}", creator="r@example.org", assigned_to="",
                         is_open=False, creation_time=now - timedelta(days=100 + i % 200),
                         last_change_time=now - timedelta(days=i % 80) + timedelta(hours=5),
                         data={"history": [{"when": (now - timedelta(days=i % 80)).strftime(
                             "%Y-%m-%dT%H:%M:%SZ"), "changes": [
                                 {"field_name": "status", "removed": "CONFIRMED",
                                  "added": "RESOLVED"}]}]},
                         fetched_at=now) for i in range(CLOSED))
    ctx = WebContext(specs=[], builds=None, store=store, bugzilla_url="http://127.0.0.1/bz")

    def first_render() -> bytes:  # a new app each time: nothing cached
        return create_app(ctx, home="triage").test_client().get(  # type: ignore[no-any-return]
            "/triage.html").get_data()

    first, first_cpu, body = timed_cpu(first_render, repeat)
    assert body.count(b"data-bug=") == bugs  # type: ignore[union-attr]
    client = create_app(ctx, home="triage").test_client()
    app = client.application
    client.get("/triage.html")
    seconds, _ = timed(lambda: client.get("/triage.html").get_data(), repeat)
    cached_queries = client.get("/triage.html?format=json").get_json()["queries"]
    fresh = create_app(app.extensions["xentriage"], home="triage").test_client()
    first_queries = fresh.get("/triage.html?format=json").get_json()["queries"]
    store.dispose()
    return first, first_cpu, seconds, first_queries, cached_queries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bugs", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        matrix = big_matrix(tmp / "matrix.toml")
        state = localfarm.up(tmp / "farm", matrix, [localfarm.WorkerPlan("bench", 1)])
        try:
            db_url = f"sqlite:///{state.master_dir / 'state.sqlite'}"
            cells = [c.name for c in load_matrix(matrix).cells()]
            t0 = time.perf_counter()
            buildbot_seed.seed(sa.create_engine(db_url), cells, RUNS, outcome)
            print(f"seeded {len(cells)} cells x {RUNS} runs in {time.perf_counter() - t0:.1f} s")
            small = tmp / "small.toml"
            small.write_text((REPO / "ci" / "matrix.toml").read_text().replace(
                'path = "../tests/fixtures/uktree"',
                f'path = "{REPO / "tests" / "fixtures" / "uktree"}"'))
            big = matrix_page(db_url, matrix, args.repeat)
            few = matrix_page(db_url, small, args.repeat)
            print(f"matrix page, {big['cells']} cells x {RUNS} results: full load "
                  f"{big['cold']*1e3:.0f} ms (CPU {big['cold_cpu']*1e3:.0f} ms; "
                  f"{big['queries']:.0f} queries); after a build "
                  f"finished {big['incremental']*1e3:.0f} ms ({big['inc_queries']:.0f} queries);"
                  f" unchanged {big['warm']*1e3:.0f} ms; JSON {big['json']*1e3:.0f} ms"
                  f"\n  56-cell matrix on the same database: full load {few['cold']*1e3:.0f} ms "
                  f"({few['queries']:.0f} queries)")
            url = f"http://127.0.0.1:{state.www_port}/plugins/wsgi_dashboards/matrix/matrix.html"
            first = time.perf_counter()
            resp = requests.get(url, timeout=600)
            first = time.perf_counter() - first
            resp.raise_for_status()
            # The page inside the master must show the seeded results, not an empty matrix.
            assert resp.text.count('data-state="never-run"') == 0, "master page saw no builds"
            inside, _ = timed(lambda: requests.get(url, timeout=600).content, args.repeat)
            print(f"matrix page from inside the master over HTTP: first {first*1e3:.0f} ms, "
                  f"cached {inside*1e3:.0f} ms")
            default = grid_view(state, 1000, 100, args.repeat)
            same = grid_view(state, len(cells) * RUNS + 20, 100, max(1, args.repeat // 2))
            print(f"Buildbot grid view data (5 requests): default limits (1,000 builds) "
                  f"{default*1e3:.0f} ms; all {len(cells) * RUNS} builds {same*1e3:.0f} ms")
        finally:
            localfarm.down(tmp / "farm")
        first, first_cpu, cached, q_first, q_cached = triage_page(tmp, args.bugs, args.repeat)
        print(f"triage page, {args.bugs} open bugs: first {first*1e3:.0f} ms (CPU "
              f"{first_cpu*1e3:.0f} ms; {q_first} "
              f"queries), then {cached*1e3:.0f} ms ({q_cached} queries)")


if __name__ == "__main__":
    main()
