"""Golden tests: every comment template, rendered by its rule, against a file in golden/.

Regenerate after an intended wording change with ``XENTRIAGE_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tests.rules.builders import REPORTER, context, day, make_bug, posted
from triage.model import Flag, TriageState
from triage.rules.base import TEMPLATE_DIR
from triage.rules.followup import FollowupRule
from triage.rules.review import ReviewRule, reject

GOLDEN = Path(__file__).parent / "golden"
VAGUE = "Xen 4.17.2 crashes when I start a guest. Expected it to boot but it crashes."


def _incomplete(settings, bug, now, state=TriageState.NEW):
    from triage.rules.completeness import CompletenessRule

    ctx = context(settings, now=now, state=state)
    verdict = CompletenessRule.from_settings(settings).evaluate(bug, ctx)
    return ctx.with_state(ctx.state, {"completeness": verdict.decisions})


def _followup(settings, bug, now):
    return FollowupRule.from_settings(settings).evaluate(bug, _incomplete(settings, bug, now))


def comment_of(result):
    (change,) = result.changes
    return change.update.comment


def rendered(settings) -> dict[str, str]:
    out: dict[str, str] = {}
    bug = make_bug(text=VAGUE)
    out["followup_round1"] = comment_of(_followup(settings, bug, day(0)))
    sent = posted(bug, "followup:1:round1", day(0))
    answered = dataclasses.replace(sent, comments=(*sent.comments, dataclasses.replace(
        sent.comments[0], id=999, count=9, text="x86_64 on Debian 12", creation_time=day(1))))
    out["followup_round2"] = comment_of(_followup(settings, answered, day(1)))
    out["followup_reminder"] = comment_of(_followup(settings, sent, day(7)))
    reminded = posted(sent, "followup:1:round1:reminder", day(7))
    out["followup_expiry"] = comment_of(_followup(settings, reminded, day(30)))
    review = ReviewRule.from_settings(settings)
    out["review"] = comment_of(review.evaluate(make_bug(), context(
        settings, state=TriageState.COMPLETE)))
    ctx = context(settings, state=TriageState.IN_REVIEW)
    out["review_rejected"] = comment_of(reject(make_bug(), ctx, "r@x.org", "flag",
                                               "Works as designed: see the xl.cfg manual."))
    out["review_rejected_no_reason"] = comment_of(reject(make_bug(), ctx, "r@x.org", "flag"))
    return out


def test_golden_comments(settings):
    texts = rendered(settings)
    update = os.environ.get("XENTRIAGE_UPDATE_GOLDEN") == "1"
    for name, text in texts.items():
        path = GOLDEN / f"{name}.txt"
        if update:
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"missing golden file {path.name} (set XENTRIAGE_UPDATE_GOLDEN=1)"
        assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_every_template_of_these_rules_has_a_golden_test(settings):
    mine = {p.name for p in TEMPLATE_DIR.glob("*.j2")
            if p.name.startswith(("followup", "review"))}
    assert mine == {"followup.j2", "followup_reminder.j2", "followup_expiry.j2", "review.j2",
                    "review_rejected.j2"}


@pytest.mark.parametrize("name", ["followup_round1", "followup_reminder", "followup_expiry",
                                  "review", "review_rejected"])
def test_comments_are_plain_text_within_72_columns_and_end_with_a_newline(settings, name):
    text = rendered(settings)[name]
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\r" not in text and "{{" not in text and "{%" not in text
    long = [line for line in text.splitlines() if len(line) > 72]
    assert not long, long


def test_needinfo_is_only_for_the_reporter(settings):
    result = _followup(settings, make_bug(text=VAGUE, flags=(
        Flag("needinfo", "?", "x", "someone@else.org", 1),)), day(0))
    assert result.changes[0].update.flags[0].requestee == REPORTER
