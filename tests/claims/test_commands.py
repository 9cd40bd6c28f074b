"""Email commands: authorisation, planned writes, one threaded reply per command mail."""

from __future__ import annotations

from tests.claims.builders import bug, command_event, comment, day, history
from tests.claims.conftest import BOT
from triage.commands.planner import plan_mail_commands
from triage.model import TriageState

ALICE = "alice@example.org"


def alice_knows_bug(bug_id: int = 7, **kw):
    """Alice has commented somewhere, so Bugzilla has shown her account."""
    return bug(bug_id, comments=[comment(bug_id, 0, "reporter@example.org", "crash", day(0)),
                                 comment(bug_id, 1, ALICE, "I can look at this", day(1))], **kw)


def plan(settings, events, bugs, **kw):
    return plan_mail_commands(list(enumerate(events, start=1)), {b.id: b for b in bugs}, {},
                              settings, day(5), **kw)


def test_claim_from_the_account_itself(settings):
    (p,) = plan(settings, [command_event("<c1@example.org>", ALICE, ("claim", 7))],
                [alice_knows_bug()])
    (outcome,) = p.outcomes
    assert outcome.accepted and outcome.decision.outcome == "claim-accepted"
    (update, reply) = p.changes
    u = update.update
    assert u is not None and (u.assigned_to, u.status) == (ALICE, "IN_PROGRESS")
    assert u.comment and "<c1@example.org>" in u.comment
    assert update.key == "claims:7:email-claim:<c1@example.org>" and not update.nag
    assert p.states[7].state == TriageState.CLAIMED and p.states[7].claimed_by == ALICE
    mail = reply.mail
    assert mail is not None and reply.key == "commands:-:reply:<c1@example.org>"
    assert mail.to == (ALICE,) and mail.in_reply_to == "<c1@example.org>"
    assert mail.subject == "Re: [Bug] crash"
    assert "Done: #triage claim 7" in mail.text and "claimed by you" in mail.text
    assert "Refused" not in mail.text


def test_display_name_spoofing_is_the_real_address(settings):
    # mailparse keeps only the address: '"alice@example.org" <mallory@evil.example>' is mallory.
    (p,) = plan(settings, [command_event("<c2@evil.example>", "mallory@evil.example",
                                         ("claim", 7))], [alice_knows_bug()])
    (outcome,) = p.outcomes
    assert not outcome.accepted
    assert "not a known Bugzilla account" in outcome.message
    assert [c.kind for c in p.changes] == ["mail"]  # only the refusal
    assert p.reply is not None and p.reply.mail is not None
    assert p.reply.mail.to == ("mallory@evil.example",)
    assert "Refused: #triage claim 7" in p.reply.mail.text


def test_command_sender_must_be_the_mail_sender(settings):
    event = command_event("<c3@example.org>", ALICE, ("claim", 7),
                          command_sender="boss@example.org")
    (p,) = plan(settings, [event], [alice_knows_bug()])
    assert not p.outcomes[0].accepted
    assert "different sender" in p.outcomes[0].message


def test_unknown_bug_is_refused_and_still_answered(settings):
    (p,) = plan(settings, [command_event("<c4@example.org>", ALICE, ("claim", 999),
                                         ("claim", 7))], [alice_knows_bug()])
    refused, accepted = p.outcomes
    assert not refused.accepted and "bug 999 is not known" in refused.message
    assert accepted.accepted
    # One reply for the whole mail.
    assert [c.kind for c in p.changes] == ["update", "mail"]
    assert p.reply is not None and p.reply.mail is not None
    assert "Refused: #triage claim 999" in p.reply.mail.text
    assert "Done: #triage claim 7" in p.reply.mail.text


def test_bot_list_and_default_accounts_cannot_claim(settings):
    b = bug(7, comments=[comment(7, 0, "xen-devel@lists.example.org", "x", day(0))])
    (p,) = plan(settings, [command_event("<c5@example.org>", "xen-devel@lists.example.org",
                                         ("claim", 7))], [b])
    assert "not a person" in p.outcomes[0].message
    (own,) = plan(settings, [command_event("<c6@x.example.org>", BOT, ("claim", 7))],
                  [alice_knows_bug()])
    assert own.ignored and own.changes == ()


def test_configured_developer_may_claim_without_history(settings):
    (p,) = plan(settings, [command_event("<c7@example.org>", "newdev@example.org",
                                         ("claim", 7))], [alice_knows_bug()])
    assert p.outcomes[0].accepted


def test_claim_of_a_claimed_bug_is_refused(settings):
    b = alice_knows_bug(status="IN_PROGRESS", assigned_to="dev@example.org")
    (p,) = plan(settings, [command_event("<c8@example.org>", ALICE, ("claim", 7))], [b])
    assert "already claimed by dev@example.org" in p.outcomes[0].message


def test_first_of_two_claims_in_one_pass_wins(settings):
    b = alice_knows_bug(cc=("bob@example.org",))
    first, second = plan(settings, [command_event("<a@example.org>", ALICE, ("claim", 7)),
                                    command_event("<b@example.org>", "bob@example.org",
                                                  ("claim", 7))], [b])
    assert first.outcomes[0].accepted
    assert not second.outcomes[0].accepted and ALICE in second.outcomes[0].message


def test_replanning_after_the_claim_landed_gives_the_same_reply(settings):
    event = command_event("<c9@example.org>", ALICE, ("claim", 7))
    (before,) = plan(settings, [event], [alice_knows_bug()])
    landed = alice_knows_bug(status="IN_PROGRESS", assigned_to=ALICE)
    (after,) = plan(settings, [event], [landed])
    assert after.reply is not None and before.reply is not None
    assert after.reply.key == before.reply.key and after.reply.mail == before.reply.mail
    assert [c.kind for c in after.changes] == ["mail"]  # nothing left to write in Bugzilla


def unclaimable(**kw):
    return alice_knows_bug(status="IN_PROGRESS", assigned_to=ALICE, history_entries=[
        history(ALICE, day(2), assigned_to=("xen-bugs@example.org", ALICE))], **kw)


def test_unclaim_only_by_claimant_or_maintainer(settings):
    b = unclaimable(cc=("bob@example.org",))
    (bob,) = plan(settings, [command_event("<u1@example.org>", "bob@example.org",
                                           ("unclaim", 7))], [b])
    assert not bob.outcomes[0].accepted and "only they or a maintainer" in bob.outcomes[0].message
    for who in (ALICE, "maint@xen.example.org"):
        (p,) = plan(settings, [command_event(f"<u-{who}>", who, ("unclaim", 7))], [b])
        assert p.outcomes[0].accepted, who
        u = p.changes[0].update
        assert u is not None and (u.assigned_to, u.status) == ("xen-bugs@example.org",
                                                               "CONFIRMED")
        assert p.states[7].clear_claim


def test_unclaim_of_unclaimed_and_closed_bugs(settings):
    (p,) = plan(settings, [command_event("<u2@example.org>", ALICE, ("unclaim", 7))],
                [alice_knows_bug()])
    assert "not claimed" in p.outcomes[0].message
    closed = alice_knows_bug(status="RESOLVED", resolution="FIXED")
    (q,) = plan(settings, [command_event("<u3@example.org>", ALICE, ("claim", 7))], [closed])
    assert "is closed (RESOLVED FIXED)" in q.outcomes[0].message


def test_review_commands_need_configured_reviewers(settings):
    (p,) = plan(settings, [command_event("<r1@example.org>", ALICE, ("review-accept", 7))],
                [alice_knows_bug()])
    assert not p.outcomes[0].accepted
    assert "no reviewers are configured" in p.outcomes[0].message


def test_review_by_email(make_settings):
    from tests.claims.conftest import CLAIMS_TOML
    from triage.rules.base import StateRecord
    from triage.rules.review import REVIEW_MARKER

    settings = make_settings(CLAIMS_TOML + '[rules.review]\nreviewers = ["rev@example.org"]\n')
    b = alice_knows_bug(status="UNCONFIRMED", whiteboard=f"[{REVIEW_MARKER}]")
    states = {7: StateRecord(7, state=TriageState.IN_REVIEW)}

    def run(sender, verb, bug_=b, states_=states):
        return plan_mail_commands([(1, command_event(f"<{verb}-{sender}>", sender,
                                                     (verb, 7)))],
                                  {7: bug_}, states_, settings, day(5))[0]

    stranger = run(ALICE, "review-accept")
    assert "is not a reviewer" in stranger.outcomes[0].message and not stranger.states
    accepted = run("rev@example.org", "review-accept")
    assert accepted.outcomes[0].accepted
    (change, _reply) = accepted.changes
    assert change.key == "review:7:accept"  # the same key as a verdict given in Bugzilla
    assert change.update is not None and change.update.status == "CONFIRMED"
    assert accepted.states[7].state == TriageState.OPEN_FOR_DEV
    rejected = run("rev@example.org", "review-reject")
    assert rejected.changes[0].key == "review:7:reject"
    assert rejected.states[7].state == TriageState.REJECTED
    not_in_review = run("rev@example.org", "review-accept", alice_knows_bug(), {})
    assert "not waiting for review" in not_in_review.outcomes[0].message


def test_hostile_mail_text_cannot_change_the_reply_structure(settings):
    evil_subject = "{{ 7*7 }} {% for x in y %}<b>x</b>\r\nBcc: victim@example.org ''' '''"
    event = command_event("<h1@example.org>", ALICE, ("claim", 7), subject=evil_subject)
    event = event.__class__(**{**event.__dict__, "commands": tuple(
        c.__class__(verb=c.verb, bug_id=c.bug_id, sender=c.sender,
                    line="#triage claim 7 {{ config }}\r\n[[Category:x]] <script>")
        for c in event.commands)})
    (p,) = plan(settings, [event], [alice_knows_bug()])
    (clean,) = plan(settings, [command_event("<h1@example.org>", ALICE, ("claim", 7))],
                    [alice_knows_bug()])
    assert p.reply is not None and clean.reply is not None
    text, ref = p.reply.mail.text, clean.reply.mail.text  # type: ignore[union-attr]
    assert len(text.splitlines()) == len(ref.splitlines())
    assert "49" not in text and "{{ config }}" in text
    assert p.reply.mail.subject.startswith("Re: {{ 7*7 }}")  # type: ignore[union-attr]
