"""Which bisections CI linking asks for (pure): regression ranges end at the first revision
failing with S; results arriving in one sweep still queue; a flake is no fix; a signature
without a bug gets no fix bisection."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.ci.world import T0, result
from triage.ci.bisect.trigger import wanted_bisections
from triage.ci.grouping import group
from triage.ci.history import judge_all
from triage.store.ci import SignatureRow

S, OTHER = "0123456789abcdef", "ffffeeeeddddcccc"
A, B = "hello-crc-kvm-x86_64", "hello-crc-linuxu-x86_64"


def wanted(results, rows=None):
    verdicts = judge_all(results, retry=False)
    by_cell: dict[str, list] = {}
    for r in results:
        by_cell.setdefault(r.cell, []).append(r)
    return [(w.request.kind, w.request.cell, w.request.old, w.request.new, w.signature)
            for w in wanted_bisections(group(verdicts), verdicts, rows or {}, by_cell)]


def history(*items):
    return [result(cell, outcome, rev, n + 1, sig=sig, title="t") for n, (cell, outcome, rev, sig)
            in enumerate(items)]


def row(cells, bug_id=3, state="failing"):
    return {S: SignatureRow(S, "boot-failed", "t", "boot", tuple(cells), bug_id, state, T0, T0,
                            None, {})}


def test_cause_range_ends_at_the_first_failure_with_s_and_one_sweep_is_enough():
    results = history((A, "passed", "r1", ""), (A, "boot-failed", "r2", OTHER),
                      (A, "boot-failed", "r3", S), (A, "boot-failed", "r4", S))
    assert wanted(results) == [("cause", A, "r1", "r3", S)]


def test_the_cell_that_regressed_first_is_bisected():
    results = history((A, "passed", "r1", ""), (B, "passed", "r1", ""),
                      (B, "boot-failed", "r2", S), (A, "boot-failed", "r3", S))
    assert wanted(results) == [("cause", B, "r1", "r2", S)]


def test_never_passed_asks_for_nothing():
    assert wanted(history((A, "boot-failed", "r1", S), (A, "boot-failed", "r2", S))) == []


def test_fix_range_and_flake():
    fixed = history((A, "passed", "r1", ""), (A, "boot-failed", "r2", S),
                    (A, "boot-failed", "r3", S), (A, "passed", "r4", ""), (A, "passed", "r5", ""))
    assert wanted(fixed, row([A])) == [("fix", A, "r3", "r4", S)]
    assert wanted(fixed, row([A], bug_id=None)) == []  # no bug to resolve
    assert wanted(fixed, row([A], state="passing")) == []  # resolved already
    flake = history((A, "passed", "r1", ""), (A, "boot-failed", "r2", S), (A, "passed", "r2", ""))
    assert wanted(flake, row([A])) == []
    other_end = history((A, "boot-failed", "r2", S), (A, "boot-failed", "r3", OTHER),
                        (A, "passed", "r4", ""))
    assert wanted(other_end, row([A])) == []


def test_latest_by_signature(any_store):
    from triage.ci.bisect.model import BisectRequest
    from triage.store import bisections as rows

    st = any_store
    with st.session() as s:
        for n, kind in enumerate(("cause", "fix")):
            rows.queue(s, BisectRequest(kind, A, f"o{n}", f"n{n}", S), now=T0 + timedelta(n),
                       origin_signature=S)
        latest = rows.latest_by_signature(s)
    assert latest[S].request.kind == "fix"


def test_fix_note_waits_then_gives_up_and_ignores_a_reported_fix():
    from dataclasses import replace

    from tests.bisect.linkworld import commit, found
    from triage.ci.bisect.model import BisectRequest
    from triage.ci.bisect.report import fix_note
    from triage.store.bisections import BisectionRecord

    req = BisectRequest("fix", A, "r3", "r4", S)
    queued = BisectionRecord(1, req, S, "queued", T0, None, None, "", "", None, "", "")
    assert fix_note([], T0, 24) is None
    assert fix_note([queued], T0 + timedelta(hours=23), 24).wait
    late = fix_note([queued], T0 + timedelta(hours=25), 24)
    assert not late.wait and "has not finished after 24 hours" in late.text
    assert late.bisection_id is None  # its result will get its own comment
    out = found(req, commit(12), commit(11))
    done = replace(queued, state="done", status="found", outcome=out)
    note = fix_note([done], T0 + timedelta(hours=25), 24)
    assert not note.wait and f"Bug fixed:         {commit(12).id}" in note.text
    assert note.bisection_id == 1
    assert fix_note([replace(done, reported_key="ci:fixed:x")], T0, 24) is None


def test_no_bisection_for_an_invalid_or_flagged_signature():
    results = history((A, "passed", "r1", ""), (A, "boot-failed", "r2", S))
    assert wanted(results, row([A], state="invalid")) == []
    mixed = history((A, "passed", "r1", ""), (B, "passed", "r1", ""),
                    (A, "boot-failed", "r2", S), (B, "boot-failed", "r2", S))
    mixed[3] = replace(mixed[3], title="another title")
    assert wanted(mixed) == []
