"""Rule: a developer taking a bug in Bugzilla is a claim.

Bugzilla shows a claim as the configured in-progress status (``IN_PROGRESS`` on 5.2, ``ASSIGNED``
on older installations) with a person as assignee (see :mod:`triage.claims.core` for who
counts as a person). This rule only *observes*: it moves the bug's triage state to ``claimed``
(with who and since when) when Bugzilla shows a claim, and back to ``open-for-dev`` when the claim
was given up in Bugzilla (assignee reset, or status back from in-progress). It writes nothing.

Claims by email (``#triage claim N``) are planned by :mod:`triage.commands.planner`, which writes
the same two fields; the next pass then sees the claim here like any other. Stale claims and fix
documentation are their own rules (``stale_claims``, ``fix_documentation``).
"""

from __future__ import annotations

from triage.claims.core import ClaimsSettings, People, claim_in_bugzilla, claims_settings
from triage.config import Settings
from triage.model import Bug, TriageState
from triage.rules.base import NOTHING, Rule, RuleContext, RuleResult, StateUpdate

CLAIMED_STATES = (TriageState.CLAIMED, TriageState.NUDGED)


class ClaimsRule(Rule):
    name = "claims"
    summary = "a person assigned with the in-progress status holds the bug (state claimed)"
    settings_class = ClaimsSettings
    settings: ClaimsSettings

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule:
        return cls(claims_settings(settings))

    def _people(self, ctx: RuleContext) -> People:
        return People.of(self.settings, ctx.bot_accounts)

    def applies_to(self, bug: Bug, ctx: RuleContext) -> bool:
        if not bug.is_open:
            return False
        return (bug.status == ctx.settings.bugzilla.workflow.in_progress
                or ctx.state.state in CLAIMED_STATES)

    def evaluate(self, bug: Bug, ctx: RuleContext) -> RuleResult:
        workflow = ctx.settings.bugzilla.workflow
        claim = claim_in_bugzilla(bug, self._people(ctx), workflow)
        state = ctx.state
        if claim is not None:
            if state.state in CLAIMED_STATES and state.claimed_by == claim.claimant:
                return NOTHING  # known claim: the stale-claims rule watches it
            reason = (f"assigned to {claim.claimant} with status {workflow.in_progress} "
                      f"since {claim.since:%Y-%m-%d}")
            return RuleResult(
                decisions=(self.decision(bug, "claimed", reason, TriageState.CLAIMED,
                                         claimed_by=claim.claimant,
                                         claimed_at=claim.since.isoformat()),),
                state=StateUpdate(TriageState.CLAIMED, reason, claimed_by=claim.claimant,
                                  claimed_at=claim.since),
            )
        if state.state in CLAIMED_STATES:
            if bug.status == workflow.in_progress:
                why = f"the assignee {bug.assigned_to or '(none)'} is not a person"
            else:
                why = f"the status is {bug.status}, not {workflow.in_progress}"
            reason = f"claim by {state.claimed_by or 'someone'} given up in Bugzilla: {why}"
            return RuleResult(
                decisions=(self.decision(bug, "unclaimed", reason, TriageState.OPEN_FOR_DEV,
                                         previous_claimant=state.claimed_by),),
                state=StateUpdate(TriageState.OPEN_FOR_DEV, reason, clear_claim=True),
            )
        # In progress with a non-person assignee: not a claim; say so once (the engine stores a
        # decision again only when its outcome or reason changes).
        return RuleResult(decisions=(self.decision(
            bug, "not-a-claim",
            f"status {bug.status} but the assignee {bug.assigned_to or '(none)'} is not a person",
        ),))
