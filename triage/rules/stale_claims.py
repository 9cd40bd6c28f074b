"""Rule: a claim with no activity is nudged, then released.

*Activity* is anything a human does on the bug after the claim began: a comment, an attachment, a
field or flag change (clearing the nudge's needinfo counts). The bot's own actions never count.

1. ``nudge_days`` without activity: one comment asking whether the claimant is still on it, and a
   needinfo on them; the whiteboard gets ``[xt:claim-nudged]`` (the durable marker: a bot with an
   empty store does not nudge twice). State ``nudged``. Keyed by the date of the last activity, so
   a claim that goes quiet again after new activity gets a new nudge, and no other.
2. ``release_days`` after the nudge, still without activity: the bug is given back (assignee to the
   component's default, status to the confirmed status, the needinfo cleared) with a kind comment.
   State ``open-for-dev``. The release is not a nag (it changes who holds the bug; the claimant
   was warned), so the nag ledger's cooldown cannot hold it back forever.

Activity after the nudge voids it: the claim is simply active again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.claims.core import (
    ClaimsAwareRule,
    People,
    claim_in_bugzilla,
    default_assignee,
    last_activity,
)
from triage.markers import has_state_tag, state_tag
from triage.model import Bug, BugUpdate, TriageState
from triage.rules.base import (
    NOTHING,
    Days,
    RuleContext,
    RuleResult,
    RuleSettings,
    StateUpdate,
    needinfo,
    open_needinfo_for,
    sanitize,
)

NUDGED = state_tag("claim-nudged")


@dataclass
class StaleClaimsSettings(RuleSettings):
    nudge_days: Days = 30  # quiet days before the claimant is asked
    release_days: Days = 14  # quiet days after the nudge before the bug is given back


def nudge_time(bug: Bug, ctx: RuleContext) -> datetime | None:
    """When the bot added the nudge marker (from the history), else the state's date."""
    token = f"[{NUDGED}]"
    found: datetime | None = None
    for entry in bug.history:
        if not ctx.is_bot(entry.who):
            continue
        for change in entry.changes:
            if change.field_name in ("whiteboard", "status_whiteboard") and \
                    token in change.added and token not in change.removed:
                found = entry.when if found is None else max(found, entry.when)
    if found is None and ctx.state.state == TriageState.NUDGED and ctx.state.since:
        found = ctx.state.since
    if found is None and has_state_tag(bug, NUDGED):
        found = bug.last_change_time  # marker without history: the best date Bugzilla gives
    return found


class StaleClaimsRule(ClaimsAwareRule):
    name = "stale_claims"
    summary = "a quiet claim is nudged (comment + needinfo), then released"
    settings_class = StaleClaimsSettings
    settings: StaleClaimsSettings


    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        return bug.is_open and bug.status == ctx.settings.bugzilla.workflow.in_progress

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        people = People.of(self.claims, ctx.bot_accounts)
        claim = claim_in_bugzilla(bug, people, ctx.settings.bugzilla.workflow)
        if claim is None:
            return NOTHING
        activity = last_activity(bug, people, claim.since)
        nudged_at = nudge_time(bug, ctx)
        if nudged_at is not None and activity > nudged_at:
            nudged_at = None  # the claimant (or anyone) moved since: the nudge is answered
        if nudged_at is not None:
            if ctx.now - nudged_at >= timedelta(days=self.settings.release_days):
                return self._release(bug, ctx, people, claim.claimant, claim.since, activity,
                                     nudged_at)
            return RuleResult(decisions=(self.decision(
                bug, "nudged", f"{claim.claimant} was asked on {nudged_at:%Y-%m-%d}; released "
                f"after {self.settings.release_days} quiet days", TriageState.NUDGED),))
        quiet = ctx.now - activity
        if quiet < timedelta(days=self.settings.nudge_days):
            return NOTHING
        reason = (f"claimed by {claim.claimant} since {claim.since:%Y-%m-%d}, no activity since "
                  f"{activity:%Y-%m-%d} ({quiet.days} days, limit {self.settings.nudge_days})")
        text = self.render(
            "nudge", claimant=sanitize(claim.claimant), bug_id=bug.id,
            claimed_days=(ctx.now - claim.since).days, quiet_days=quiet.days,
            release_days=self.settings.release_days)
        update = BugUpdate(comment=text, flags=(needinfo(ctx, claim.claimant),),
                           whiteboard_add=(NUDGED,))
        change = self.update(bug, ("nudge", f"{activity:%Y%m%d}"), update, reason,
                             recipient=claim.claimant, nag=True)
        return RuleResult(
            decisions=(self.decision(bug, "nudge", reason, TriageState.NUDGED,
                                     claimant=claim.claimant),),
            changes=(change,),
            state=StateUpdate(TriageState.NUDGED, reason),
        )

    def _release(self, bug: Bug, ctx: RuleContext, people: People, claimant: str,
                 since: datetime, activity: datetime, nudged_at: datetime) -> RuleResult:
        target = default_assignee(bug, people)
        if target is None:
            reason = (f"claim by {claimant} is stale but there is no default assignee for "
                      f"{bug.product}/{bug.component}: set rules.claims.default_assignees")
            return RuleResult(decisions=(self.decision(bug, "cannot-release", reason),))
        quiet = (ctx.now - activity).days
        reason = (f"no activity by anyone since {activity:%Y-%m-%d} ({quiet} days), nudged on "
                  f"{nudged_at:%Y-%m-%d}: given back to {target}")
        text = self.render("release", claimant=sanitize(claimant), bug_id=bug.id,
                           quiet_days=quiet, nudged_days=(ctx.now - nudged_at).days)
        update = BugUpdate(comment=text, assigned_to=target,
                           status=ctx.settings.bugzilla.workflow.confirmed,
                           whiteboard_remove=(NUDGED,),
                           flags=tuple(open_needinfo_for(bug, ctx, claimant)))
        change = self.update(bug, ("release", f"{since:%Y%m%d%H%M%S}"), update, reason,
                             recipient=claimant, nag=False)
        return RuleResult(
            decisions=(self.decision(bug, "release", reason, TriageState.OPEN_FOR_DEV,
                                     claimant=claimant, released_to=target),),
            changes=(change,),
            state=StateUpdate(TriageState.OPEN_FOR_DEV, reason, clear_claim=True),
        )
