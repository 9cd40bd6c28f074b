"""Rule ``review``: complete community bugs go to a reviewer, whose verdict opens or closes them.

Queue: a ``complete`` bug gets the review marker, configurable as a keyword (``mode =
"keyword"``, the reviewer is CC'd) or a flag request (``mode = "flag"``, ``<flag>?`` for the
reviewer), plus the whiteboard tag ``[xt:review]``; the reporter's needinfo that the bot set is
cleared, and (by default) the reporter is told in a short comment (``review.j2``). State
``in-review``.

Verdict, as seen in Bugzilla: flag ``+`` / ``-`` (flag mode) or the accept / reject keyword
(keyword mode). With ``reviewers`` set, only those accounts' verdicts count. *Accept*: the queue
marker goes, ``[xt:open-for-dev]`` comes, an unconfirmed bug is confirmed; state ``open-for-dev``.
*Reject*: the bug is resolved (``reject_resolution``) with a kind comment (``review_rejected.j2``);
state ``rejected``. The email path (``#triage review accept|reject 1234``, the commands rule) calls
:func:`accept` / :func:`reject` here, which build the same changes under the same keys, so a
verdict given both ways is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triage.claims.core import taken_in_bugzilla
from triage.config import Settings
from triage.markers import state_tag
from triage.model import Bug, BugUpdate, FlagChange, TriageState
from triage.rules.base import (
    NOTHING,
    Rule,
    RuleContext,
    RuleResult,
    RuleSettings,
    StateUpdate,
    parse_rule_settings,
    sanitize,
)
from triage.rules.followup import NEEDINFO_MARKER, REMINDED_MARKER

REVIEW_MARKER = state_tag("review")
OPEN_MARKER = state_tag("open-for-dev")
REJECTED_MARKER = state_tag("rejected")
PRE_REVIEW = (TriageState.NEW, TriageState.NEEDS_INFO, TriageState.REMINDED,
              TriageState.COMPLETE)


@dataclass
class ReviewSettings(RuleSettings):
    mode: str = "keyword"  # keyword | flag
    keyword: str = "triage-review"  # keyword mode: the queue
    accept_keyword: str = "triaged"  # keyword mode: the reviewer's accept
    reject_keyword: str = "triage-rejected"  # keyword mode: the reviewer's reject
    flag: str = "triage-review"  # flag mode: ? queued, + accepted, - rejected
    reviewer: str = ""  # asked for review (flag requestee / CC); "" = no one in particular
    reviewers: list[str] = field(default_factory=list)  # whose verdicts count; [] = any human
    reject_resolution: str = "INVALID"
    confirm_on_accept: bool = True  # an UNCONFIRMED bug becomes workflow.confirmed on accept
    review_bot_bugs: bool = False  # bugs the bot filed (CI failures) skip review when false
    comment_on_queue: bool = True  # tell the reporter the report is complete

    def problems(self) -> list[tuple[str, str]]:
        if self.mode not in ("keyword", "flag"):
            return [("mode", "must be keyword or flag")]
        if not self.reject_resolution:
            return [("reject_resolution", "must not be empty")]
        return []


_PARSED: dict[tuple[int, str], ReviewSettings] = {}


def review_settings(settings: Settings) -> ReviewSettings:
    """``[rules.review]`` parsed, once per settings object and table (asked for per bug)."""
    table = settings.rules.get("review", {})
    key = (id(settings), repr(table))
    parsed = _PARSED.get(key)
    if parsed is None:
        built = parse_rule_settings("review", ReviewSettings, table)
        assert isinstance(built, ReviewSettings)
        if len(_PARSED) > 64:
            _PARSED.clear()
        parsed = _PARSED[key] = built
    return parsed


def is_reviewer(cfg: ReviewSettings, ctx: RuleContext, account: str) -> bool:
    if ctx.is_bot(account):
        return False
    if not cfg.reviewers:
        return True
    return account.lower() in {r.lower() for r in cfg.reviewers}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    by: str
    how: str


def _keyword_added_by(bug: Bug, keyword: str) -> str:
    for entry in reversed(bug.history):
        for ch in entry.changes:
            if ch.field_name == "keywords" and keyword in [k.strip() for k in ch.added.split(",")]:
                return entry.who
    return ""


def verdict_in_bugzilla(bug: Bug, cfg: ReviewSettings) -> Verdict | None:
    if cfg.mode == "flag":
        for f in bug.flags_named(cfg.flag):
            if f.status in "+-" and f.status:
                return Verdict(f.status == "+", f.setter, f"flag {cfg.flag}{f.status}")
        return None
    if cfg.accept_keyword in bug.keywords:
        return Verdict(True, _keyword_added_by(bug, cfg.accept_keyword),
                       f"keyword {cfg.accept_keyword}")
    if cfg.reject_keyword in bug.keywords:
        return Verdict(False, _keyword_added_by(bug, cfg.reject_keyword),
                       f"keyword {cfg.reject_keyword}")
    return None


def _queue_marks_present(bug: Bug, cfg: ReviewSettings) -> bool:
    if REVIEW_MARKER in bug.whiteboard_tags():
        return True
    if cfg.mode == "flag":
        return any(f.status == "?" for f in bug.flags_named(cfg.flag))
    return cfg.keyword in bug.keywords


def _unmark(bug: Bug, cfg: ReviewSettings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(keywords_remove, whiteboard_remove) that take a bug out of the review queue."""
    keywords = (cfg.keyword,) if cfg.mode == "keyword" and cfg.keyword in bug.keywords else ()
    return keywords, tuple(t for t in (REVIEW_MARKER,) if t in bug.whiteboard_tags())


def accept(bug: Bug, ctx: RuleContext, reviewer: str, via: str) -> RuleResult:
    """The reviewer accepted (``via``: "flag triage-review+", "email command", ...)."""
    cfg = review_settings(ctx.settings)
    wf = ctx.settings.bugzilla.workflow
    status = wf.confirmed if cfg.confirm_on_accept and bug.status == wf.unconfirmed else None
    keywords, tags = _unmark(bug, cfg)
    update = BugUpdate(status=status, whiteboard_add=(OPEN_MARKER,), keywords_remove=keywords,
                       whiteboard_remove=tags)
    reason = f"accepted by {reviewer or 'a reviewer'} ({via}): open for developers"
    change = ReviewRule(cfg).update(bug, "accept", update, reason)
    return RuleResult(
        decisions=(ReviewRule(cfg).decision(bug, "accepted", reason, TriageState.OPEN_FOR_DEV,
                                            reviewer=reviewer, via=via, key=change.key),),
        changes=(change,), state=StateUpdate(TriageState.OPEN_FOR_DEV, reason))


def reject(bug: Bug, ctx: RuleContext, reviewer: str, via: str, reason_text: str = ""
           ) -> RuleResult:
    """The reviewer rejected: close the bug kindly (unless a human already closed it)."""
    cfg = review_settings(ctx.settings)
    rule = ReviewRule(cfg)
    reason = f"rejected by {reviewer or 'a reviewer'} ({via})"
    if not bug.is_open:
        return RuleResult(decisions=(rule.decision(bug, "rejected", reason + "; already closed",
                                                   TriageState.REJECTED, reviewer=reviewer),),
                          state=StateUpdate(TriageState.REJECTED, reason))
    text = rule.render("rejected", bug_id=bug.id, why=sanitize(reason_text, max_length=500),
                       resolution=sanitize(cfg.reject_resolution))
    keywords, tags = _unmark(bug, cfg)
    update = BugUpdate(comment=text, status=ctx.settings.bugzilla.workflow.resolved,
                       resolution=cfg.reject_resolution, whiteboard_add=(REJECTED_MARKER,),
                       flags=_bot_needinfos(bug, ctx), keywords_remove=keywords,
                       whiteboard_remove=tags)
    change = rule.update(bug, "reject", update, reason, recipient=bug.creator)
    return RuleResult(
        decisions=(rule.decision(bug, "rejected", reason, TriageState.REJECTED,
                                 reviewer=reviewer, via=via, key=change.key),),
        changes=(change,), state=StateUpdate(TriageState.REJECTED, reason))


def _bot_needinfos(bug: Bug, ctx: RuleContext) -> tuple[FlagChange, ...]:
    """Pending needinfo flags the bot set: cleared once they are moot."""
    name = ctx.settings.bugzilla.workflow.needinfo_flag
    return tuple(FlagChange(name=name, status="X", requestee=f.requestee, id=f.id)
                 for f in bug.flags_named(name) if f.status == "?" and ctx.is_bot(f.setter))


def _reviewer_comment(bug: Bug, who: str) -> str:
    for c in sorted(bug.comments, key=lambda c: c.count, reverse=True):
        if who and c.author.lower() == who.lower():
            return c.text
    return ""


class ReviewRule(Rule):
    name = "review"
    summary = "queues complete bugs for the reviewer; applies accept / reject"
    settings_class = ReviewSettings

    @property
    def cfg(self) -> ReviewSettings:
        assert isinstance(self.settings, ReviewSettings)
        return self.settings

    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        state = ctx.state.state
        return state in (TriageState.COMPLETE, TriageState.IN_REVIEW) or (
            not bug.is_open and state in PRE_REVIEW)

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        state = ctx.state.state
        if not bug.is_open:
            closed = f"closed in Bugzilla ({bug.status} {bug.resolution})".rstrip()
            final = TriageState.REJECTED if state == TriageState.IN_REVIEW else TriageState.CLOSED
            return RuleResult(decisions=(self.decision(bug, "closed", closed, final),),
                              state=StateUpdate(final, closed))
        if state == TriageState.COMPLETE:
            return self._queue(bug, ctx)
        return self._await(bug, ctx)

    def _queue(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        cfg = self.cfg
        if ctx.is_bot(bug.creator) and not cfg.review_bot_bugs:
            reason = "filed by the bot with its evidence: open for developers without review"
            return RuleResult(decisions=(self.decision(bug, "open-for-dev", reason,
                                                       TriageState.OPEN_FOR_DEV),),
                              state=StateUpdate(TriageState.OPEN_FOR_DEV, reason))
        verdict = verdict_in_bugzilla(bug, cfg)
        if verdict is not None and is_reviewer(cfg, ctx, verdict.by):
            return self._apply_verdict(bug, ctx, verdict)
        taken = taken_in_bugzilla(bug, ctx)
        if taken:
            # A developer already works on it: asking the reviewer whether it needs developer
            # attention would be noise. The claims rule records the claim next.
            reason = f"already taken in Bugzilla by {taken}: no review needed"
            return RuleResult(decisions=(self.decision(bug, "open-for-dev", reason,
                                                       TriageState.OPEN_FOR_DEV),),
                              state=StateUpdate(TriageState.OPEN_FOR_DEV, reason))
        if _queue_marks_present(bug, cfg):
            reason = "already in the review queue in Bugzilla"
            return RuleResult(decisions=(self.decision(bug, "in-review", reason,
                                                       TriageState.IN_REVIEW),),
                              state=StateUpdate(TriageState.IN_REVIEW, reason))
        tags = bug.whiteboard_tags()
        flags = list(_bot_needinfos(bug, ctx))
        if cfg.mode == "flag":
            flags.append(FlagChange(name=cfg.flag, status="?", requestee=cfg.reviewer or None))
        comment = self.render("", bug_id=bug.id) if cfg.comment_on_queue else None
        update = BugUpdate(
            comment=comment,
            keywords_add=(cfg.keyword,) if cfg.mode == "keyword" else (),
            whiteboard_add=(REVIEW_MARKER,),
            whiteboard_remove=tuple(t for t in (NEEDINFO_MARKER, REMINDED_MARKER) if t in tags),
            flags=tuple(flags),
            cc_add=(cfg.reviewer,) if cfg.reviewer and cfg.reviewer not in bug.cc else (),
        )
        reason = "the report is complete: queue it for review"
        change = self.update(bug, "queue", update, reason, recipient=cfg.reviewer or None)
        return RuleResult(
            decisions=(self.decision(bug, "queued", reason, TriageState.IN_REVIEW,
                                     key=change.key, reviewer=cfg.reviewer),),
            changes=(change,), state=StateUpdate(TriageState.IN_REVIEW, reason))

    def _await(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        verdict = verdict_in_bugzilla(bug, self.cfg)
        if verdict is None:
            return RuleResult(decisions=(self.decision(
                bug, "waiting", "waiting for the reviewer", TriageState.IN_REVIEW),))
        if not is_reviewer(self.cfg, ctx, verdict.by):
            why = (f"{verdict.how} set by {verdict.by or 'an unknown account'}, who is not in "
                   "rules.review.reviewers: ignored")
            return RuleResult(decisions=(self.decision(bug, "ignored-verdict", why),))
        return self._apply_verdict(bug, ctx, verdict)

    def _apply_verdict(self, bug: Bug, ctx: RuleContext, verdict: Verdict) -> RuleResult:
        if verdict.accepted:
            return accept(bug, ctx, verdict.by, verdict.how)
        return reject(bug, ctx, verdict.by, verdict.how, _reviewer_comment(bug, verdict.by))


__all__ = ["NOTHING", "ReviewRule", "ReviewSettings", "accept", "is_reviewer", "reject",
           "review_settings", "verdict_in_bugzilla"]
