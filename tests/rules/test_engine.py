"""The engine with a real store: dry runs commit nothing that depends on a write, decisions are
stored once per change of mind, the queue and ``#triage`` commands are consumed by production
runs only, and the repositories work on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.rules.builders import BOT, COMPLETE_XEN, REPORTER, T0, day, make_bug
from tests.rules.world import KEY_ENV, double_options, write_config
from triage.adapters import open_tracker
from triage.engine import TriageEngine
from triage.model import Decision, TriageState
from triage.nag import LedgerEntry
from triage.plan import SUPPRESSED
from triage.rules.base import StateRecord
from triage.store import bugs as bug_cache
from triage.store import decisions as decision_rows
from triage.store import nag as nag_rows
from triage.store import states as state_rows
from triage.store.tables import DecisionRow, TriageQueueEntry

VAGUE = "It crashes with the latest Xen."


def cache(store, *bugs):
    with store.session() as s:
        for b in bugs:
            bug_cache.upsert_bug(s, b)


def engine(settings, store, now=T0, tracker=None):
    return TriageEngine(settings, store, tracker, clock=lambda: now)


def test_dry_run_stores_decisions_but_not_states_that_need_a_write(settings, store):
    cache(store, make_bug(1, VAGUE), make_bug(2, COMPLETE_XEN), make_bug(3, creator="x@amd.com"))
    report = engine(settings, store).run(bug_ids=[1, 2, 3])
    assert not report.production and len(report.plan.to_write) == 2
    with store.session() as s:
        states = state_rows.get_states(s, [1, 2, 3])
        stored = decision_rows.decisions_for_bug(s, 1)
    # Bug 3 is corporate: an observation, committed even in a dry run.
    assert states[3].state == TriageState.EXCLUDED and states[3].organisation == "AMD"
    # "complete" is an observation too; the follow-up and the review queue were only planned,
    # so neither needs-info nor in-review was committed.
    assert states[1].state == TriageState.NEW and states[2].state == TriageState.COMPLETE
    assert [(d.rule, d.outcome, d.state_committed) for d in stored] == [
        ("corporate", "community", False), ("completeness", "incomplete", False),
        ("followup", "follow-up", False)]
    assert all(not d.production for d in stored)


def test_unchanged_conclusions_are_not_stored_again(settings, store):
    cache(store, make_bug(1, VAGUE))
    engine(settings, store).run(bug_ids=[1])
    engine(settings, store, T0 + timedelta(hours=1)).run(bug_ids=[1])
    with store.session() as s:
        rows = decision_rows.decisions_for_bug(s, 1)
    # The follow-up decision comes with a change, so each run records it; the others once.
    assert [d.rule for d in rows] == ["corporate", "completeness", "followup", "followup"]


def test_the_nag_ledger_holds_back_and_says_why(settings, store):
    cache(store, make_bug(1, VAGUE))
    with store.session() as s:
        nag_rows.record(s, [LedgerEntry(1, REPORTER, "claims", "claims:1:nudge", T0)])
    report = engine(settings, store, T0 + timedelta(days=2)).run(bug_ids=[1])
    (held,) = report.plan.changes(SUPPRESSED)
    assert held.change.key == "followup:1:round1" and "cooldown" in held.why
    assert report.plan.to_write == []
    with store.session() as s:
        rows = decision_rows.decisions_for_bug(s, 1)
    assert rows[-1].rule == "nag-ledger" and rows[-1].outcome == "suppressed"
    assert rows[-1].details["key"] == "followup:1:round1"


def test_bot_needinfo_is_never_planned(settings, store):
    cache(store, make_bug(1, "x", creator=BOT))
    report = engine(settings, store).run(bug_ids=[1])
    assert report.plan.to_write == []


def test_missing_bugs_are_reported(settings, store):
    report = engine(settings, store).run(bug_ids=[42])
    assert report.missing == [42] and report.summary()["missing"] == [42]


def test_queue_is_consumed_by_production_runs_only(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    double.create_user(REPORTER)
    (bug_id,) = double.seed_bugs([{"summary": "s", "product": "Xen", "component": "Hypervisor",
                                   "creator": REPORTER, "description": COMPLETE_XEN}])
    _, settings = write_config(tmp_path, double)
    from triage.store import Store

    store = Store(settings.store_url)
    store.migrate()
    with store.session() as s:
        s.add(TriageQueueEntry(bug_id=bug_id, reason="mail", queued_at=T0))
    tracker = open_tracker(settings, production=True)
    now = T0 + timedelta(minutes=5)
    dry = TriageEngine(settings, store, tracker, clock=lambda: now).run()
    assert dry.selection == "queued bugs" and [b.bug.id for b in dry.plan.bugs] == [bug_id]

    def queued():
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(TriageQueueEntry))

    assert queued() == 1
    prod = TriageEngine(settings, store, tracker, clock=lambda: now).run(production=True)
    assert [pc.outcome for pc in prod.plan.to_write] == ["confirmed"]
    assert queued() == 0
    with store.session() as s:
        assert state_rows.get_state(s, bug_id).state == TriageState.IN_REVIEW
    store.dispose()


def test_repositories_on_sqlite_and_postgresql(any_store):
    now = day(1)
    with any_store.session() as s:
        run_id = decision_rows.start_run(s, "triage", production=True, now=now)
        d = Decision(7, "followup", "follow-up", "why", TriageState.NEEDS_INFO, {"missing": ["x"]})
        decision_rows.save_decisions(s, run_id, [(d, True)], now)
        state_rows.save_state(s, StateRecord(7, TriageState.NEEDS_INFO, since=now,
                                             organisation=""), now)
        nag_rows.record(s, [LedgerEntry(7, "Eve@Example.org", "followup", "k", now)])
        decision_rows.finish_run(s, run_id, "ok", {"planned": 1}, now)
    with any_store.session() as s:
        (row,) = decision_rows.decisions_for_bug(s, 7)
        assert (row.state, row.state_committed, row.production, row.details) == (
            "needs-info", True, True, {"missing": ["x"]})
        assert state_rows.get_state(s, 7).since == now
        assert state_rows.get_states(s, [7, 8])[8].state == TriageState.NEW
        assert state_rows.count_by_state(s) == {"needs-info": 1}
        assert nag_rows.entries_since(s, now)[0].person == "eve@example.org"
        assert nag_rows.prune(s, now + timedelta(seconds=1)) == 1
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 1


@pytest.mark.parametrize("cap", [0, 1])
def test_cap_zero_or_one(settings, store, cap):
    cache(store, make_bug(1, VAGUE), make_bug(2, COMPLETE_XEN))
    report = engine(settings, store).run(bug_ids=[1, 2], change_cap=cap)
    assert report.aborted and "change cap" in report.abort_reason


def test_scheduler_entry_point_runs_the_daily_pass(tmp_path, make_bugzilla_double, monkeypatch):
    from triage.jobs import triage_job

    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    double.create_user(REPORTER)
    double.seed_bugs([{"summary": "s", "product": "Xen", "component": "Hypervisor",
                       "creator": REPORTER, "description": VAGUE}])
    config, settings = write_config(tmp_path, double, "[safety]\nproduction = true\n")
    from triage.adapters import open_tracker
    from triage.store import Store
    from triage.sync import sync_bugs

    store = Store(settings.store_url)
    store.migrate()
    sync_bugs(store, open_tracker(settings, production=False), settings)
    store.dispose()
    summary = triage_job(str(config), all_open=True)
    assert summary["selection"] == "daily pass over every open bug"
    assert (summary["planned"], summary["written"]) == (1, 1)
    assert triage_job(str(config), all_open=True)["written"] == 0
