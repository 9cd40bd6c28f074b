"""Scores the completeness checklist against the labelled corpus (issue #10's goals).

Per item precision and recall of "missing", micro F1 and the exact missing-set match, on the
tuning set and on the set written after the detectors (held-out); and, through the whole rule
chain, no follow-up to a complete report nor to a corporate, project or bot account.
"""

from __future__ import annotations

import pytest

from tests.corpus import conftest
from tests.corpus.corpus import HELDOUT, HELDOUT2, TUNING, Case, load, score
from tests.rules.builders import context
from triage.plan import evaluate_bug
from triage.rules import build_rules

GOAL_F1 = 0.90
GOAL_EXACT = 0.80
SETTINGS = """
[general]
bot_email = "triage-bot@xenproject.org"
bot_accounts = ["triage-bot@xenproject.org"]
"""


@pytest.mark.parametrize(("name", "path"), [("tuning set", TUNING), ("held-out set", HELDOUT)])
def test_checklist_meets_the_goals_on_the_corpus(name, path):
    cases = load(path)
    scores = score(cases)
    table = scores.table(f"{name} ({path.name})")
    conftest.FIGURES.append(table)
    print(table)
    assert scores.micro_f1 >= GOAL_F1, table
    assert scores.exact_rate >= GOAL_EXACT, table


def test_second_held_out_set_is_scored_and_reported():
    """Written after the fixes the first held-out set prompted; its untuned figure is in
    docs/BENCHMARKS.md. The assertion is a floor, not the goal."""
    scores = score(load(HELDOUT2, first_id=2000))
    table = scores.table(f"second held-out set ({HELDOUT2.name})")
    conftest.FIGURES.append(table)
    print(table)
    assert scores.micro_f1 >= GOAL_F1, table


def test_corpus_is_big_and_varied_enough():
    cases = load(TUNING) + load(HELDOUT, first_id=1000)
    assert len(cases) >= 80
    products = {(c.bug.product, c.bug.component) for c in cases}
    assert ("Xen", "Unikraft") in products and ("Unikraft", "Kernel") in products
    assert any(c.bug.attachments for c in cases)
    assert any(any(x.author != c.bug.creator for x in c.bug.comments) for c in cases)
    assert any(any(x.author == c.bug.creator and x.count for x in c.bug.comments) for c in cases)
    assert {c.account for c in cases} == {"community", "corporate", "project", "bot"}


def _followups(cases: list[Case], make_settings) -> dict[str, int]:
    settings = make_settings(SETTINGS)
    rules = build_rules(settings)
    out: dict[str, int] = {}
    for case in cases:
        plan = evaluate_bug(case.bug, rules, context(settings, now=case.bug.creation_time,
                                                     bug_id=case.bug.id))
        out[case.id] = sum(1 for r in plan.results if r.rule == "followup"
                           for _ in r.result.changes)
    return out


def test_no_follow_up_to_complete_reports_nor_to_corporate_project_or_bot_accounts(
        make_settings):
    cases = load(TUNING) + load(HELDOUT, first_id=1000) + load(HELDOUT2, first_id=2000)
    sent = _followups(cases, make_settings)
    complete = [c.id for c in cases if not c.missing and c.account == "community"]
    assert complete and all(sent[i] == 0 for i in complete), \
        [i for i in complete if sent[i]]
    others = [c.id for c in cases if c.account != "community"]
    assert others and all(sent[i] == 0 for i in others), [i for i in others if sent[i]]
    # ... and the incomplete community reports do get their question.
    incomplete = [c.id for c in cases if c.missing and c.account == "community"]
    assert sum(1 for i in incomplete if sent[i]) == len(incomplete)
