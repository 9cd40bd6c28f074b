"""The pure parts of the web views: state styles, the matrix model, the triage model, charts."""

from __future__ import annotations

from datetime import timedelta

from tests.web.conftest import NOW, spec
from triage.store.open_bugs import BugDates, OpenBugRow
from triage.web import charts
from triage.web.buildbot_db import BuildRecord
from triage.web.matrix_model import Filters, build_matrix, cell_view
from triage.web.states import STATES, state_of
from triage.web.triage_model import TriageFilters, build_triage, weekly_trend

T0 = int(NOW.timestamp()) - 10 * 3600


def rec(buildid: int, result: str | None, *, done: bool = True, builder: str = "c1",
        revision: str = "", reason: str = "") -> BuildRecord:
    props = {"revision": revision or f"rev{buildid:02d}"}
    if result:
        props["cell_result"] = result
    if reason:
        props["result_reason"] = reason
    return BuildRecord(buildid, 7, buildid, builder, T0 + buildid * 60,
                       T0 + buildid * 60 + 30 if done else None, 0 if result == "passed" else 2,
                       "", 1, props)


def test_every_state_reads_without_colour_and_new_classes_show_as_their_own_word():
    for s in STATES.values():
        assert s.symbol and s.label and s.css
    assert len({s.symbol + s.label for s in STATES.values()}) == len(STATES)
    assert state_of("boot-failed", 2, True).label == "boot failed"
    # A class the table does not know (a new one from failure classification) keeps its word
    # and takes its colour from the Buildbot result.
    new = state_of("toolchain-missing", 4, True)
    assert new.label == "toolchain missing" and new.css == "warn" and not new.red
    assert state_of("linker-oom", 2, True).red
    assert state_of(None, 0, True).key == "passed"
    assert state_of(None, 2, True).label == "failure"
    assert state_of("passed", 0, False).key == "running"


def test_last_known_state_is_kept_while_running_and_red_since_names_the_first_red_build():
    builds = [rec(5, None, done=False), rec(4, "boot-failed", reason="panic at boot"),
              rec(3, "timeout"), rec(2, "boot-failed"), rec(1, "passed")]
    view = cell_view(spec("c1"), builds, None, NOW)
    assert view.state.key == "boot-failed" and view.running
    assert view.reason == "panic at boot"
    assert [h.state.key for h in view.history] == ["passed", "boot-failed", "boot-timeout",
                                                   "boot-failed"]  # oldest first
    assert view.red_since is not None and view.red_since.revision == "rev02"
    assert view.age_seconds == (NOW - view.latest.finished).total_seconds()
    green = cell_view(spec("c1"), [rec(2, "passed"), rec(1, "build-failed")], None, NOW)
    assert green.red_since is None
    never = cell_view(spec("c1"), [], None, NOW)
    assert never.state.key == "never-run" and never.latest is None


def test_matrix_rows_columns_filters_and_pass_rate():
    specs = [spec("a", "base", "kvm", "x86_64"), spec("b", "base", "kvm", "arm64"),
             spec("c", "lwip", "kvm", "x86_64"), spec("d", "lwip", "xen", "x86_64"),
             spec("e", "base", "kvm", "x86_64", tree="other")]
    builds = [rec(1, "passed", builder="a"), rec(2, "build-failed", builder="b"),
              rec(3, "passed", builder="c"), rec(4, "boot-failed", builder="c"),
              rec(5, "unsupported", builder="d")]
    view = build_matrix(specs, builds, {}, Filters(), NOW, queries=4)
    assert [t.tree for t in view.trees] == ["fixture", "other"]
    fixture = view.trees[0]
    assert [c.name for c in fixture.columns] == ["kvm/x86_64", "kvm/arm64", "xen/x86_64"]
    assert [r.label for r in fixture.rows] == ["hello · base", "hello · lwip"]
    assert fixture.rows[0].cells[2] is None  # no base cell on xen
    assert fixture.columns[0].pass_rate == 2 / 3 and fixture.columns[2].pass_rate is None
    assert view.counts == {"passed": 1, "build-failed": 1, "boot-failed": 1, "unsupported": 1,
                           "never-run": 1}
    only = build_matrix(specs, builds, {}, Filters(state=frozenset({"boot-failed"})), NOW, 4)
    assert only.shown == 1 and [c.name for c in only.trees[0].columns] == ["kvm/x86_64"]
    lib = build_matrix(specs, builds, {}, Filters(library=frozenset({"lwip"}),
                                                  platform=frozenset({"xen"})), NOW, 4)
    assert lib.shown == 1 and lib.trees[0].rows[0].cells[0].spec.name == "d"
    assert ("state", "boot-failed") in Filters(state=frozenset({"boot-failed"})).as_query()


def row(bug_id: int, state: str, claimed: str = "", since: int = 2, quiet: int = 1
        ) -> OpenBugRow:
    return OpenBugRow(bug_id, f"bug {bug_id}", "Xen", "Tools", "CONFIRMED", "", state,
                      NOW - timedelta(days=since), claimed,
                      NOW - timedelta(days=since) if claimed else None,
                      NOW - timedelta(days=quiet))


def test_triage_sections_claim_age_and_stale_marks():
    rows = [row(1, "open-for-dev"), row(2, "claimed", "dev@x", since=40, quiet=35),
            row(3, "claimed", "dev@y", since=5), row(4, "nudged", "dev@z", since=50),
            row(5, "in-review"), row(6, "needs-info"), row(7, "reminded")]
    view = build_triage(rows, [], TriageFilters(), NOW, stale_days=30, queries=2)
    by = {s.key: [b.row.bug_id for b in s.bugs] for s in view.sections}
    assert by == {"needs-developer": [1], "claimed": [2, 3, 4], "in-review": [5],
                  "waiting-reporter": [6, 7]}
    claimed = {b.row.bug_id: b for b in view.sections[1].bugs}
    assert claimed[2].stale and claimed[2].claim_days == 40
    assert not claimed[3].stale and claimed[4].stale
    stale = build_triage(rows, [], TriageFilters(stale=True), NOW, 30, 2)
    assert stale.shown == 2


def test_weekly_trend_counts_open_new_and_fixed():
    monday = (NOW - timedelta(days=NOW.weekday())).replace(hour=0, minute=0)
    dates = [BugDates(monday - timedelta(days=30), None, False),  # open throughout
             BugDates(monday + timedelta(hours=1), None, False),  # new this week
             BugDates(monday - timedelta(days=10), monday - timedelta(days=3), True),
             BugDates(monday - timedelta(days=200), monday - timedelta(days=100), True)]
    weeks = weekly_trend(dates, NOW, weeks=4)
    assert [w.new for w in weeks] == [0, 1, 0, 1]
    assert weeks[-2].fixed == 1 and sum(w.fixed for w in weeks) == 1
    # End of last week: the old open bug only (the fixed one closed before it ended).
    assert weeks[-2].opened == 1 and weeks[-1].opened == 2
    assert weeks[-3].opened == 2  # the bug fixed last week was still open then


def test_charts_escape_labels_and_print_their_numbers():
    svg = str(charts.rate_bars("t", [charts.Bar("<b>kvm</b>", 0.5, "50% of 4")]))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "50% of 4" in svg
    bars = str(charts.grouped_bars("w", ["W1"], [charts.Series("new", (3,), "xt-s1")]))
    assert "<desc>W1: new 3</desc>" in bars and ">3</text>" in bars
