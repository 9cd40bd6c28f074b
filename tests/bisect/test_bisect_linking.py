"""Bisection through CI linking, against the Bugzilla double: a regression queues a cause
bisection and its result is ONE comment naming the first bad commit; a fix queues a fix
bisection and the "resolved" comment waits for it and names the first fixed commit (or goes
without it after bisect.fix_wait_hours, and the result follows on its own); inconclusive
never names a commit; nothing is written twice."""

from __future__ import annotations

import pytest

from tests.bisect.linkworld import commit, found, inconclusive, linker_with_bisection
from tests.ci.world import Farm
from tests.rules.world import KEY_ENV, double_options
from triage.ci.bisect.model import CAUSE, FIX
from triage.store import bisections as rows

SIG = "0123456789abcdef"
TITLE = "CRC-16 self-test: assertion failed"
CELL, OTHER = "hello-crc-kvm-x86_64", "hello-crc-linuxu-x86_64"
BROKEN = {"sig": SIG, "title": TITLE}


@pytest.fixture
def double(make_bugzilla_double, monkeypatch):
    d = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, d.admin_api_key)
    return d


def regress(farm: Farm) -> None:
    for cell in (CELL, OTHER):
        farm.add(cell, "passed", "r1")
    farm.add(OTHER, "boot-failed", "r2", **BROKEN)
    farm.add(OTHER, "boot-failed", "r2", **BROKEN)
    farm.add(CELL, "boot-failed", "r2", sig="ffffeeeeddddcccc", title="other")  # not S
    farm.add(CELL, "boot-failed", "r3", **BROKEN)
    farm.add(CELL, "boot-failed", "r3", **BROKEN)


def finish_all(store, outcome_for):
    with store.session() as s:
        while (rec := rows.take_next(s, now=rec_now(s), per_day=100)) is not None:
            rows.finish(s, rec.id, outcome_for(rec.request), rec_now(s))


def rec_now(_s):
    from tests.ci.world import T0

    return T0


def bug_comments(double, bug_id):
    return [c["text"] for c in double.comments(bug_id)]


def the_bug(double) -> int:
    return next(i for i in range(1, 20) if "[ci:" in double.bug(i).get("whiteboard", ""))


def test_cause_bisection_ends_in_one_comment(tmp_path, double):
    linker, _, store, _ = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    first = linker.run(production=True)
    # OTHER regressed first (r1 -> r2 with S); CELL failed differently at r2 first.
    assert [(w.request.kind, w.request.cell, w.request.old, w.request.new)
            for w in first.queued] == [(CAUSE, OTHER, "r1", "r2")]
    assert linker.run(production=True).queued == []  # queued once
    bug = the_bug(double)
    assert len(bug_comments(double, bug)) == 1

    finish_all(store, lambda r: found(r, commit(7, "lib/crc: select the polynomial"), commit(6),
                                      skip=commit(9)))
    report = linker.run(production=True)
    assert [report.outcomes[c.key] for _, c in report.bisections] == ["confirmed"]
    texts = bug_comments(double, bug)
    assert len(texts) == 2
    text = texts[1]
    for words in (f"Bug introduced:  {commit(7).id}", f"Bug not present: {commit(6).id}",
                  "Author: Ada Byron", "lib/crc: select the polynomial", commit(7).url,
                  "Confidence: 99.0%", "Builds used: 3 in 3 round(s)",
                  f"{commit(9).id[:12]}  skip  failed differently", "How to reproduce a step",
                  f"python3 -m workers.cell --commit {commit(7).id}",
                  f"xentriage ci bisect {OTHER} r1 r2 --signature {SIG}"):
        assert words in text, words
    again = linker.run(production=True)
    assert again.bisections == [] and len(bug_comments(double, bug)) == 2
    with store.session() as s:
        (rec,) = rows.by_signature(s)[SIG]
    assert rec.reported_key.startswith(f"ci:bisect:cause:{SIG}:{bug}:")


def test_dry_run_writes_nothing_then_production_writes_once(tmp_path, double):
    linker, _, store, _ = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    linker.run(production=True)
    bug = the_bug(double)
    finish_all(store, lambda r: found(r, commit(7), commit(6)))
    dry = linker.run(production=False)
    assert [dry.outcomes[c.key] for _, c in dry.bisections] == ["dry-run"]
    assert len(bug_comments(double, bug)) == 1
    linker.run(production=True)
    assert len(bug_comments(double, bug)) == 2


def test_inconclusive_names_no_commit(tmp_path, double):
    linker, _, store, _ = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    linker.run(production=True)
    finish_all(store, lambda r: inconclusive(r, (commit(4), commit(5))))
    linker.run(production=True)
    text = bug_comments(double, the_bug(double))[-1]
    assert "Bisection inconclusive" in text
    assert "only skipped commits separate old and new" in text
    assert commit(4).id in text and commit(5).id in text
    assert "Bug introduced" not in text


def fix(farm: Farm) -> None:
    for cell in (CELL, OTHER):
        farm.add(cell, "boot-failed", "r4", **BROKEN)
        farm.add(cell, "passed", "r5")


def test_fix_bisection_names_the_first_fixed_commit_in_the_resolution(tmp_path, double):
    linker, _, store, clock = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    linker.run(production=True)
    bug = the_bug(double)
    finish_all(store, lambda r: found(r, commit(7), commit(6)))
    linker.run(production=True)
    fix(farm)
    waiting = linker.run(production=True)
    assert [(w.request.kind, w.request.cell, w.request.old, w.request.new)
            for w in waiting.queued] == [(FIX, CELL, "r4", "r5")]
    assert waiting.changes == [] and double.bug(bug)["status"] != "RESOLVED"
    assert any(p.why == "passes again; waiting for its fix bisection" for p in waiting.plans)
    clock.advance(hours=2)
    assert linker.run(production=True).changes == []  # still waiting, within fix_wait_hours

    finish_all(store, lambda r: found(r, commit(12, "lib/crc: use the CCITT polynomial"),
                                      commit(11)))
    resolved = linker.run(production=True)
    assert len(resolved.changes) == 1 and resolved.bisections == []
    b = double.bug(bug)
    assert (b["status"], b["resolution"]) == ("RESOLVED", "FIXED")
    text = bug_comments(double, bug)[-1]
    for words in ("fixed at revision r5", f"Bug fixed:         {commit(12).id}",
                  f"Bug still present: {commit(11).id}", "lib/crc: use the CCITT polynomial"):
        assert words in text, words
    assert len(bug_comments(double, bug)) == 3  # filed, cause bisection, resolution
    final = linker.run(production=True)
    assert final.changes == [] and final.bisections == []
    with store.session() as s:
        recs = rows.by_signature(s)[SIG]
    assert all(r.reported_key for r in recs)


def test_resolution_waits_no_longer_than_fix_wait_hours(tmp_path, double):
    linker, _, store, clock = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    linker.run(production=True)
    bug = the_bug(double)
    fix(farm)
    linker.run(production=True)
    clock.advance(hours=25)
    resolved = linker.run(production=True)
    assert double.bug(bug)["status"] == "RESOLVED"
    text = bug_comments(double, bug)[-1]
    assert "has not finished after 24 hours" in text and "resolving without it" in text
    assert resolved.bisections == []  # the cause bisection is not finished either
    # The late fix bisection (and the cause one) then get a comment each, once.
    finish_all(store, lambda r: found(r, commit(12), commit(11)) if r.kind == FIX
               else found(r, commit(7), commit(6)))
    late = linker.run(production=True)
    assert sorted(rec.request.kind for rec, _ in late.bisections) == [CAUSE, FIX]
    texts = bug_comments(double, bug)
    assert f"Bug fixed:         {commit(12).id}" in texts[-1] or \
        f"Bug fixed:         {commit(12).id}" in texts[-2]
    assert linker.run(production=True).bisections == []


def test_change_cap_holds_bisection_comments(tmp_path, double):
    linker, settings, store, _ = linker_with_bisection(tmp_path, double)
    farm = Farm(store)
    regress(farm)
    linker.run(production=True)
    bug = the_bug(double)
    finish_all(store, lambda r: found(r, commit(7), commit(6)))
    settings.safety.change_cap = 0
    capped = linker.run(production=True)
    assert capped.aborted and len(bug_comments(double, bug)) == 1
    with store.session() as s:
        assert not rows.by_signature(s)[SIG][0].reported_key


def test_no_bisection_is_queued_when_none_may_run(tmp_path, double):
    linker, settings, store, _ = linker_with_bisection(tmp_path, double)
    settings.bisect.per_day = 0
    farm = Farm(store)
    regress(farm)
    assert linker.run(production=True).queued == []
    bug = the_bug(double)
    fix(farm)
    resolved = linker.run(production=True)  # resolves at once: no fix bisection to wait for
    assert resolved.queued == [] and double.bug(bug)["status"] == "RESOLVED"
    with store.session() as s:
        assert rows.all_bisections(s) == []


def test_a_bot_with_an_empty_store_does_not_repeat_the_comment(tmp_path, double):
    """The key comes from what the bisection asked, and the comment carries its marker: a
    second bot (empty store, same results, same bisection) finds it in Bugzilla."""
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    linker, _, store, _ = linker_with_bisection(tmp_path / "one", double)
    regress(Farm(store))
    linker.run(production=True)
    finish_all(store, lambda r: found(r, commit(7), commit(6)))
    linker.run(production=True)
    bug = the_bug(double)
    assert len(bug_comments(double, bug)) == 2

    other, _, store2, _ = linker_with_bisection(tmp_path / "two", double)
    regress(Farm(store2))
    other.run(production=True)  # finds the bug by its whiteboard tag, files nothing
    finish_all(store2, lambda r: found(r, commit(7), commit(6)))
    second = other.run(production=True)
    assert [second.outcomes[c.key] for _, c in second.bisections] == ["already-applied"]
    # (The second bot's CI linking may say "more cells" once: its store never saw them.)
    assert sum("Bug introduced" in t for t in bug_comments(double, bug)) == 1
    with store2.session() as s:
        assert rows.by_signature(s)[SIG][0].reported_key  # known as reported from the marker
