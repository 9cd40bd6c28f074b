"""Follow-up, reminder, expiry: pure rule tests (bug + context in, decisions + changes out)."""

from __future__ import annotations

import dataclasses

from tests.rules.builders import (
    BOT,
    COMPLETE_XEN,
    DEV,
    REPORTER,
    add_comment,
    attach,
    context,
    day,
    make_bug,
    needinfo_flag,
    posted,
)
from triage.model import TriageState
from triage.plan import evaluate_bug
from triage.rules import build_rules

VAGUE = "Xen 4.17.2 crashes when I start a guest. Expected it to boot but it crashes."


def chain(settings, bug, now, state=TriageState.NEW, **kw):
    plan = evaluate_bug(bug, build_rules(settings), context(settings, now=now, state=state, **kw))
    return {r.rule: r.result for r in plan.results}, plan


def test_first_follow_up_asks_exactly_for_what_is_missing(settings):
    results, plan = chain(settings, make_bug(text=VAGUE), day(0))
    fu = results["followup"]
    (change,) = fu.changes
    assert change.key == "followup:1:round1" and change.recipient == REPORTER and change.nag
    u = change.update
    assert [(f.name, f.status, f.requestee) for f in u.flags] == [("needinfo", "?", REPORTER)]
    assert u.whiteboard_add == ("xt:needinfo",)
    for label in ("architecture", "hardware or platform", "dom0 kernel or distribution",
                  "steps to reproduce", "logs"):
        assert f"* {label}:" in u.comment
    assert "Xen version" not in u.comment and "expected vs actual" not in u.comment
    assert fu.state.state == TriageState.NEEDS_INFO
    assert plan.projected.state == TriageState.NEEDS_INFO
    assert "review" not in results  # an incomplete bug never reaches the reviewer


def test_no_needinfo_when_one_is_already_pending(settings):
    bug = make_bug(text=VAGUE, flags=(needinfo_flag(REPORTER, setter=DEV),))
    results, _ = chain(settings, bug, day(0))
    assert results["followup"].changes[0].update.flags == ()


def test_waiting_then_reminder_then_expiry(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    results, _ = chain(settings, bug, day(3), TriageState.NEEDS_INFO)
    assert results["followup"].decisions[0].outcome == "waiting" and not results[
        "followup"].changes
    assert "reminder due 2026-10-08" in results["followup"].decisions[0].reason

    results, _ = chain(settings, bug, day(7))
    (rem,) = results["followup"].changes
    assert rem.key == "followup:1:round1:reminder" and rem.nag
    assert rem.update.whiteboard_add == ("xt:reminded",)
    assert "7 days ago" in rem.update.comment and "* logs:" in rem.update.comment
    assert results["followup"].state.state == TriageState.REMINDED

    bug = posted(bug, "followup:1:round1:reminder", day(7))
    results, _ = chain(settings, bug, day(20))
    assert results["followup"].decisions[0].outcome == "waiting"
    assert results["followup"].state.state == TriageState.REMINDED

    bug = dataclasses.replace(bug, flags=(needinfo_flag(REPORTER),),
                              whiteboard="[xt:needinfo] [xt:reminded]")
    results, _ = chain(settings, bug, day(30))
    (exp,) = results["followup"].changes
    u = exp.update
    assert exp.key == "followup:1:expire:round1"
    assert (u.status, u.resolution) == ("RESOLVED", "INCOMPLETE")
    assert [(f.status, f.id) for f in u.flags] == [("X", 7)]
    assert set(u.whiteboard_remove) == {"xt:needinfo", "xt:reminded"}
    assert "closed as incomplete" in u.comment and "reopen" in u.comment
    assert results["followup"].state.state == TriageState.EXPIRED


def test_expiry_without_closing(make_settings):
    from tests.rules.builders import TOML

    s = make_settings(TOML.replace("max_rounds = 2", "max_rounds = 2\nclose_on_expiry = false"))
    bug = posted(posted(make_bug(text=VAGUE), "followup:1:round1", day(0)),
                 "followup:1:round1:reminder", day(7))
    results, _ = chain(s, bug, day(31))
    u = results["followup"].changes[0].update
    assert u.status is None and u.resolution is None and "waiting 31 days" in u.comment


def test_an_incomplete_answer_gets_a_second_round_naming_what_is_still_missing(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = add_comment(bug, "It is x86_64 on a Dell PowerEdge with Debian 12.", at=day(2))
    results, _ = chain(settings, bug, day(2), TriageState.NEEDS_INFO)
    (change,) = results["followup"].changes
    assert change.key == "followup:1:round2"
    assert "A few details are still" in change.update.comment
    assert "* steps to reproduce:" in change.update.comment
    assert "architecture" not in change.update.comment


def test_an_attachment_is_an_answer_too(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = attach(bug, "guest.cfg", "my config", at=day(1))
    results, _ = chain(settings, bug, day(1))
    assert results["followup"].changes[0].key == "followup:1:round2"


def test_after_the_last_round_the_reviewer_decides(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = add_comment(bug, "x86_64", at=day(1))
    bug = posted(bug, "followup:1:round2", day(1))
    bug = add_comment(bug, "Debian", at=day(2))
    results, plan = chain(settings, bug, day(2))
    assert results["followup"].decisions[0].outcome == "rounds-exhausted"
    assert results["review"].changes[0].key == "review:1:queue"
    assert plan.projected.state == TriageState.IN_REVIEW


def test_a_complete_answer_moves_the_bug_to_review_at_once(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = dataclasses.replace(bug, flags=(needinfo_flag(REPORTER),), whiteboard="[xt:needinfo]")
    bug = add_comment(bug, COMPLETE_XEN, at=day(4))
    results, plan = chain(settings, bug, day(4), TriageState.NEEDS_INFO)
    assert "followup" not in results
    (q,) = results["review"].changes
    assert q.update.keywords_add == ("triage-review",)
    assert [(f.status, f.id) for f in q.update.flags] == [("X", 7)]  # the bot's needinfo
    assert q.update.whiteboard_remove == ("xt:needinfo",)
    assert plan.projected.state == TriageState.IN_REVIEW


def test_comments_by_other_people_are_not_the_reporters_answer(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = add_comment(bug, "Same here.", author="someone@example.net", at=day(1))
    results, _ = chain(settings, bug, day(2))
    assert results["followup"].decisions[0].outcome == "waiting"


def test_a_store_without_history_rebuilds_the_state_from_bugzilla(settings):
    bug = posted(posted(make_bug(text=VAGUE), "followup:1:round1", day(0)),
                 "followup:1:round1:reminder", day(7))
    results, plan = chain(settings, bug, day(8), TriageState.NEW)
    assert not results["followup"].changes
    assert plan.projected.state == TriageState.REMINDED


def test_written_but_not_yet_seen_is_not_written_again(settings):
    results, _ = chain(settings, make_bug(text=VAGUE), day(1),
                       applied_keys=frozenset({"followup:1:round1"}))
    assert results["followup"].decisions[0].outcome == "waiting"


def test_bot_reporters_are_never_followed_up(settings):
    results, _ = chain(settings, make_bug(text="x", creator=BOT), day(0))
    assert "followup" not in results


def test_a_reopened_expired_bug_with_an_answer_continues(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = posted(bug, "followup:1:expire:round1", day(30))
    bug = add_comment(bug, "Reopening: x86_64 on Debian 12", at=day(40))
    results, _ = chain(settings, bug, day(40), TriageState.EXPIRED)
    assert results["followup"].changes[0].key == "followup:1:round2"


def test_a_bug_a_developer_already_took_is_not_followed_up(settings):
    bug = make_bug(text=VAGUE, status="IN_PROGRESS", assigned_to=DEV)
    results, plan = chain(settings, bug, day(0))
    assert "followup" not in results  # the developer asks for what they need
    assert not [c for r in plan.results for c in r.result.changes if c.recipient == REPORTER]


def test_the_follow_up_says_what_was_found_before_asking(settings):
    text = ("Xen 4.19.1 on a Raspberry Pi 4 (arm64), dom0 Alpine 3.20. It hangs when I run "
            "xl create -c pv.cfg (type = \"pvh\"); it should boot.")
    results, _ = chain(settings, make_bug(text=text), day(0))
    comment = results["followup"].changes[0].update.comment
    flat = " ".join(comment.split())
    assert "Found in the report: Xen 4.19.1, arm64, hardware Raspberry Pi 4, an Alpine dom0" \
        in flat
    assert "* logs:" in comment and "* architecture:" not in comment


def test_i_already_gave_this_is_an_answer_not_a_reason_to_ask_again(settings):
    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = add_comment(bug, "I already gave this: it is in the first line.", at=day(2))
    results, _ = chain(settings, bug, day(2), TriageState.NEEDS_INFO)
    (d,) = results["followup"].decisions
    assert d.outcome == "reporter-says-given" and not results["followup"].changes
    assert results["review"].changes[0].key == "review:1:queue"
    german = add_comment(posted(make_bug(text=VAGUE), "followup:1:round1", day(0)),
                         "Das habe ich schon angegeben, siehe oben.", at=day(2))
    results, _ = chain(settings, german, day(2), TriageState.NEEDS_INFO)
    assert results["followup"].decisions[0].outcome == "reporter-says-given"


def test_a_human_clearing_the_needinfo_counts_as_an_answer(settings):
    from tests.rules.builders import cleared_needinfo

    bug = posted(make_bug(text=VAGUE), "followup:1:round1", day(0))
    bug = dataclasses.replace(bug, history=(cleared_needinfo(REPORTER, DEV, day(1)),))
    results, _ = chain(settings, bug, day(2), TriageState.NEEDS_INFO)
    (d,) = results["followup"].decisions
    assert d.outcome == "needinfo-cleared" and not results["followup"].changes
    assert d.state == TriageState.COMPLETE
