"""Thirty simulated days of daily runs of every rule, through the Bugzilla double: each reporter
gets at most the follow-ups the configuration allows, never the same one twice, and never two
nags about one bug within the cooldown."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from tests.rules.builders import COMPLETE_XEN
from tests.rules.world import KEY_ENV, Reporter, at, bot_comments, double_options, write_config
from triage.adapters import open_tracker
from triage.engine import TriageEngine
from triage.model import TriageState
from triage.store import Store
from triage.store import nag as nag_rows
from triage.store import states as state_rows

START = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
VAGUE = "Xen crashes when I start a guest, with the latest version."
RULES = """
[nag]
cooldown_days = 7
acknowledged_days = 14

[rules.followup]
reminder_days = 7
expire_days = 20
max_rounds = 2

[bisect]
enabled = false  # no bisection runs in these simulated days (tests/bisect covers them)
"""
MARKER = re.compile(r"\[xentriage:([0-9a-f]{12})\]\s*$")


def day(n: float) -> datetime:
    return START + timedelta(days=n)


@pytest.fixture
def sim(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    at(double, day(-1))
    people = {n: Reporter(double, f"{n}@example.org")
              for n in ("eve", "frank", "gina", "hal", "ivy")}
    dev = Reporter(double, "dev@xen.example.org")
    spec = [("eve", ""), ("frank", ""), ("gina", ""), ("hal", "[no-nag]"), ("ivy", ""),
            ("eve", "")]
    ids = double.seed_bugs([
        {"summary": f"crash {i}", "product": "Xen", "component": "Hypervisor",
         "creator": f"{who}@example.org", "status": "UNCONFIRMED", "whiteboard": wb,
         "description": VAGUE, "creation_time": day(-1), "last_change_time": day(-1)}
        for i, (who, wb) in enumerate(spec)])
    _, settings = write_config(tmp_path, double, RULES)
    store = Store(settings.store_url)
    store.migrate()
    yield double, dict(zip(["eve", "frank", "gina", "hal", "ivy", "eve2"], ids, strict=True)), \
        people, dev, settings, store
    store.dispose()


def test_thirty_days_of_daily_runs(sim):
    double, bugs, people, dev, settings, store = sim
    tracker = open_tracker(settings, production=True)
    now = {"t": day(0)}
    engine = TriageEngine(settings, store, tracker, clock=lambda: now["t"])
    posted_on: dict[int, list[tuple[int, str]]] = {b: [] for b in bugs.values()}

    for d in range(30):
        now["t"] = day(d)
        at(double, day(d))
        report = engine.run(bug_ids=list(bugs.values()) if d == 0 else (), all_open=d > 0,
                            production=True)
        assert not report.aborted and not report.failed, report.summary()
        for pc in report.written:
            posted_on[pc.change.bug_id].append((d, pc.change.key))
        # The people act in the afternoon.
        at(double, day(d + 0.4))
        if d == 2:
            people["frank"].comment(bugs["frank"], "It is an x86_64 machine.")
        if d == 10:
            people["gina"].comment(bugs["gina"], COMPLETE_XEN)
        if d == 1:
            (flag,) = [f for f in double.bug(bugs["ivy"])["flags"] if f["name"] == "needinfo"]
            dev.update(bugs["ivy"], flags=[{"id": flag["id"], "status": "X"}])

    def keys(name):
        return [(d, k.split(":", 2)[2]) for d, k in posted_on[bugs[name]]]

    # The silent reporter: follow-up, one reminder after 7 days, closed after 20.
    assert keys("eve") == [(0, "round1"), (7, "round1:reminder"), (20, "expire:round1")]
    assert keys("eve2") == keys("eve")  # per bug: her second bug has its own questions
    assert double.bug(bugs["eve"])["resolution"] == "INCOMPLETE"
    # An incomplete answer on day 2: the second round waits for the cooldown (day 7).
    assert keys("frank") == [(0, "round1"), (7, "round2"), (14, "round2:reminder"),
                             (27, "expire:round2")]
    # A complete answer on day 10 moves the bug to review at the next run.
    assert keys("gina") == [(0, "round1"), (7, "round1:reminder"), (11, "queue")]
    # [no-nag]: never a word.
    assert keys("hal") == [] and bot_comments(double, bugs["hal"]) == []
    # A developer cleared ivy's needinfo on day 1: since issue #10 that counts as an answer
    # (it used to only delay the reminder by the acknowledged window), so the next pass hands
    # the bug to the reviewer instead of reminding and expiring it.
    assert keys("ivy") == [(0, "round1"), (2, "queue")]

    for name, bug_id in bugs.items():
        comments = bot_comments(double, bug_id)
        markers = [MARKER.search(c["text"]).group(1) for c in comments]
        assert len(markers) == len(set(markers)), f"{name} got the same comment twice"
        assert len(comments) == len(posted_on[bug_id])
        assert len(comments) <= 2 * 2 + 1  # max_rounds follow-ups + reminders + expiry
    with store.session() as s:
        states = state_rows.get_states(s, bugs.values())
        ledger = nag_rows.entries_since(s, day(-1))
    assert states[bugs["eve"]].state == TriageState.EXPIRED
    assert states[bugs["gina"]].state == TriageState.IN_REVIEW
    assert states[bugs["hal"]].state == TriageState.NEW
    per_person = Counter((e.bug_id, e.person) for e in ledger)
    assert per_person[(bugs["eve"], "eve@example.org")] == 3
    for (bug_id, person), _ in per_person.items():
        times = sorted(e.at for e in ledger if (e.bug_id, e.person) == (bug_id, person))
        gaps = [b - a for a, b in pairwise(times)]
        assert all(g >= timedelta(days=7) - timedelta(hours=1) for g in gaps), (person, gaps)


def test_thirty_days_of_ci_linking_nags_no_bug_twice(sim):
    """CI failures across 30 daily runs: one bug per cause, at most one 'more cells' comment a
    day, resolved when it passes, reopened when it comes back; the daily triage pass over the
    CI bug never sends the bot a completeness follow-up."""
    from tests.ci.world import Farm
    from triage.ci.linker import CiLinker

    double, _, _, _, settings, store = sim
    tracker = open_tracker(settings, production=True)
    now = {"t": day(0)}
    linker = CiLinker(store, settings, tracker, clock=lambda: now["t"])
    engine = TriageEngine(settings, store, tracker, clock=lambda: now["t"])
    farm = Farm(store)
    sig, title = "00ff00ff00ff00ff", "lib/ring/ring.c:3: error: unknown type"
    per_day: dict[int, list[str]] = {}
    for d in range(30):
        now["t"] = day(d)
        at(double, day(d))
        rev = f"r{d // 10}"  # broken days 0-9 and 20-29, fixed on days 10-19
        broken = d < 10 or d >= 20
        for k in range(1 + d % 10):  # more cells fail the same way as the days go by
            cell = f"hello-ring{k}-kvm-x86_64"
            if broken:
                farm.add(cell, "build-failed", rev, sig=sig, title=title,
                         when=day(d) - timedelta(minutes=30 - k))
                farm.add(cell, "build-failed", rev, sig=sig, title=title,
                         when=day(d) - timedelta(minutes=20 - k))
            else:
                farm.add(cell, "passed", rev, when=day(d) - timedelta(minutes=20 - k))
        report = linker.run(production=True)
        assert not report.aborted
        per_day[d] = [k for k, status in report.outcomes.items() if status == "confirmed"]
        with store.session() as s:
            from triage.store.ci import signatures

            bug_id = signatures(s)[sig].bug_id
        assert bug_id is not None
        run = engine.run(bug_ids=[bug_id], production=True)
        assert not run.aborted
        # The bot filed the bug: the triage flow never asks the bot to complete it.
        assert not any(pc.change.recipient and pc.change.recipient.lower() ==
                       settings.general.bot_email.lower() for pc in run.written)
    keys = [k for d in sorted(per_day) for k in per_day[d]]
    assert len(keys) == len(set(keys))  # no write twice
    assert all(len(v) <= 1 for v in per_day.values()), per_day  # at most one write a day
    kinds = [k.split(":")[1] for k in keys]
    assert kinds[0] == "file" and kinds.count("file") == 1
    assert "fixed" in kinds and "reopen" in kinds
    assert kinds.index("fixed") < kinds.index("reopen")
    comments = double.comments(bug_id)
    markers = [m.group(1) for c in comments if (m := MARKER.search(c["text"]))]
    assert len(markers) == len(set(markers))
