"""Pure rule tests: a bug and a context in, decisions / changes / state out."""

from __future__ import annotations

import pytest

from tests.claims.builders import bug, comment, day, history
from tests.claims.conftest import BOT
from triage.config import ConfigError
from triage.model import Flag, TriageState
from triage.rules import validate_rule_settings
from triage.rules.claims import ClaimsRule
from triage.rules.fix_documentation import ASKED, FixDocumentationRule
from triage.rules.stale_claims import NUDGED, StaleClaimsRule

DEV = "dev@example.org"


def claimed_bug(bug_id: int = 1, *, at=None, extra_comments=(), extra_history=(), **kw):
    at = at or day(2)
    return bug(bug_id, status="IN_PROGRESS", assigned_to=DEV, history_entries=[
        history(DEV, at, assigned_to=("xen-bugs@example.org", DEV),
                status=("CONFIRMED", "IN_PROGRESS")), *extra_history],
        comments=[comment(bug_id, 0, "reporter@example.org", "Xen 4.17.2 crash", day(0)),
                  *extra_comments], **kw)


# --- settings ----------------------------------------------------------------------------------

def test_settings_validate_and_name_bad_keys(make_settings):
    validate_rule_settings(make_settings("[rules.claims]\nmaintainers = ['m@example.org']\n"))
    for toml, key in [
        ("[rules.claims]\nmaintainer = []\n", "rules.claims.maintainer"),
        ("[rules.claims]\nmaintainers = ['nobody']\n", "rules.claims.maintainers"),
        ("[rules.stale_claims]\nnudge_days = 0\n", "rules.stale_claims.nudge_days"),
        ("[rules.stale_claims]\nrelease_days = 'x'\n", "rules.stale_claims.release_days"),
        ("[rules.fix_documentation]\nmax_age_days = -1\n", "rules.fix_documentation.max_age_days"),
        ("[rules.claims.default_assignees]\nXen = 'not-an-address'\n",
         "rules.claims.default_assignees.Xen"),
    ]:
        with pytest.raises(ConfigError) as info:
            validate_rule_settings(make_settings(toml))
        assert info.value.key == key


# --- claims ------------------------------------------------------------------------------------

def test_claim_seen_in_bugzilla(settings, ctx):
    rule = ClaimsRule.from_settings(settings)
    b = claimed_bug()
    c = ctx(now=day(3))
    assert rule.applies_to(b, c)
    result = rule.evaluate(b, c)
    (d,) = result.decisions
    assert (d.outcome, d.state) == ("claimed", TriageState.CLAIMED)
    assert "dev@example.org" in d.reason and "IN_PROGRESS" in d.reason
    assert result.state is not None and result.state.claimed_by == DEV
    assert result.state.claimed_at == day(2)
    assert result.changes == ()  # observing only


def test_known_claim_is_quiet(settings, ctx):
    rule = ClaimsRule.from_settings(settings)
    assert not rule.evaluate(claimed_bug(), ctx(state=TriageState.CLAIMED, claimed_by=DEV))


@pytest.mark.parametrize("assignee", ["xen-bugs@example.org", BOT, "nobody@example.org", ""])
def test_in_progress_without_a_person_is_not_a_claim(settings, ctx, assignee):
    rule = ClaimsRule.from_settings(settings)
    result = rule.evaluate(bug(1, status="IN_PROGRESS", assigned_to=assignee), ctx())
    (d,) = result.decisions
    assert d.outcome == "not-a-claim" and result.state is None


def test_person_assigned_but_not_in_progress_is_not_a_claim(settings, ctx):
    rule = ClaimsRule.from_settings(settings)
    assert not rule.applies_to(bug(1, status="CONFIRMED", assigned_to=DEV), ctx())


def test_claim_given_up_in_bugzilla(settings, ctx):
    rule = ClaimsRule.from_settings(settings)
    b = bug(1, status="CONFIRMED", assigned_to="xen-bugs@example.org")
    result = rule.evaluate(b, ctx(state=TriageState.CLAIMED, claimed_by=DEV))
    (d,) = result.decisions
    assert d.outcome == "unclaimed" and d.state == TriageState.OPEN_FOR_DEV
    assert result.state is not None and result.state.clear_claim


# --- stale claims ------------------------------------------------------------------------------

def test_recent_claim_is_not_nudged(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    assert not rule.evaluate(claimed_bug(), ctx(now=day(31)))  # 29 quiet days


def test_quiet_claim_is_nudged(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    result = rule.evaluate(claimed_bug(), ctx(now=day(33)))
    (change,) = result.changes
    u = change.update
    assert u is not None and u.comment and "Are you still working on it?" in u.comment
    assert [(f.name, f.status, f.requestee) for f in u.flags] == [("needinfo", "?", DEV)]
    assert u.whiteboard_add == (NUDGED,)
    assert change.nag and change.recipient == DEV
    assert change.key == "stale_claims:1:nudge:20261103"
    assert result.state is not None and result.state.state == TriageState.NUDGED


def test_bot_activity_does_not_keep_a_claim_alive(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    b = claimed_bug(extra_comments=[comment(1, 1, BOT, "automatic note", day(20))])
    assert rule.evaluate(b, ctx(now=day(33))).changes


def test_human_activity_keeps_a_claim_alive(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    b = claimed_bug(extra_comments=[comment(1, 1, "someone@example.org", "any news?", day(20))])
    assert not rule.evaluate(b, ctx(now=day(33)))


def nudged_bug(**kw):
    return claimed_bug(whiteboard=f"[{NUDGED}]", flags=[Flag("needinfo", "?", BOT, DEV, id=55)],
                       extra_history=[history(BOT, day(33), whiteboard=("", f"[{NUDGED}]"))],
                       **kw)


def test_nudged_claim_waits_then_is_released(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    waiting = rule.evaluate(nudged_bug(), ctx(now=day(40)))
    assert [d.outcome for d in waiting.decisions] == ["nudged"] and not waiting.changes
    result = rule.evaluate(nudged_bug(), ctx(now=day(47)))
    (change,) = result.changes
    u = change.update
    assert u is not None
    assert (u.assigned_to, u.status) == ("xen-bugs@example.org", "CONFIRMED")
    assert u.whiteboard_remove == (NUDGED,)
    assert [(f.status, f.id) for f in u.flags] == [("X", 55)]
    assert u.comment and "open for developers again" in u.comment
    assert not change.nag
    assert result.state is not None and result.state.clear_claim
    assert result.state.state == TriageState.OPEN_FOR_DEV


def test_answer_after_the_nudge_voids_it(settings, ctx):
    rule = StaleClaimsRule.from_settings(settings)
    answered = nudged_bug(extra_comments=[comment(1, 1, DEV, "still on it", day(35))])
    assert not rule.evaluate(answered, ctx(now=day(50)))


def test_release_without_default_assignee_is_reported(make_settings, ctx):
    settings = make_settings("[general]\nstate_dir = 'state'\nbot_accounts = ['" + BOT + "']\n")
    rule = StaleClaimsRule.from_settings(settings)
    b = nudged_bug(product="Unikraft", component="lib")
    b = b.__class__(**{**b.__dict__, "history": b.history[1:]})  # no assignee history either
    result = rule.evaluate(b, ctx(now=day(60)))
    assert [d.outcome for d in result.decisions] == ["cannot-release"]
    assert "rules.claims.default_assignees" in result.decisions[0].reason


# --- fix documentation -------------------------------------------------------------------------

def fixed_bug(*comments, **kw):
    return bug(1, status="RESOLVED", resolution="FIXED", assigned_to=DEV,
               comments=[comment(1, 0, "reporter@example.org", "crash", day(0)), *comments],
               history_entries=[history(DEV, day(10), status=("IN_PROGRESS", "RESOLVED"))], **kw)


def test_documented_fix_is_recorded(settings, ctx):
    rule = FixDocumentationRule.from_settings(settings)
    b = fixed_bug(comment(1, 1, DEV, "Fixed in commit 1a2b3c4d5e6f on staging", day(10)))
    assert rule.applies_to(b, ctx())
    result = rule.evaluate(b, ctx(now=day(11), state=TriageState.CLAIMED, claimed_by=DEV))
    (d,) = result.decisions
    assert d.outcome == "fix-documented" and d.state == TriageState.FIX_DOCUMENTED
    assert result.state is not None
    assert result.state.fix_reference == "commit 1a2b3c4d5e6f (comment 1)"
    assert not result.changes


def test_undocumented_fix_gets_exactly_one_follow_up(settings, ctx):
    rule = FixDocumentationRule.from_settings(settings)
    b = fixed_bug(comment(1, 1, DEV, "fixed in 4.17.3", day(10)))
    result = rule.evaluate(b, ctx(now=day(11)))
    (change,) = result.changes
    assert change.key == "fix_documentation:1:ask" and change.nag and change.recipient == DEV
    u = change.update
    assert u is not None and u.whiteboard_add == (ASKED,)
    assert [(f.status, f.requestee) for f in u.flags] == [("?", DEV)]
    # Asked once: the marker (or the applied key) stops a second ask, forever.
    marked = fixed_bug(comment(1, 1, DEV, "fixed in 4.17.3", day(10)), whiteboard=f"[{ASKED}]")
    again = rule.evaluate(marked, ctx(now=day(40)))
    assert not again.changes and again.decisions[0].outcome == "fix-undocumented"
    applied = rule.evaluate(b, ctx(now=day(12), applied_keys=frozenset({change.key})))
    assert not applied.changes


def test_old_closures_and_unclaimed_bugs_are_left_alone(settings, ctx):
    rule = FixDocumentationRule.from_settings(settings)
    old = rule.evaluate(fixed_bug(), ctx(now=day(60)))
    assert not old.changes and old.decisions[0].outcome == "fix-undocumented-old"
    unclaimed = bug(1, status="RESOLVED", resolution="FIXED", assigned_to="xen-bugs@example.org")
    assert not rule.evaluate(unclaimed, ctx(now=day(2)))
    wontfix = bug(1, status="RESOLVED", resolution="WONTFIX", assigned_to=DEV)
    assert not rule.applies_to(wontfix, ctx())


def test_fix_documented_after_the_ask(settings, ctx):
    rule = FixDocumentationRule.from_settings(settings)
    b = fixed_bug(comment(1, 1, BOT, "please add the commit", day(11)),
                  comment(1, 2, DEV, "https://xenbits.xen.org/gitweb/?p=xen.git;a=commit;"
                                     "h=0a1b2c3d4e5f", day(12)), whiteboard=f"[{ASKED}]")
    result = rule.evaluate(b, ctx(now=day(13)))
    assert result.decisions[0].outcome == "fix-documented"
