"""Benchmark: the weekly digest for 10,000 open bugs with a year of history.

Figures (docs/BENCHMARKS.md, section "Weekly digest"):

1. the store queries of one digest, counted (a fixed number, not one per bug);
2. model (queries + the pure build), text, HTML and wiki rendering: each and in total, median of
   ``--repeat`` runs (wall and CPU time: the machine is shared); the target is under 1 s in
   total; the PNG chart beside it;
3. ``xentriage serve`` idle: CPU seconds the process used over ``--idle`` seconds between jobs.

Run from the repository root: ``python bench/bench_digest.py [--open 10000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event

from reports.compose import build_model
from reports.render import render_html, render_text
from triage.config import load_settings
from triage.model import Bug, Comment, HistoryChange, HistoryEntry, TriageState
from triage.rules.base import StateRecord
from triage.store import Store
from triage.store.bugs import upsert_bugs
from triage.store.states import save_state
from wiki_export.markup import render_wiki

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
STATES = [TriageState.OPEN_FOR_DEV, TriageState.CLAIMED, TriageState.NEEDS_INFO,
          TriageState.IN_REVIEW, TriageState.NEW, TriageState.EXCLUDED]


def corpus(n_open: int, n_closed: int, rng: random.Random) -> tuple[list[Bug], dict[int, str]]:
    bugs: list[Bug] = []
    states: dict[int, str] = {}
    for i in range(1, n_open + n_closed + 1):
        is_open = i <= n_open
        created = NOW - timedelta(days=rng.uniform(0, 365))
        reporter = f"user{i % 2000}@example.org"
        comments = [Comment(i * 10, i, 0, reporter, "Xen 4.19 on x86_64. Steps: boot. " * 8,
                            created)]
        for n in range(1, rng.randint(1, 4)):
            who = reporter if n % 2 == 0 else f"dev{i % 50}@xenproject.org"
            comments.append(Comment(i * 10 + n, i, n, who, "a reply " * 20,
                                    created + timedelta(hours=rng.uniform(1, 400))))
        history = [HistoryEntry(f"dev{i % 50}@xenproject.org", created + timedelta(days=1),
                                (HistoryChange("status", "UNCONFIRMED", "CONFIRMED"),))]
        status, resolution = "CONFIRMED", ""
        if not is_open:
            closed = min(NOW, created + timedelta(days=rng.uniform(1, 60)))
            history.append(HistoryEntry("dev@xenproject.org", closed, (
                HistoryChange("status", "CONFIRMED", "RESOLVED"),
                HistoryChange("resolution", "", "FIXED"))))
            comments.append(Comment(i * 10 + 9, i, 9, "dev@xenproject.org",
                                    "Fixed in commit 1a2b3c4d5e6f.", closed))
            status, resolution = "RESOLVED", "FIXED"
        state = STATES[i % len(STATES)]
        assigned = f"dev{i % 50}@xenproject.org" if state == TriageState.CLAIMED else \
            "xen-bugs@lists.xenproject.org"
        if state == TriageState.CLAIMED:
            status = "IN_PROGRESS" if is_open else status
        bugs.append(Bug(
            id=i, summary=f"bug {i}: guest crash with a rather long summary line number {i}",
            product="Xen", component=("Hypervisor", "Tools", "Unikraft")[i % 3], status=status,
            creator=reporter, creation_time=created,
            last_change_time=max(c.creation_time for c in comments), resolution=resolution,
            assigned_to=assigned, is_open=is_open, comments=tuple(comments),
            history=tuple(history)))
        states[i] = state.value
    return bugs, states


def populate(store: Store, bugs: list[Bug], states: dict[int, str]) -> None:
    with store.session() as s:
        upsert_bugs(s, bugs)
        for bug in bugs:
            state = TriageState(states[bug.id])
            save_state(s, StateRecord(bug.id, state, bug.creation_time,
                                      claimed_by=bug.assigned_to if state == TriageState.CLAIMED
                                      else "", claimed_at=bug.creation_time,
                                      organisation="Citrix" if state == TriageState.EXCLUDED
                                      else ""), NOW)


def time_digest(settings, store: Store, repeat: int, clock) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Per step, the best of ``repeat`` runs by ``clock`` (wall or CPU time)."""
    runs: dict[str, list[float]] = {"model": [], "text": [], "html": [], "wiki": [],
                                    "total": [], "chart": []}
    from reports.chart import trend_png

    for _ in range(repeat):
        t0 = clock()
        model = build_model(settings, store, now=NOW)
        t1 = clock()
        text = render_text(model, cap=10)
        t2 = clock()
        html = render_html(model, cap=10)
        t3 = clock()
        wiki = render_wiki(model)
        t4 = clock()
        trend_png(model.trend)
        t5 = clock()
        assert text and html and wiki
        for key, value in (("model", t1 - t0), ("text", t2 - t1), ("html", t3 - t2),
                           ("wiki", t4 - t3), ("total", t4 - t0), ("chart", t5 - t4)):
            runs[key].append(value)
    return {k: min(v) for k, v in runs.items()}


def time_whole_reads(settings, store: Store, repeat: int, clock) -> float:  # type: ignore[no-untyped-def]
    """The model the straightforward way, for the ratio: every bug read whole and every fact
    computed in Python (what ``load_inputs`` avoids)."""
    import gc

    from sqlalchemy import or_, select

    from reports.build import TREND_WEEKS, Params, build_digest
    from triage.model import bug_from_dict
    from triage.store import digests as digest_rows
    from triage.store.tables import BugRow

    best = float("inf")
    for _ in range(repeat):
        gc.disable()  # as build_model does: the ratio is the reads alone
        t0 = clock()
        p = Params.of(settings)
        since = NOW - timedelta(days=7 * (TREND_WEEKS + 1))
        with store.session() as s:
            q = digest_rows.DigestQuery(closed_since=since, week_start=NOW - timedelta(days=7),
                                        week="2026-W50", ignore_authors=tuple(p.bots))
            inputs = digest_rows.load_inputs(s, q)  # states, exclusions, CI, previous
            inputs.open_bugs, inputs.closed_bugs = [], []
            inputs.first_responses, inputs.closed_at = {}, {}
            for data, is_open in s.execute(select(BugRow.data, BugRow.is_open).where(
                    or_(BugRow.is_open.is_(True), BugRow.last_change_time >= since))):
                (inputs.open_bugs if is_open else inputs.closed_bugs).append(bug_from_dict(data))
        build_digest(inputs, settings, as_of=NOW, params=p)
        best = min(best, clock() - t0)
        gc.enable()
    return best


def idle_cpu(seconds: float) -> tuple[float, float]:
    """(CPU seconds used over ``seconds`` of idle serving, wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "x.toml"
        config.write_text(f'[general]\nstate_dir = "{tmp}/state"\n', encoding="utf-8")
        log = Path(tmp) / "serve.log"
        proc = subprocess.Popen([sys.executable, "-m", "triage", "--config", str(config),
                                 "serve", "--no-mail"], stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        try:
            while "serving" not in log.read_text(errors="replace"):
                if proc.poll() is not None:
                    raise SystemExit(log.read_text())
                time.sleep(0.1)
            time.sleep(2.0)  # settle after start-up
            before = _cpu(proc.pid)
            t0 = time.monotonic()
            time.sleep(seconds)
            return _cpu(proc.pid) - before, time.monotonic() - t0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--open", type=int, default=10_000)
    ap.add_argument("--closed", type=int, default=10_000, help="closed over the year")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--idle", type=float, default=30.0)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "x.toml"
        config.write_text(f'[general]\nstate_dir = "{tmp}"\n[bugzilla]\n'
                          'url = "https://bz.example.org/rest/"\n', encoding="utf-8")
        settings = load_settings(config)
        store = Store(settings.store_url)
        store.migrate()
        bugs, states = corpus(args.open, args.closed, rng)
        populate(store, bugs, states)
        statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda *a: statements.append(str(a[2])))
        build_model(settings, store, now=NOW)
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        wall = time_digest(settings, store, args.repeat, time.perf_counter)
        cpu = time_digest(settings, store, args.repeat, time.process_time)
        whole_wall = time_whole_reads(settings, store, args.repeat, time.perf_counter)
        whole_cpu = time_whole_reads(settings, store, args.repeat, time.process_time)
        store.dispose()
    print(f"digest of {args.open} open bugs (+{args.closed} closed over a year), best of "
          f"{args.repeat} (load average {os.getloadavg()[0]:.1f}):")
    print(f"  store queries per digest: {len(selects)}")
    print("  step       wall ms    CPU ms")
    for key in ("model", "text", "html", "wiki", "total", "chart"):
        print(f"  {key:<8} {wall[key] * 1000:9.1f} {cpu[key] * 1000:9.1f}")
    print(f"  model with every bug read whole (for the ratio): {whole_wall * 1000:.1f} ms wall, "
          f"{whole_cpu * 1000:.1f} ms CPU -> x{whole_cpu / cpu['model']:.1f} CPU")
    if args.idle > 0:
        cpu, wall = idle_cpu(args.idle)
        print(f"serve idle: {cpu:.2f} CPU s over {wall:.0f} s ({100 * cpu / wall:.2f} % of a core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
