"""Rule ``followup``: ask the reporter of an incomplete community bug for exactly what is missing,
remind once, and close the bug kindly after a long silence.

The life of a question (DESIGN.md §2: incomplete → needs-info → reminded → expired):

1. *Follow-up* (round 1): one comment (template ``followup.j2``) listing what the completeness
   rule found missing, in plain words, plus ``needinfo`` on the reporter and ``[xt:needinfo]``.
2. *Reminder* after ``reminder_days`` without an answer (``followup_reminder.j2``), once a round.
3. *Expiry* after ``expire_days`` of silence since the follow-up: ``RESOLVED INCOMPLETE`` (the
   status and resolution of ``bugzilla.workflow``), the needinfo cleared, a kind closing comment
   (``followup_expiry.j2``) that says how to reopen.

Each follow-up first says what the bot understood ("Found: Xen 4.19.1, arm64, ...") so a reporter
can correct it in one line. A reporter's reply "I already gave this: ..." (in any of the
languages the checklist reads), or a human clearing the needinfo, counts as an answer: the bug
goes to the reviewer rather than being asked the same again.

A reporter's answer (a comment or an attachment after the last follow-up) moves the bug on at once:
if the report is now complete the completeness rule already said so and this rule stays silent;
if something is still missing, the next round asks for *that*, up to ``max_rounds``; after the last
round the bug goes to the reviewer with what it has, rather than being asked forever.

Where the bot stands is read from Bugzilla itself: each follow-up comment ends with the write
ledger's marker for its idempotency key (``triage.markers.marker_for``), so the round numbers and
their times are known even with an empty store, and a second bot sees the first one's questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from triage.claims.core import taken_in_bugzilla
from triage.completeness.checklist import ITEMS, labels
from triage.markers import state_tag
from triage.model import Bug, BugUpdate, Change, Decision, FlagChange, TriageState
from triage.nag import acknowledged_at
from triage.rules.base import (
    NOTHING,
    Days,
    Rule,
    RuleContext,
    RuleResult,
    RuleSettings,
    StateUpdate,
    needinfo,
    open_needinfo_for,
    sanitize,
    trusted,
)
from triage.validation import Range

# "I already gave this: ..." in the languages the checklist reads: the reporter says the bot
# misread the report. Asking again would be the worst answer; the reviewer reads it instead.
ALREADY_GIVEN = re.compile(
    r"(?i)\b(?:already|before|above)\s+(?:gave|given|provided|wrote|written|included|attached|"
    r"mentioned|posted|said|stated|pasted)|\b(?:is|are|was|were)\s+(?:already\s+)?(?:in|above)"
    r"\s+(?:the|my)\s+(?:report|description|first)|\b(?:schon|bereits)\s+(?:angegeben|"
    r"geschrieben|genannt|angehängt|drin)|\bdéjà\s+(?:donné|fourni|indiqué|écrit|mis|joint)|"
    r"\bya\s+(?:lo\s+|la\s+)?(?:di|he dado|indiqué|puse|escribí|adjunté)|\bgià\s+"
    r"(?:dato|scritto|indicato|allegato|fornito)|\bjá\s+(?:dei|indiquei|escrevi|anexei|"
    r"informei)|\bal\s+(?:gegeven|vermeld|geschreven|bijgevoegd)|\bjuż\s+(?:podałem|"
    r"podałam|napisałem|napisałam|załączyłem|załączyłam)")

NEEDINFO_MARKER = state_tag("needinfo")
REMINDED_MARKER = state_tag("reminded")
EXPIRED_MARKER = state_tag("expired")


@dataclass
class FollowupSettings(RuleSettings):
    reminder_days: Days = 7
    expire_days: Days = 60
    # Follow-ups per bug: the first, plus one per incomplete answer.
    max_rounds: Annotated[int, Range(1)] = 3
    set_needinfo: bool = True
    close_on_expiry: bool = True
    # Resolution for expired bugs; "" means bugzilla.workflow.incomplete_resolution.
    expiry_resolution: str = ""

    def problems(self) -> list[tuple[str, str]]:
        if self.expire_days <= self.reminder_days:
            return [("expire_days", "must be greater than reminder_days")]
        return []


@dataclass(frozen=True)
class Round:
    number: int
    sent_at: datetime
    reminded_at: datetime | None


def _marker_token(key: str) -> str:
    from triage.markers import marker_for

    return f"[{marker_for(key)}]"


class FollowupRule(Rule):
    name = "followup"
    summary = "asks reporters for what is missing; reminds; expires silent reports"
    settings_class = FollowupSettings

    @property
    def cfg(self) -> FollowupSettings:
        assert isinstance(self.settings, FollowupSettings)
        return self.settings

    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        verdict = ctx.earlier.get("completeness", ())
        return (bug.is_open and any(d.outcome == "incomplete" for d in verdict)
                and not taken_in_bugzilla(bug, ctx))

    # -- reading Bugzilla --
    def rounds(self, bug: Bug, ctx: RuleContext) -> list[Round]:
        """The follow-up rounds already posted, from their markers (or the action ledger)."""
        bot_comments = [c for c in bug.comments if ctx.is_bot(c.author)]
        found: list[Round] = []
        for n in range(1, self.cfg.max_rounds + 1):
            key = self.key(bug.id, f"round{n}")
            token = _marker_token(key)
            sent = next((c.creation_time for c in bot_comments if token in c.text), None)
            if sent is None and key in ctx.applied_keys:
                sent = ctx.now  # written but not yet seen in our copy: treat as just sent
            if sent is None:
                break
            rkey = self.key(bug.id, f"round{n}", "reminder")
            rtoken = _marker_token(rkey)
            reminded = next((c.creation_time for c in bot_comments if rtoken in c.text), None)
            if reminded is None and rkey in ctx.applied_keys:
                reminded = ctx.now
            found.append(Round(n, sent, reminded))
        return found

    @staticmethod
    def says_already_given(bug: Bug, when: datetime) -> bool:
        reporter = bug.creator.lower()
        return any(c.author.lower() == reporter and c.creation_time > when
                   and ALREADY_GIVEN.search(c.text) for c in bug.comments)

    @staticmethod
    def answered_since(bug: Bug, when: datetime) -> datetime | None:
        reporter = bug.creator.lower()
        times = [c.creation_time for c in bug.comments
                 if c.author.lower() == reporter and c.creation_time > when]
        times += [a.creation_time for a in bug.attachments
                  if a.creator.lower() == reporter and a.creation_time > when]
        return min(times) if times else None

    # -- deciding --
    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        if ctx.is_bot(bug.creator):
            return NOTHING
        verdict = next(d for d in ctx.earlier["completeness"] if d.outcome == "incomplete")
        missing = [m for m in verdict.details.get("missing", ()) if m in ITEMS]
        found = [str(f) for f in verdict.details.get("found", ())]
        rounds = self.rounds(bug, ctx)
        if not rounds:
            return self._ask(bug, ctx, 1, missing, "the report is incomplete", found)
        last = rounds[-1]
        answer = self.answered_since(bug, last.sent_at)
        flag = ctx.settings.bugzilla.workflow.needinfo_flag
        cleared = acknowledged_at(bug, bug.creator, ctx.bot_accounts, flag)
        if answer is None and cleared is not None and cleared > last.sent_at:
            # A human cleared the question without a comment: that counts as an answer.
            return self._to_reviewer(bug, "needinfo-cleared", (
                f"a human cleared the needinfo on {cleared:%Y-%m-%d}: the question counts as "
                f"answered; the reviewer decides with what is there"), missing)
        if answer is not None and self.says_already_given(bug, last.sent_at):
            return self._to_reviewer(bug, "reporter-says-given", (
                f"the reporter answered on {answer:%Y-%m-%d} that the details were already "
                f"given: not asked again; the reviewer reads the report"), missing)
        if answer is not None:
            if last.number < self.cfg.max_rounds:
                return self._ask(bug, ctx, last.number + 1, missing,
                                 f"the reporter answered on {answer:%Y-%m-%d} but "
                                 f"{', '.join(labels(missing))} is still missing", found)
            reason = (f"the reporter answered {last.number} follow-ups; still missing "
                      f"{', '.join(labels(missing))}: the reviewer decides with what is there")
            return RuleResult(
                decisions=(self.decision(bug, "rounds-exhausted", reason, TriageState.COMPLETE,
                                         missing=missing),),
                state=StateUpdate(TriageState.COMPLETE, reason))
        age = ctx.now - last.sent_at
        if age >= timedelta(days=self.cfg.expire_days):
            return self._expire(bug, ctx, last, missing)
        if last.reminded_at is None and age >= timedelta(days=self.cfg.reminder_days):
            return self._remind(bug, ctx, last, missing)
        state = TriageState.REMINDED if last.reminded_at else TriageState.NEEDS_INFO
        due = (last.sent_at + timedelta(days=self.cfg.expire_days if last.reminded_at
                                        else self.cfg.reminder_days))
        what = "expiry" if last.reminded_at else "reminder"
        reason = (f"waiting for the reporter since the follow-up of {last.sent_at:%Y-%m-%d} "
                  f"(round {last.number}); {what} due {due:%Y-%m-%d}")
        return RuleResult(decisions=(self.decision(bug, "waiting", reason, state,
                                                   round=last.number),),
                          state=StateUpdate(state, reason))

    def _to_reviewer(self, bug: Bug, outcome: str, reason: str, missing: list[str]
                     ) -> RuleResult:
        return RuleResult(
            decisions=(self.decision(bug, outcome, reason, TriageState.COMPLETE,
                                     missing=missing),),
            state=StateUpdate(TriageState.COMPLETE, reason))

    def _values(self, bug: Bug, missing: list[str], found: list[str] | None = None,
                **extra: object) -> dict[str, object]:
        return {
            "bug_id": bug.id,
            # What the bot understood, in the reporter's own terms (sanitised on render).
            "found": sanitize("Found in the report: " + ", ".join(
                sanitize(f, max_length=80) for f in found) + ".", max_length=800)
            if found else "",
            "missing": [{"label": trusted(ITEMS[m].label), "ask": trusted(ITEMS[m].ask),
                         "text": trusted(f"{ITEMS[m].label}: {ITEMS[m].ask}")}
                        for m in missing],
            **extra,
        }

    def _ask(self, bug: Bug, ctx: RuleContext, number: int, missing: list[str], why: str,
             found: list[str] | None = None) -> RuleResult:
        text = self.render("", **self._values(bug, missing, found, round=number,
                                              reminder_days=self.cfg.reminder_days,
                                              expire_days=self.cfg.expire_days))
        flags: tuple[FlagChange, ...] = ()
        if self.cfg.set_needinfo and not open_needinfo_for(bug, ctx, bug.creator):
            flags = (needinfo(ctx, bug.creator),)
        remove = tuple(t for t in (REMINDED_MARKER, EXPIRED_MARKER) if t in bug.whiteboard_tags())
        update = BugUpdate(comment=text, flags=flags, whiteboard_add=(NEEDINFO_MARKER,),
                           whiteboard_remove=remove)
        reason = f"{why}: ask for {', '.join(labels(missing))}"
        change = self.update(bug, f"round{number}", update, reason, recipient=bug.creator,
                             nag=True)
        return self._result(bug, "follow-up", reason, TriageState.NEEDS_INFO, change,
                            round=number, missing=missing)

    def _remind(self, bug: Bug, ctx: RuleContext, last: Round, missing: list[str]
                ) -> RuleResult:
        text = self.render("reminder", **self._values(
            bug, missing, round=last.number, days=(ctx.now - last.sent_at).days,
            expire_in=max(1, self.cfg.expire_days - (ctx.now - last.sent_at).days)))
        flags: tuple[FlagChange, ...] = ()
        if self.cfg.set_needinfo and not open_needinfo_for(bug, ctx, bug.creator):
            flags = (needinfo(ctx, bug.creator),)
        update = BugUpdate(comment=text, flags=flags, whiteboard_add=(REMINDED_MARKER,))
        reason = (f"no answer since the follow-up of {last.sent_at:%Y-%m-%d} "
                  f"({self.cfg.reminder_days} days): remind the reporter")
        change = self.update(bug, (f"round{last.number}", "reminder"), update, reason,
                             recipient=bug.creator, nag=True)
        return self._result(bug, "reminder", reason, TriageState.REMINDED, change,
                            round=last.number, missing=missing)

    def _expire(self, bug: Bug, ctx: RuleContext, last: Round, missing: list[str]
                ) -> RuleResult:
        wf = ctx.settings.bugzilla.workflow
        days = (ctx.now - last.sent_at).days
        text = self.render("expiry", **self._values(bug, missing, days=days,
                                                    closing=self.cfg.close_on_expiry))
        tags = bug.whiteboard_tags()
        update = BugUpdate(
            comment=text,
            status=wf.resolved if self.cfg.close_on_expiry else None,
            resolution=(self.cfg.expiry_resolution or wf.incomplete_resolution)
            if self.cfg.close_on_expiry else None,
            flags=tuple(open_needinfo_for(bug, ctx, bug.creator)),
            whiteboard_add=(EXPIRED_MARKER,),
            whiteboard_remove=tuple(t for t in (NEEDINFO_MARKER, REMINDED_MARKER) if t in tags),
        )
        reason = (f"no answer for {days} days since the follow-up of {last.sent_at:%Y-%m-%d} "
                  f"(expire_days = {self.cfg.expire_days})")
        change = self.update(bug, ("expire", f"round{last.number}"), update, reason,
                             recipient=bug.creator, nag=True)
        return self._result(bug, "expire", reason, TriageState.EXPIRED, change,
                            round=last.number, missing=missing)

    def _result(self, bug: Bug, outcome: str, reason: str, state: TriageState, change: Change,
                **details: object) -> RuleResult:
        decision: Decision = self.decision(bug, outcome, reason, state, key=change.key, **details)
        return RuleResult(decisions=(decision,), changes=(change,),
                          state=StateUpdate(state, reason))
