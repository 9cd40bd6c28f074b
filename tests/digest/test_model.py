"""The digest model from a real store: sections, marks against the last sent digest, counts,
response time and trend; a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from reports.compose import build_model
from reports.model import model_from_dict, model_to_dict
from tests.digest.world import NOW, bug, closed, populate, standard_bugs
from triage.store import digests as digest_rows


def _ids(model, section):
    return [e.bug_id for e in model.section(section).entries]


def test_every_section_from_the_store(store, settings_for):
    populate(store)
    settings = settings_for()
    model = build_model(settings, store, now=NOW)
    assert model.week == "2026-W49"
    assert _ids(model, "needs-developer") == [1]
    assert _ids(model, "claimed") == [2, 3]  # stale first
    claimed = {e.bug_id: e for e in model.section("claimed").entries}
    assert claimed[2].stale and claimed[2].owner == "dev@example.org"
    assert not claimed[3].stale
    assert _ids(model, "new") == [4]
    (fixed,) = model.section("fixed").entries
    assert fixed.bug_id == 5 and "1a2b3c4d5e" in fixed.fix_reference
    (waiting,) = model.section("waiting").entries
    assert waiting.bug_id == 6 and waiting.waiting_days == 5 and "reminder" in waiting.due
    assert _ids(model, "in-review") == [7]
    assert _ids(model, "ci-failures") == []
    c = model.counts
    assert (c.open.value, c.new.value, c.fixed.value, c.claimed.value) == (6, 1, 1, 2)
    # Exclusions counted by whatever class the decisions carry (a new class needs no code).
    assert {(e.label, e.organisation, e.count) for e in c.excluded} == {
        ("corporate", "Citrix", 1), ("project", "Xen Project", 1)}
    assert model.link(5) == "https://bz.example.org/show_bug.cgi?id=5"
    r = model.response
    assert r.responses_this_week == 3 and r.median_hours_this_week is not None
    assert r.unanswered == 4 and r.oldest_unanswered_id == 2  # 1, 2, 6, 7 have no answer
    assert len(model.trend) == 12 and model.trend[-1].week == "2026-W49"
    assert model.trend[-1].new == 1 and model.trend[-1].fixed == 1


def test_marks_and_deltas_against_the_last_sent_digest(store, settings_for):
    settings = settings_for()
    populate(store)
    before = build_model(settings, store, now=NOW - timedelta(days=7))
    with store.session() as s:
        digest_rows.record(s, "mail", before.week, digest_rows.SENT, model=model_to_dict(before),
                           message_id="<prev@x>")
    # During the week: 1 is claimed, 7 is accepted, 10 is new, 6 answered and closed.
    bugs = {b.id: b for b in standard_bugs()}
    bugs[1] = bug(1, days=40, status="IN_PROGRESS", assigned="kim@example.org")
    bugs[7] = bug(7, days=15, whiteboard="[xt:open-for-dev]")
    bugs[10] = bug(10, days=1, status="UNCONFIRMED")
    del bugs[6]
    with store.session() as s:
        from triage.store.tables import BugRow
        s.query(BugRow).filter(BugRow.id == 6).update({"is_open": False})
    populate(store, list(bugs.values()))
    model = build_model(settings, store, now=NOW)
    marks = {(s.id, e.bug_id): e.mark for s in model.sections for e in s.entries}
    assert marks[("claimed", 1)] == "CLAIMED"
    assert marks[("needs-developer", 7)] == "MOVED: in review -> needs a developer"
    assert marks[("new", 10)] == "NEW"
    assert marks[("fixed", 5)] == "FIXED"
    assert marks[("claimed", 2)] == ""
    assert model.previous is not None and model.previous.message_id == "<prev@x>"
    # open: 10 came, 6 went.
    assert (model.counts.open.added, model.counts.open.removed) == (2, 1)  # 4 and 10 came, 6 went
    assert model.changed
    # The stored model round-trips.
    assert model_from_dict(model_to_dict(model)) == model


def test_no_change_and_an_empty_week(store, settings_for):
    settings = settings_for()
    empty = build_model(settings, store, now=NOW)
    assert all(s.total == 0 for s in empty.sections) and empty.counts.open.value == 0
    populate(store, [bug(1, days=40, whiteboard="[xt:open-for-dev]")])
    first = build_model(settings, store, now=NOW - timedelta(days=7))
    with store.session() as s:
        digest_rows.record(s, "mail", first.week, digest_rows.SENT, model=model_to_dict(first))
    again = build_model(settings, store, now=NOW)
    assert not again.changed and again.section("needs-developer").entries[0].mark == ""


def test_store_queries_are_bounded(store, settings_for):
    settings = settings_for()
    many = [bug(i, days=1 + i % 300, whiteboard="[xt:open-for-dev]") for i in range(1, 400)]
    populate(store, many)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda *a: statements.append(a[2]))
    build_model(settings, store, now=NOW)
    assert 0 < len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 8


def test_projected_reads_agree_with_the_whole_bugs(any_store, settings_for):
    """The database computes first responses and closing times from the stored JSON (SQLite
    and PostgreSQL): the same answers as the rules' own functions over the whole bugs."""
    from reports.build import Params, _first_response
    from triage.rules.fix_documentation import closed_at

    wontfix = bug(40, days=90, status="RESOLVED", is_open=False, resolution="WONTFIX",
                  history=(closed(50, "WONTFIX"),),
                  comments=(("triage-bot@xenproject.org", 80, "bot"),
                            ("Eve@Example.org", 79, "reporter, other case"),
                            ("dev@example.org", 60, "human")))
    bugs = [*standard_bugs(), wontfix]
    populate(any_store, bugs)
    settings = settings_for()
    p = Params.of(settings)
    with any_store.session() as s:
        inputs = digest_rows.load_inputs(s, digest_rows.DigestQuery(
            closed_since=NOW - timedelta(days=91), week_start=NOW - timedelta(days=7),
            week="2026-W49", ignore_authors=tuple(p.bots)))
    whole = {b.id: b for b in bugs}
    assert {b.id for b in inputs.open_bugs} == {1, 2, 3, 4, 6, 7, 8, 9}
    assert {b.id for b in inputs.closed_bugs} == {5, 40}
    for bug_id, first in inputs.first_responses.items():
        assert first == _first_response(whole[bug_id], p), bug_id
    assert inputs.first_responses[40] == NOW - timedelta(days=60)
    for bug_id, when in inputs.closed_at.items():
        assert when == closed_at(whole[bug_id], p.closed_statuses), bug_id
    assert {e.label for e in build_model(settings, any_store, now=NOW).counts.excluded} == {
        "corporate", "project"}
