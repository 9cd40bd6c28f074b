"""End to end: the scripted fixture history, the real local runner (git worktrees, the cell
built and booted by workers.cell as the farm runs it) and the Bugzilla double.

The farm saw a crc cell pass before the breaking commit and fail with signature S at the fix's
parent: CI linking files the bug and queues a cause bisection; ``bisect-run`` bisects
(the commit that fails *differently* in the range is a skip) and its one comment names the
breaking commit. The cell passes again at the tip: the "resolved" comment waits for the fix
bisection, which the per-day budget holds to the next day, then names the fixing commit. A
second run writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from farm.matrix import load_matrix
from tests.bisect.linkworld import Clock
from tests.ci.world import T0, Farm
from tests.fixtures.ukhistory import CAUSE_CELLS, make_history, write_matrix
from tests.rules.world import KEY_ENV, double_options, write_config
from triage.adapters import open_tracker
from triage.ci.bisect.runners import LocalRunner
from triage.ci.bisect.service import bisect_pass, local_bisector
from triage.ci.linker import CiLinker
from triage.store import Store
from triage.store import bisections as rows

pytestmark = pytest.mark.slow
CELL = CAUSE_CELLS[0]
URL = "https://git.example.org/uk/commit/{id}"


@pytest.fixture
def double(make_bugzilla_double, monkeypatch):
    d = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, d.admin_api_key)
    return d


def test_regression_and_fix_end_in_bugzilla(tmp_path: Path, double):
    hist = make_history(tmp_path / "tree")
    matrix = write_matrix(hist, tmp_path / "matrix.toml", libraries=("crc", "ring"))
    _, settings = write_config(tmp_path, double, f"""
[ci]
components = {{ crc = "Xen/Hypervisor" }}
[bisect]
matrix = "{matrix}"
workdir = "{tmp_path / 'bisect'}"
per_day = 1
workers = 1
fix_wait_hours = 48
commit_url = "{URL}"
""")
    store = Store(settings.store_url)
    store.migrate()
    clock = Clock(T0 + timedelta(days=1))
    linker = CiLinker(store, settings, open_tracker(settings, production=True), clock=clock)

    # What the farm saw, from the same runner in a workdir of its own.
    farm_runner = LocalRunner(load_matrix(matrix), tmp_path / "farm")
    farm = Farm(store)
    seen_good = hist.commits[2]
    for revision in (seen_good, hist.last_bad):
        run = farm_runner.run(CELL, revision, 0)
        farm.add(CELL, run.result, revision, sig=run.signature, title=run.title)
    assert farm.log[0].result == "passed" and farm.log[1].result == "boot-failed"
    sig = farm.log[1].signature

    linked = linker.run(production=True)
    (want,) = linked.queued
    assert (want.request.kind, want.request.old, want.request.new) == \
        ("cause", seen_good, hist.last_bad)
    bug = next(i for i in range(1, 5) if f"[ci:{sig}]" in double.bug(i)["whiteboard"])
    assert len(double.comments(bug)) == 1

    bisector = local_bisector(settings)
    queue, link = bisect_pass(settings, store, production=True, bisector=bisector,
                              linker=linker, clock=clock)
    ((_, outcome, error),) = queue.ran
    assert not error and outcome is not None and outcome.status == "found"
    assert outcome.first_new is not None and outcome.first_new.id == hist.breaking
    # The commits where libring does not compile fail differently: skipped, never bad.
    broken_ring = set(hist.commits[hist.index(hist.different):hist.index(hist.different_fixed)])
    verdicts = {s.commit.id: s.verdict for s in outcome.steps}
    assert broken_ring & set(verdicts)
    assert all(verdicts[c] == "skip" for c in broken_ring & set(verdicts))
    assert link is not None and [link.outcomes[c.key] for _, c in link.bisections] == \
        ["confirmed"]
    texts = [c["text"] for c in double.comments(bug)]
    assert len(texts) == 2
    for words in (f"Bug introduced:  {hist.breaking}", f"Bug not present: {hist.last_good}",
                  hist.subject(hist.breaking), URL.format(id=hist.breaking), "Confidence:",
                  f"Builds used: {outcome.builds}", "How to reproduce a step by hand",
                  "skip  failed differently"):
        assert words in texts[1], words

    # The cell passes again at the tip: a fix bisection; the resolution waits for it.
    run = farm_runner.run(CELL, hist.tip, 0)
    assert run.result == "passed"
    farm.add(CELL, "passed", hist.tip)
    clock.advance(hours=1)
    waiting = linker.run(production=True)
    (fix,) = waiting.queued
    assert (fix.request.kind, fix.request.old, fix.request.new) == ("fix", hist.last_bad,
                                                                    hist.tip)
    assert double.bug(bug)["status"] != "RESOLVED"
    held, _ = bisect_pass(settings, store, production=True, bisector=bisector, linker=linker,
                          clock=clock)
    assert held.ran == [] and held.budget_spent and held.left == 1  # bisect.per_day = 1
    assert double.bug(bug)["status"] != "RESOLVED"

    clock.advance(days=1)
    queue, link = bisect_pass(settings, store, production=True, bisector=bisector,
                              linker=linker, clock=clock)
    ((_, fixed, _),) = queue.ran
    assert fixed is not None and fixed.first_new is not None
    assert fixed.first_new.id == hist.fix
    b = double.bug(bug)
    assert (b["status"], b["resolution"]) == ("RESOLVED", "FIXED")
    last = double.comments(bug)[-1]["text"]
    assert f"Bug fixed:         {hist.fix}" in last and hist.subject(hist.fix) in last
    assert len(double.comments(bug)) == 3

    # A second run writes nothing; every bisection is reported once.
    again, link = bisect_pass(settings, store, production=True, bisector=bisector,
                              linker=linker, clock=clock)
    assert again.ran == [] and linker.run(production=True).changes == []
    assert len(double.comments(bug)) == 3
    with store.session() as s:
        assert all(r.reported_key for r in rows.all_bisections(s))


def test_masked_regression_says_inconclusive_and_names_no_commit(tmp_path: Path, double):
    """Only commits that fail differently separate the last good from the first bad one: the
    comment says "bisection inconclusive" with the candidates, never "Bug introduced"."""
    hist = make_history(tmp_path / "tree", masked=True)
    matrix = write_matrix(hist, tmp_path / "matrix.toml", libraries=("crc", "ring"))
    _, settings = write_config(tmp_path, double, f"""
[bisect]
matrix = "{matrix}"
workdir = "{tmp_path / 'bisect'}"
""")
    store = Store(settings.store_url)
    store.migrate()
    clock = Clock(T0 + timedelta(days=1))
    linker = CiLinker(store, settings, open_tracker(settings, production=True), clock=clock)
    farm_runner = LocalRunner(load_matrix(matrix), tmp_path / "farm")
    farm = Farm(store)
    before = hist.commits[hist.index(hist.different) - 1]  # the last commit that builds
    for revision in (before, hist.last_bad):
        run = farm_runner.run(CELL, revision, 0)
        farm.add(CELL, run.result, revision, sig=run.signature, title=run.title)
    assert [r.result for r in farm.log] == ["passed", "boot-failed"]
    linker.run(production=True)
    bug = 1
    queue, _ = bisect_pass(settings, store, production=True,
                           bisector=local_bisector(settings), linker=linker, clock=clock)
    ((_, outcome, _),) = queue.ran
    assert outcome is not None and outcome.status == "inconclusive"
    assert hist.breaking in {c.id for c in outcome.candidates}
    text = double.comments(bug)[-1]["text"]
    assert "Bisection inconclusive" in text and outcome.reason[:40] in text
    assert hist.breaking in text and "Bug introduced" not in text
    assert len(double.comments(bug)) == 2
