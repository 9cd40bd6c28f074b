"""Review queue: queue complete bugs; accept / reject seen in Bugzilla (keyword or flag mode)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.rules.builders import BOT, COMPLETE_XEN, REPORTER, TOML, context, make_bug
from triage.model import Flag, HistoryChange, HistoryEntry, TriageState
from triage.rules.review import ReviewRule, accept, reject

REVIEWER = "reviewer@xen.example.org"


def evaluate(settings, bug, state):
    rule = ReviewRule.from_settings(settings)
    ctx = context(settings, state=state)
    assert rule.applies_to(bug, ctx)
    return rule.evaluate(bug, ctx)


def keyword_added(bug, keyword, who):
    return dataclasses.replace(bug, keywords=(*bug.keywords, keyword), history=(
        HistoryEntry(who, bug.creation_time, (HistoryChange("keywords", "", keyword),)),))


def test_queue_in_keyword_mode(settings):
    result = evaluate(settings, make_bug(text=COMPLETE_XEN), TriageState.COMPLETE)
    (c,) = result.changes
    assert c.key == "review:1:queue" and not c.nag
    assert c.update.keywords_add == ("triage-review",) and c.update.cc_add == (REVIEWER,)
    assert c.update.whiteboard_add == ("xt:review",) and "reviewer" in c.update.comment
    assert result.state.state == TriageState.IN_REVIEW


def test_queue_in_flag_mode(make_settings):
    s = make_settings(TOML + 'mode = "flag"\ncomment_on_queue = false\n')
    (c,) = evaluate(s, make_bug(), TriageState.COMPLETE).changes
    assert [(f.name, f.status, f.requestee) for f in c.update.flags] == [
        ("triage-review", "?", REVIEWER)]
    assert c.update.comment is None and c.update.keywords_add == ()


def test_already_queued_in_bugzilla_is_not_queued_again(settings):
    result = evaluate(settings, make_bug(keywords=("triage-review",)), TriageState.COMPLETE)
    assert not result.changes and result.state.state == TriageState.IN_REVIEW


def test_accept_by_keyword(settings):
    bug = keyword_added(make_bug(keywords=("triage-review",), whiteboard="[xt:review]"),
                        "triaged", REVIEWER)
    result = evaluate(settings, bug, TriageState.IN_REVIEW)
    (c,) = result.changes
    assert c.key == "review:1:accept"
    assert c.update.status == "CONFIRMED" and c.update.keywords_remove == ("triage-review",)
    assert c.update.whiteboard_add == ("xt:open-for-dev",)
    assert c.update.whiteboard_remove == ("xt:review",)
    assert result.state.state == TriageState.OPEN_FOR_DEV
    assert result.decisions[0].details["reviewer"] == REVIEWER


def test_reject_by_flag_closes_kindly_quoting_the_reviewer(make_settings):
    s = make_settings(TOML + 'mode = "flag"\n')
    bug = make_bug(flags=(Flag("triage-review", "-", setter=REVIEWER, id=3),))
    bug = dataclasses.replace(bug, comments=(*bug.comments, dataclasses.replace(
        bug.comments[0], id=2, count=1, author=REVIEWER,
        text="This is\r\na configuration problem, not a bug.")))
    result = evaluate(s, bug, TriageState.IN_REVIEW)
    (c,) = result.changes
    assert (c.update.status, c.update.resolution) == ("RESOLVED", "INVALID")
    assert "wrote:\n  This is a configuration problem, not a bug.\n" in c.update.comment
    assert c.recipient == REPORTER and not c.nag
    assert result.state.state == TriageState.REJECTED


def test_verdicts_by_non_reviewers_are_ignored(make_settings):
    s = make_settings(TOML + f'reviewers = ["{REVIEWER}"]\n')
    bug = keyword_added(make_bug(keywords=("triage-review",)), "triaged", "random@example.org")
    result = evaluate(s, bug, TriageState.IN_REVIEW)
    assert not result.changes and result.decisions[0].outcome == "ignored-verdict"


def test_waiting_for_review(settings):
    result = evaluate(settings, make_bug(keywords=("triage-review",)), TriageState.IN_REVIEW)
    assert result.decisions[0].outcome == "waiting" and not result.changes


@pytest.mark.parametrize(("state", "final"), [(TriageState.IN_REVIEW, TriageState.REJECTED),
                                              (TriageState.NEEDS_INFO, TriageState.CLOSED)])
def test_closed_by_humans_is_recorded_without_writing(settings, state, final):
    bug = make_bug(is_open=False, status="RESOLVED", resolution="WONTFIX")
    result = evaluate(settings, bug, state)
    assert not result.changes and result.state.state == final


def test_bot_filed_bugs_skip_review(settings):
    result = evaluate(settings, make_bug(creator=BOT), TriageState.COMPLETE)
    assert result.state.state == TriageState.OPEN_FOR_DEV and not result.changes


def test_email_path_builds_the_same_changes_under_the_same_keys(settings):
    bug = make_bug(keywords=("triage-review",), whiteboard="[xt:review]")
    ctx = context(settings, state=TriageState.IN_REVIEW)
    by_mail = accept(bug, ctx, REVIEWER, "email command")
    by_bugzilla = evaluate(settings, keyword_added(bug, "triaged", REVIEWER),
                           TriageState.IN_REVIEW)
    assert by_mail.changes[0].key == by_bugzilla.changes[0].key == "review:1:accept"
    rej = reject(bug, ctx, REVIEWER, "email command", "dup of <b>bug 3</b> {{ x }}")
    assert rej.changes[0].key == "review:1:reject"
    assert "wrote:\n  dup of <b>bug 3</b> {{ x }}\n" in rej.changes[0].update.comment


def test_bug_already_taken_by_a_developer_skips_review(settings):
    bug = make_bug(text=COMPLETE_XEN, status="IN_PROGRESS", assigned_to="dev@xenproject.org")
    result = evaluate(settings, bug, TriageState.COMPLETE)
    assert result.changes == ()
    (d,) = result.decisions
    assert d.outcome == "open-for-dev" and "dev@xenproject.org" in d.reason
    assert result.state is not None and result.state.state == TriageState.OPEN_FOR_DEV


def test_in_progress_without_a_person_still_goes_to_review(settings):
    bug = make_bug(text=COMPLETE_XEN, status="IN_PROGRESS",
                   assigned_to="xen-bugs@lists.xenproject.org")
    (change,) = evaluate(settings, bug, TriageState.COMPLETE).changes
    assert change.key.endswith(":queue")
