"""The pure core of a triage pass: rule chains, command mails, and the nag ledger over them.

No I/O here (the engine, :mod:`triage.engine`, loads and stores): bugs, contexts and the rules in;
a :class:`Plan` out: every rule's decisions, the changes it wants, and what the nag ledger kept or
held back and why. The benchmark times this; the 30-day simulation drives it through the engine.

A unit of changes (one rule's result on one bug, or everything one command mail leads to) is all or
nothing: one change held back holds back the others of the unit and its state transitions, so a
bug is never left half-updated by the bot and a state never claims a write that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from triage.commands.planner import EventPlan
from triage.model import Bug, Change, Decision
from triage.nag import LedgerEntry, NagLedger, Verdict
from triage.rules.base import Rule, RuleContext, RuleResult, StateRecord, StateUpdate

# Change statuses in a plan.
WRITE = "write"  # passes the ledger; counts against the cap
SUPPRESSED = "suppressed"  # the nag ledger said no (reason given)
ALREADY_APPLIED = "already-applied"  # its key is sent/confirmed already: nothing to do
DONE_STATUSES = {"confirmed", "already-applied", "already-done"}


@dataclass
class PlannedChange:
    change: Change
    status: str
    why: str = ""
    outcome: str = ""  # the Writer's status once applied (confirmed, dry-run, failed, ...)
    error: str = ""


@dataclass
class PlannedResult:
    rule: str
    result: RuleResult
    changes: list[PlannedChange]

    @property
    def applied(self) -> bool:
        """Every change of the result went out (or there were none)."""
        return all(c.status == ALREADY_APPLIED or c.outcome in DONE_STATUSES
                   for c in self.changes)


@dataclass
class BugPlan:
    bug: Bug
    start: StateRecord
    results: list[PlannedResult] = field(default_factory=list)
    projected: StateRecord | None = None

    @property
    def decisions(self) -> list[Decision]:
        return [d for r in self.results for d in r.result.decisions]

    @property
    def changes(self) -> list[PlannedChange]:
        return [c for r in self.results for c in r.changes]


@dataclass
class Plan:
    bugs: list[BugPlan]
    mails: list[MailPlan] = field(default_factory=list)

    def changes(self, status: str | None = None) -> list[PlannedChange]:
        every = [c for b in self.bugs for c in b.changes] + [c for m in self.mails
                                                             for c in m.changes]
        return [c for c in every if status is None or c.status == status]

    @property
    def to_write(self) -> list[PlannedChange]:
        return self.changes(WRITE)


def evaluate_bug(bug: Bug, rules: Sequence[Rule], ctx: RuleContext) -> BugPlan:
    """Run the chain on one bug (pure). Later rules see the state earlier ones projected."""
    plan = BugPlan(bug=bug, start=ctx.state)
    state = ctx.state
    earlier: dict[str, tuple[Decision, ...]] = {}
    # One context per state change, not per rule (a rule sees ``earlier`` grow as the chain runs;
    # rules run one after the other, so that is the chain's view at the time it is asked).
    rctx = ctx.with_state(state, earlier)
    for rule in rules:
        if rctx.state is not state:
            rctx = ctx.with_state(state, earlier)
        if not rule.applies_to(bug, rctx):
            continue
        result = rule.evaluate(bug, rctx)
        if not result:
            if result.stop:
                break
            continue
        plan.results.append(PlannedResult(rule.name, result,
                                          [PlannedChange(c, WRITE) for c in result.changes]))
        earlier[rule.name] = result.decisions
        if result.state is not None:
            state = result.state.apply_to(state, ctx.now)
        if result.stop:
            break
    plan.projected = state
    return plan


def apply_ledger(plan: BugPlan, ledger: NagLedger, now: datetime,
                 applied_keys: frozenset[str] = frozenset()) -> list[LedgerEntry]:
    """Mark each change write / suppressed / already-applied, one result at a time; returns the
    ledger entries the kept nag changes would create."""
    entries: list[LedgerEntry] = []
    for result in plan.results:
        entries.extend(ledger_over_unit(result.changes, {plan.bug.id: plan.bug}, ledger, now,
                                        applied_keys))
    return entries


def plan_pass(bugs: Iterable[Bug], rules: Sequence[Rule], contexts: Callable[[Bug], RuleContext],
              ledger: NagLedger, applied_keys: Mapping[int, frozenset[str]] | None = None
              ) -> tuple[Plan, list[LedgerEntry]]:
    """The pure core of a pass: evaluate every bug, then the nag ledger over the result."""
    plans: list[BugPlan] = []
    entries: list[LedgerEntry] = []
    for bug in bugs:
        ctx = contexts(bug)
        bp = evaluate_bug(bug, rules, ctx)
        entries.extend(apply_ledger(bp, ledger, ctx.now, (applied_keys or {}).get(bug.id,
                                                                                   frozenset())))
        plans.append(bp)
    return Plan(plans), entries



# --- command mails ------------------------------------------------------------------------------


@dataclass
class MailPlan:
    """Everything one ``#triage`` command mail leads to (``triage.commands.planner.EventPlan``):
    Bugzilla writes for its commands and the one reply; applied all or nothing like a result."""

    row_id: int
    message_id: str
    decisions: tuple[Decision, ...]
    states: Mapping[int, StateUpdate]
    changes: list[PlannedChange]
    ignored: str = ""

    @property
    def applied(self) -> bool:
        return all(c.status == ALREADY_APPLIED or c.outcome in DONE_STATUSES
                   for c in self.changes)


def ledger_over_unit(changes: Sequence[PlannedChange], bugs: Mapping[int, Bug],
                     ledger: NagLedger, now: datetime, applied_keys: frozenset[str]
                     ) -> list[LedgerEntry]:
    """The nag ledger over one all-or-nothing unit of changes."""
    verdicts: list[Verdict | None] = []
    for pc in changes:
        if pc.change.key in applied_keys:
            pc.status = ALREADY_APPLIED
            verdicts.append(None)
            continue
        bug = bugs.get(pc.change.bug_id) if pc.change.bug_id is not None else None
        verdicts.append(ledger.check(pc.change, bug, now))
    refused = next((v for v in verdicts if v is not None and not v.allowed), None)
    entries: list[LedgerEntry] = []
    for pc, v in zip(changes, verdicts, strict=True):
        if v is None:
            continue
        if refused is not None:
            pc.status = SUPPRESSED
            pc.why = refused.reason if v.allowed else v.reason
            continue
        entry = ledger.note(pc.change, now)
        if entry is not None:
            entries.append(entry)
    return entries


def plan_mails(event_plans: Iterable[EventPlan], bugs: Mapping[int, Bug], ledger: NagLedger,
               now: datetime, applied_keys: Mapping[int, frozenset[str]]
               ) -> tuple[list[MailPlan], list[LedgerEntry]]:
    """``EventPlan`` s (from :func:`triage.commands.planner.plan_mail_commands`) as plan units."""
    out: list[MailPlan] = []
    entries: list[LedgerEntry] = []
    for ep in event_plans:
        changes = [PlannedChange(c, WRITE) for c in ep.changes]
        keys = frozenset().union(*(applied_keys.get(c.change.bug_id or 0, frozenset())
                                   for c in changes)) if changes else frozenset()
        entries.extend(ledger_over_unit(changes, bugs, ledger, now, keys))
        out.append(MailPlan(ep.row_id, ep.message_id, tuple(ep.decisions), dict(ep.states),
                            changes, ep.ignored))
    return out, entries
