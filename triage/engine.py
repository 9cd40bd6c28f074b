"""The triage engine: select → plan → nag ledger → change cap → apply or dry run.

The pure part (rule chains, command mails, the nag ledger over them) is :mod:`triage.plan`.
:class:`TriageEngine` does the I/O around it: picks the bugs (the queue, ``--bug`` ids, or the
daily pass over every open bug), refreshes them from the tracker in batches, loads states, the nag
ledger, applied keys and pending ``#triage`` command mails from the store, enforces the change cap
(the whole run aborts *before* any write when it plans more), applies through
:class:`triage.writes.Writer` (which keeps every write idempotent), and stores the run, the
decisions, the committed states and the ledger entries.

A unit's state transition is committed only when every change of that unit was applied (at once
when it has none), so a dry run never moves a bug to ``needs-info`` for a comment it did not
post, and a held-back reminder does not pretend to have reminded anyone. Command mails are
consumed only by a production pass that applied everything they lead to (the reply included), so
neither a dry run nor an SMTP outage loses a command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from triage import command_gate
from triage.adapters.tracker import Tracker, TrackerError
from triage.commands.planner import EventPlan
from triage.config import Settings
from triage.model import Bug, Decision, MailEvent, MailEventKind, TriageCommand, TriageState
from triage.nag import LedgerEntry, NagLedger, ledger_retention, recent_window
from triage.plan import (
    ALREADY_APPLIED,
    DONE_STATUSES,
    SUPPRESSED,
    Plan,
    PlannedChange,
    plan_mails,
    plan_pass,
)
from triage.rules import build_rules
from triage.rules.base import Rule, RuleContext, StateRecord
from triage.store import Store
from triage.store import actions as action_rows
from triage.store import bugs as bug_cache
from triage.store import decisions as decision_rows
from triage.store import nag as nag_rows
from triage.store import queue as queue_rows
from triage.store import states as state_rows
from triage.writes import Writer, draft_of

log = logging.getLogger(__name__)

__all__ = ["DEFERRED", "RunReport", "TriageEngine"]

# A write not attempted because the tracker went down earlier in the pass: still owed, so its bug
# stays queued and the next pass makes it.
DEFERRED = "deferred"


@dataclass
class RunReport:
    run_id: int
    production: bool
    plan: Plan
    change_cap: int
    aborted: bool = False
    abort_reason: str = ""
    missing: list[int] = field(default_factory=list)  # asked for, not in the store or Bugzilla
    selection: str = ""
    states_committed: int = 0
    outage: str = ""  # why the pass stopped writing early (the tracker went down), if it did
    reconciled: int = 0  # writes a crash or an outage left unconfirmed, confirmed at the start

    @property
    def written(self) -> list[PlannedChange]:
        return [c for c in self.plan.to_write if c.outcome in {"confirmed", "already-applied"}]

    @property
    def failed(self) -> list[PlannedChange]:
        return [c for c in self.plan.to_write if c.outcome in {"failed", "pending", DEFERRED}]

    def summary(self) -> dict[str, Any]:
        return {
            "selection": self.selection,
            "bugs": len(self.plan.bugs),
            "command_mails": len(self.plan.mails),
            "decisions": sum(len(b.decisions) for b in self.plan.bugs)
            + sum(len(m.decisions) for m in self.plan.mails),
            "planned": len(self.plan.to_write),
            "suppressed": len(self.plan.changes(SUPPRESSED)),
            "already_applied": len(self.plan.changes(ALREADY_APPLIED)),
            "written": len(self.written),
            "failed": len(self.failed),
            "change_cap": self.change_cap,
            "aborted": self.abort_reason,
            "missing": self.missing,
            "states_committed": self.states_committed,
            "outage": self.outage,
            "reconciled": self.reconciled,
        }


MailSender = Callable[[Any, str], str]


class TriageEngine:
    def __init__(self, settings: Settings, store: Store, tracker: Tracker | None, *,
                 rules: Sequence[Rule] | None = None, mail_sender: MailSender | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 refresh: bool = True) -> None:
        self.settings = settings
        self.store = store
        self.tracker = tracker
        self.rules = list(rules) if rules is not None else build_rules(settings)
        self.mail_sender = mail_sender
        self.clock = clock
        # Re-read the selected bugs from the tracker before deciding (batched); off for a
        # store-only dry run (the snapshot/embedded mode) and in benchmarks.
        self.refresh = refresh and tracker is not None
        self._fresh: dict[int, Bug] = {}  # bugs read from the tracker during this pass

    # -- selection --
    def _select(self, bug_ids: Sequence[int], all_open: bool) -> tuple[list[int], str]:
        if bug_ids:
            return list(dict.fromkeys(bug_ids)), "bugs given"
        with self.store.session() as s:
            if all_open:
                return bug_cache.open_bug_ids(s), "daily pass over every open bug"
            return queue_rows.queued_bug_ids(s), "queued bugs"

    def _load_bugs(self, ids: list[int]) -> tuple[list[Bug], list[int]]:
        found: dict[int, Bug] = {}
        if self.refresh and ids:
            assert self.tracker is not None
            try:
                batch = self.tracker.get_bugs(ids, comments=True, history=True, attachments=True)
            except TrackerError as exc:
                # Deciding on the cached copy is safe: every write is keyed and marker-checked.
                log.warning("refreshing %d bugs failed (%s): using the store's copies", len(ids),
                            exc)
            else:
                with self.store.session() as s:
                    for bug in batch.bugs:
                        bug_cache.upsert_bug(s, bug)
                        found[bug.id] = bug
                    for missing in batch.missing:
                        bug_cache.mark_unavailable(s, missing, "not returned by the tracker")
        self._fresh.update(found)
        with self.store.session() as s:
            found.update(bug_cache.cached_bugs(s, [i for i in ids if i not in found]))
        return [found[i] for i in ids if i in found], [i for i in ids if i not in found]

    def _pending_events(self) -> tuple[list[tuple[int, MailEvent]], list[int]]:
        """Pending command mails (oldest first) and the ids of every other pending event."""
        from triage.ingest import pending_events  # the mail side's reader of mail_events

        commands: list[tuple[int, MailEvent]] = []
        others: list[int] = []
        with self.store.session() as s:
            for row_id, event in pending_events(s, limit=10_000):
                if event.kind == MailEventKind.COMMAND and event.commands:
                    commands.append((row_id, event))
                else:
                    others.append(row_id)
        return commands, others

    def _known_accounts(self) -> frozenset[str]:
        """Reporters and assignees the bug cache knows: the email commands' notion of "a
        Bugzilla account" reaches beyond the bugs of this pass (one query, two columns)."""
        with self.store.session() as s:
            return bug_cache.known_accounts(s)

    def _groups(self, bugs: Sequence[Bug], states: Mapping[int, StateRecord]
                ) -> dict[str, tuple[str, ...]]:
        if not self.settings.orgs.groups or self.tracker is None:
            return {}
        # Only for bugs the corporate filter has not decided yet: a daily pass must not look up
        # every reporter of every open (or excluded) bug again.
        accounts = sorted({b.creator.lower() for b in bugs
                           if states[b.id].state == TriageState.NEW})
        out: dict[str, tuple[str, ...]] = {}
        for account in accounts:  # one lookup per distinct reporter, not per bug
            try:
                out[account] = self.tracker.user_groups(account)
            except TrackerError as exc:
                log.warning("group lookup for a reporter failed: %s", exc)
        return out

    # -- the run --
    def run(self, *, bug_ids: Sequence[int] = (), all_open: bool = False,
            production: bool = False, change_cap: int | None = None) -> RunReport:
        settings = self.settings
        production = settings.writes_enabled(production)
        cap = settings.safety.change_cap if change_cap is None else change_cap
        now = self.clock()
        self._fresh = {}
        writer = self._writer(production)
        reconciled = self._reconcile(writer)
        command_events, other_events = self._pending_events()
        auth = None
        if command_events:
            auth = command_gate.load_auth_inputs(self.store, settings, command_events, now)
        named = sorted({c.bug_id for _, e in command_events for c in e.commands
                        if c.bug_id > 0} | set(command_gate.confirmed_bug_ids(
                            auth, command_events) if auth else ()))
        commands_by_bug: dict[int, list[TriageCommand]] = {}
        for _, event in command_events:
            for cmd in event.commands:
                if cmd.bug_id > 0:
                    commands_by_bug.setdefault(cmd.bug_id, []).append(cmd)
        ids, selection = self._select(bug_ids, all_open)
        if not bug_ids:
            ids = list(dict.fromkeys([*ids, *named]))
        with self.store.session() as s:
            run_id = decision_rows.start_run(s, "triage", production=production, now=now)
        bugs, missing = self._load_bugs(ids)
        extra_ids = [i for i in named if i not in {b.id for b in bugs}]
        extra, _ = self._load_bugs(extra_ids) if bug_ids and extra_ids else ([], [])
        by_id = {b.id: b for b in [*bugs, *extra]}
        ledger, states, applied = self._load_memory(list(by_id.values()), now)
        groups = self._groups(bugs, states)

        def context(bug: Bug) -> RuleContext:
            return RuleContext(now=now, settings=settings, state=states[bug.id], groups=groups,
                               commands=tuple(commands_by_bug.get(bug.id, ())),
                               applied_keys=applied.get(bug.id, frozenset()))

        plan, entries = plan_pass(bugs, self.rules, context, ledger, applied)
        event_plans: list[EventPlan] = []
        if command_events:
            from triage.claims.core import claims_settings, known_accounts
            from triage.commands.planner import plan_mail_commands

            claims = claims_settings(settings)
            event_plans = plan_mail_commands(
                command_events, by_id, states, settings, now,
                applied_keys=frozenset().union(*applied.values()) if applied else frozenset(),
                accounts=self._known_accounts() | known_accounts(by_id.values(), claims),
                claims=claims, auth=auth)
            plan.mails, mail_entries = plan_mails(event_plans, by_id, ledger, now, applied)
            entries.extend(mail_entries)
        report = RunReport(run_id, production, plan, cap, missing=missing, selection=selection,
                           reconciled=reconciled)
        if len(plan.to_write) > cap:
            report.aborted = True
            report.abort_reason = (f"the plan has {len(plan.to_write)} writes, more than the "
                                   f"change cap of {cap}: nothing was written")
        if not report.aborted:
            if production:
                command_gate.record_issued(self.store, event_plans)  # before the mail is sent
            report.outage = self._apply(plan, run_id, writer, by_id)
            if production:
                command_gate.record_applied(self.store, event_plans,
                                            {m.row_id for m in plan.mails if m.applied}, now)
        consumed: list[int] = []
        if production and not report.aborted:
            consumed = other_events + [m.row_id for m in plan.mails if m.applied]
        self._record(report, entries, now, consumed)
        return report

    def _load_memory(self, bugs: Sequence[Bug], now: datetime
                     ) -> tuple[NagLedger, dict[int, StateRecord], dict[int, frozenset[str]]]:
        ids = [b.id for b in bugs]
        with self.store.session() as s:
            entries = nag_rows.entries_since(s, now - recent_window(self.settings.nag))
            states = state_rows.get_states(s, ids)
            applied = action_rows.applied_keys(s, ids)
        general = self.settings.general
        ledger = NagLedger.from_entries(self.settings.nag, [*general.bot_accounts,
                                                            general.bot_email], entries,
                                        self.settings.bugzilla.workflow.needinfo_flag)
        return ledger, states, applied

    def _writer(self, production: bool) -> Writer | None:
        """The pass's writer (production only): one per pass, so the outage breaker and the
        bugs read for the writes span the whole pass."""
        if not production:
            return None
        if self.tracker is None:
            raise TrackerError("a production run needs a tracker")
        return Writer(self.store, self.tracker, production=True,
                      kill_switch=lambda: self.settings.safety.kill_switch,
                      mail_sender=self.mail_sender)

    def _reconcile(self, writer: Writer | None) -> int:
        """Before planning, settle what an earlier pass left unconfirmed: a write Bugzilla
        applied without answering is confirmed by its marker (so it is not planned again), one
        that never arrived stays owed and is planned and sent by this pass."""
        if writer is None or self.settings.safety.kill_switch:
            return 0
        outcomes = writer.reconcile()
        if writer.outage:
            log.warning("Bugzilla is unreachable: reconciling stopped, writes stay owed")
        return sum(1 for o in outcomes if o.status == "already-applied")

    def _apply(self, plan: Plan, run_id: int, writer: Writer | None, bugs: Mapping[int, Bug]
               ) -> str:
        """Every write goes through the Writer (idempotency key recorded before sending, marker
        checked, confirmed after). Returns why writing stopped early ("" when it did not)."""
        if writer is None:
            self._record_dry_run(plan, run_id)
            return ""
        writer.run_id = run_id
        # The bugs about to be written, as read by this pass or else in one batched request:
        # the marker check and whiteboard edits need no read per write.
        writer.read_for_writes(sorted({pc.change.bug_id for pc in plan.to_write
                                       if pc.change.bug_id is not None
                                       and pc.change.update is not None
                                       and pc.change.bug_id not in self._fresh}))
        touched: set[int] = set()
        outage = ""
        for pc in plan.to_write:
            if writer.outage:
                outage = outage or (f"Bugzilla unreachable after {writer.unreachable_in_a_row} "
                                    "consecutive connection failures: the remaining writes "
                                    "stay queued")
                pc.outcome, pc.error = DEFERRED, "not attempted: Bugzilla is unreachable"
                continue
            bug_id = pc.change.bug_id
            current = self._fresh.pop(bug_id, None) if bug_id is not None else None
            outcome = writer.apply(pc.change, current=current)
            pc.outcome, pc.error = outcome.status, outcome.error
            if bug_id is not None and outcome.sent and pc.change.update is not None:
                touched.add(bug_id)
        if outage:
            log.error("%s", outage)
        if touched and self.refresh and not writer.outage:
            self._cache_written(sorted(touched), bugs)
        return outage

    def _cache_written(self, ids: list[int], before: Mapping[int, Bug]) -> None:
        """Keep the cache in step with what was just written, so the next dry run (which may
        not refresh) plans from the bugs as they are now. Fields and comments are what the
        writes changed: they are read again (one batched read), while history and attachments
        are kept from this pass's copy (the next refresh brings the bot's own history entries),
        which saves two requests a pass."""
        assert self.tracker is not None
        try:
            batch = self.tracker.get_bugs(ids, comments=True)
        except TrackerError as exc:
            log.warning("re-reading %d written bugs failed (%s): the next sync does", len(ids),
                        exc)
            return
        with self.store.session() as s:
            for bug in batch.bugs:
                old = before.get(bug.id)
                if old is not None:
                    bug = replace(bug, history=old.history, attachments=old.attachments)
                bug_cache.upsert_bug(s, bug)

    def _record_dry_run(self, plan: Plan, run_id: int) -> None:
        """A dry run's plan as ``dry-run`` rows of the action ledger (as the Writer's dry run
        records them), all in one transaction."""
        for pc in plan.to_write:
            pc.outcome = "dry-run"
        with self.store.session() as s:
            action_rows.record_dry_runs(s, [draft_of(pc.change) for pc in plan.to_write],
                                        run_id=run_id, now=self.clock())

    def _record(self, report: RunReport, entries: list[LedgerEntry], now: datetime,
                consumed_events: list[int]) -> None:
        plan = report.plan
        decisions: list[tuple[Decision, bool]] = []
        applied_keys = {c.change.key for c in plan.changes() if c.outcome in DONE_STATUSES}
        records: dict[int, StateRecord] = {}
        with self.store.session() as s:
            latest = decision_rows.latest_decisions(s, [b.bug.id for b in plan.bugs])
            for bp in plan.bugs:
                record = bp.start
                for pr in bp.results:
                    # Aborted or dry run: changes have no done outcome, so only results
                    # without changes (pure observations) commit their state.
                    committed = pr.result.state is not None and pr.applied
                    if committed and pr.result.state is not None:
                        record = pr.result.state.apply_to(record, now)
                    for d in pr.result.decisions:
                        fresh = latest.get((d.bug_id, d.rule)) != (d.outcome, d.reason)
                        if fresh or committed or pr.changes:
                            decisions.append((d, committed))
                    decisions.extend(_held_back(pr.changes))
                if record != bp.start:
                    records[bp.bug.id] = record
            for mp in plan.mails:
                committed = mp.applied
                decisions.extend((d, committed and d.bug_id in mp.states) for d in mp.decisions)
                decisions.extend(_held_back(mp.changes))
                if not committed:
                    continue
                for bug_id, update in mp.states.items():
                    base = records.get(bug_id) or state_rows.get_state(s, bug_id)
                    records[bug_id] = update.apply_to(base, now)
            for record in records.values():
                state_rows.save_state(s, record, now)
            report.states_committed = len(records)
            decision_rows.save_decisions(s, report.run_id, decisions, now)
            nag_rows.record(s, [e for e in entries if e.action_key in applied_keys])
            if report.production:
                # Entries past every cooldown hold nothing back: the table stays small.
                nag_rows.prune(s, now - ledger_retention(self.settings.nag))
            if consumed_events:
                from triage.ingest import mark_events_consumed

                mark_events_consumed(s, consumed_events)
            if report.production and not report.aborted:
                # A bug leaves the queue only when every write planned for it is confirmed: a
                # write that failed, is pending or was deferred by an outage keeps it (or puts
                # it) in the queue, so the next queued pass makes it.
                owed = {c.change.bug_id for c in report.failed if c.change.bug_id is not None}
                done = [b.bug.id for b in plan.bugs if b.bug.id not in owed] + report.missing
                queue_rows.dequeue(s, done, queued_before=now)
                queue_rows.enqueue(s, {b: "a write is still owed" for b in sorted(owed)}, now)
            outcome = "aborted" if report.aborted else (
                "failed" if report.failed else "ok")
            decision_rows.finish_run(s, report.run_id, outcome, report.summary(), now)


def _held_back(changes: Iterable[PlannedChange]) -> list[tuple[Decision, bool]]:
    """The nag ledger's holds as decisions, so ``explain`` shows why nothing was written."""
    return [(Decision(bug_id=pc.change.bug_id or 0, rule="nag-ledger", outcome="suppressed",
                      reason=pc.why, details={"key": pc.change.key, "rule": pc.change.rule}),
             False) for pc in changes if pc.status == SUPPRESSED]

