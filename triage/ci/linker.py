"""CiLinker: one CI linking pass through the engine's write path.

history → grouping → planner (pure), then the same path every triage write takes: the nag
ledger (``plan.ledger_over_unit``), the change cap (``safety.change_cap``: a pass planning more
writes writes none), and :class:`triage.writes.Writer` (idempotency key recorded before,
confirmed after, marker in Bugzilla; dry run unless production). The store then keeps each
signature's state; a link (bug id, cells reported) is kept only once its write is applied, so
a dry run never hides a write from the production run after it.

Retrying a newly failing cell is the service's job (not the master's scheduler): the retry
function forces that one cell again through the farm's force scheduler, once per failing build.
It is a request to our own farm, not a Bugzilla write, so a dry run retries too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from triage.adapters.tracker import Tracker, TrackerError
from triage.ci.bisect import report as bisect_report
from triage.ci.bisect.report import FixNote
from triage.ci.bisect.trigger import Wanted, wanted_bisections
from triage.ci.grouping import SignatureGroup, group
from triage.ci.history import AWAITING_RETRY, CellVerdict, judge_all
from triage.ci.model import CellResult
from triage.ci.owners import OwnerReport, mail_worker_owners
from triage.ci.planner import FAILING, PASSING, SignaturePlan, plan_signatures, whiteboard_tag
from triage.config import Settings
from triage.model import Bug, Change
from triage.nag import NagLedger, recent_window
from triage.plan import WRITE, PlannedChange, ledger_over_unit
from triage.store import Store
from triage.store import bisections as bisect_rows
from triage.store import ci as ci_rows
from triage.store import nag as nag_rows
from triage.store.bisections import BisectionRecord
from triage.store.checkpoints import get_checkpoint, set_checkpoint

log = logging.getLogger(__name__)

RETRIES_CHECKPOINT = "ci:retries"
Retry = Callable[[str, str, int], None]  # (cell, revision, failing build id)


@dataclass
class LinkReport:
    production: bool
    plans: list[SignaturePlan] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # change key -> Writer status
    retried: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    aborted: str = ""
    verdicts: dict[str, CellVerdict] = field(default_factory=dict)
    owners: OwnerReport = field(default_factory=OwnerReport)  # environment mails to owners
    # Bisection (issue #17): requests this pass queued, and the comments of finished ones.
    queued: list[Wanted] = field(default_factory=list)
    bisections: list[tuple[BisectionRecord, Change]] = field(default_factory=list)

    @property
    def changes(self) -> list[SignaturePlan]:
        return [p for p in self.plans if p.change is not None]


def force_retry(buildbot_url: str, scheduler: str, timeout: float = 30.0) -> Retry:
    def retry(cell: str, revision: str, build_id: int) -> None:
        body = {"jsonrpc": "2.0", "method": "force", "id": 1,
                "params": {"cells": cell, "owner": "xentriage",
                           "reason": f"xentriage: retry of build {build_id} "
                                     f"(revision {revision or '?'})"}}
        resp = requests.post(f"{buildbot_url.rstrip('/')}/api/v2/forceschedulers/{scheduler}",
                             json=body, timeout=timeout)
        resp.raise_for_status()
        if "error" in resp.json():
            raise TrackerError(f"force failed: {resp.json()['error'].get('message')}")

    return retry


class CiLinker:
    def __init__(self, store: Store, settings: Settings, tracker: Tracker | None, *,
                 retry: Retry | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.settings, self.tracker = store, settings, tracker
        self.retry, self.clock = retry, clock

    def run(self, *, production: bool = False) -> LinkReport:
        from triage.writes import Writer

        ci, settings = self.settings.ci, self.settings
        production = settings.writes_enabled(production)
        now = self.clock()
        report = LinkReport(production)
        with self.store.session() as s:
            results = ci_rows.all_results(s)
            rows = ci_rows.signatures(s)
        verdicts = judge_all(results, retry=ci.retry_new_failures and self.retry is not None)
        report.verdicts = verdicts
        report.flaky = sorted(c for c, v in verdicts.items() if v.flaky_now)
        self._retry(verdicts, report)
        # Environment failures: to the worker's owner (a mail), never into the Bugzilla plan.
        report.owners = mail_worker_owners(settings, self.store, results, now,
                                           production=production)
        groups = group(verdicts)
        bugs, found = self._read_bugs(groups, rows)
        records, notes = self._bisections(groups, verdicts, rows, results, now, report)
        plans = plan_signatures(groups, verdicts, rows, bugs, found, ci,
                                settings.bugzilla.workflow, now, fix_notes=notes)
        report.plans = plans
        if records:
            report.bisections = bisect_report.plan_reports(
                records, self._bug_of(rows), {s for s, r in rows.items() if r.state == PASSING})
        planned = [PlannedChange(p.change, WRITE) for p in plans if p.change is not None]
        planned += [PlannedChange(c, WRITE) for _, c in report.bisections]
        if len(planned) > settings.safety.change_cap:
            report.aborted = (f"the CI plan has {len(planned)} writes, more than the change cap "
                              f"of {settings.safety.change_cap}: nothing was written")
            log.error("ci link: %s", report.aborted)
            self._save(plans, {}, now, groups)
            return report
        ledger = self._ledger(now)
        entries = ledger_over_unit(planned, bugs, ledger, now, frozenset())
        writer = Writer(self.store, self.tracker, production=production,  # type: ignore[arg-type]
                        kill_switch=lambda: settings.safety.kill_switch)
        for pc in planned:
            if pc.status != WRITE:
                report.outcomes[pc.change.key] = pc.status
                continue
            current = bugs.get(pc.change.bug_id) if pc.change.bug_id is not None else None
            outcome = writer.apply(pc.change, current=current)
            report.outcomes[pc.change.key] = outcome.status
            if outcome.status not in ("dry-run", "failed", "pending"):
                for p in plans:
                    if p.change is not None and p.change.key == pc.change.key and \
                            p.change.create is not None:
                        p.bug_id = int(outcome.result.get("bug_id") or 0) or None
        if production and entries:
            with self.store.session() as s:
                nag_rows.record(s, entries)
        self._save(plans, report.outcomes, now, groups)
        self._mark_reported(plans, report)
        return report

    # --- bisection (issue #17) -----------------------------------------------------------------

    def _bisections(self, groups: list[SignatureGroup], verdicts: dict[str, CellVerdict],
                    rows: dict[str, ci_rows.SignatureRow], results: list[CellResult],
                    now: datetime, report: LinkReport
                    ) -> tuple[dict[str, list[BisectionRecord]], dict[str, FixNote]]:
        """Queue the bisections this pass asks for (a local request, like a retry: dry runs
        queue too; the comments they end in go through the Writer), then read every bisection
        of each signature and what the "resolved" comment says about its fix bisection."""
        bisect = self.settings.bisect
        if not bisect.enabled:
            return {}, {}
        by_cell: dict[str, list[CellResult]] = {}
        for r in results:
            by_cell.setdefault(r.cell, []).append(r)
        # bisect.per_day = 0: none is ever run, so none is queued (nor waited for).
        wanted = wanted_bisections(groups, verdicts, rows, by_cell) if bisect.per_day else []
        with self.store.session() as s:
            for want in wanted:
                _, new = bisect_rows.queue(s, want.request, now=now,
                                           origin_signature=want.signature)
                if new:
                    report.queued.append(want)
                    log.info("ci link: queued a %s bisection of %s (%s..%s)", want.request.kind,
                             want.request.cell, want.request.old, want.request.new)
            records = bisect_rows.by_signature(s)
        notes = {sig: note for sig, recs in records.items()
                 for note in [bisect_report.fix_note(recs, now, bisect.fix_wait_hours)]
                 if note is not None}
        return records, notes

    @staticmethod
    def _bug_of(rows: dict[str, ci_rows.SignatureRow]) -> dict[str, int]:
        return {sig: int(r.details.get("dupe_of") or r.bug_id or 0) for sig, r in rows.items()
                if (r.details.get("dupe_of") or r.bug_id) and r.state != "invalid"}

    def _mark_reported(self, plans: list[SignaturePlan], report: LinkReport) -> None:
        """A bisection is reported once the write that carries it is applied (its own comment,
        or the "resolved" comment of its signature)."""
        applied = {"confirmed", "already-applied", "already-done"}
        done = [(rec.id, c.key) for rec, c in report.bisections
                if report.outcomes.get(c.key) in applied]
        done += [(p.bisection_id, p.change.key) for p in plans
                 if p.bisection_id is not None and p.change is not None
                 and report.outcomes.get(p.change.key) in applied]
        if not done:
            return
        with self.store.session() as s:
            for bisection_id, key in done:
                bisect_rows.mark_reported(s, bisection_id, key)

    # --- internals -----------------------------------------------------------------------------

    def _ledger(self, now: datetime) -> NagLedger:
        general = self.settings.general
        with self.store.session() as s:
            entries = nag_rows.entries_since(s, now - recent_window(self.settings.nag))
        return NagLedger.from_entries(self.settings.nag, [*general.bot_accounts,
                                                          general.bot_email], entries,
                                      self.settings.bugzilla.workflow.needinfo_flag)

    def _retry(self, verdicts: dict[str, CellVerdict], report: LinkReport) -> None:
        if self.retry is None or not self.settings.ci.retry_new_failures:
            return
        with self.store.session() as s:
            done = dict(get_checkpoint(s, RETRIES_CHECKPOINT) or {})
        for cell, v in sorted(verdicts.items()):
            if v.state != AWAITING_RETRY or done.get(cell) == v.latest.build_id:
                continue
            try:
                self.retry(cell, v.latest.revision, v.latest.build_id)
            except (requests.RequestException, TrackerError, ValueError) as exc:
                log.warning("ci link: could not retry %s: %s", cell, exc)
                continue
            log.info("ci link: %s newly fails (build %d): retrying once before filing", cell,
                     v.latest.build_id)
            done[cell] = v.latest.build_id
            report.retried.append(cell)
        with self.store.session() as s:
            set_checkpoint(s, RETRIES_CHECKPOINT, done)

    def _read_bugs(self, groups: list[SignatureGroup], rows: dict[str, ci_rows.SignatureRow]
                   ) -> tuple[dict[int, Bug], dict[str, int]]:
        if self.tracker is None:
            return {}, {}
        found: dict[str, int] = {}
        for g in groups:
            row = rows.get(g.signature)
            if row is None or row.bug_id is None:
                tag = whiteboard_tag(g.signature)
                for bug in self.tracker.search_whiteboard(tag):
                    if f"[{tag}]" in bug.whiteboard:
                        found[g.signature] = bug.id
                        break
        ids = {r.bug_id for r in rows.values() if r.bug_id} | set(found.values())
        ids |= {int(r.details["dupe_of"]) for r in rows.values() if r.details.get("dupe_of")}
        bugs: dict[int, Bug] = {}
        for _ in range(3):  # duplicates of duplicates, a bounded number of hops
            wanted = sorted(i for i in ids if i not in bugs)
            if not wanted:
                break
            for bug in self.tracker.get_bugs(wanted, comments=True).bugs:
                bugs[bug.id] = bug
            from triage.ci.planner import _dupe_target

            ids |= {t for b in bugs.values() if b.resolution == "DUPLICATE"
                    for t in [_dupe_target(b)] if t is not None}
        return bugs, found

    def _save(self, plans: list[SignaturePlan], outcomes: dict[str, str], now: datetime,
              groups: list[SignatureGroup]) -> None:
        applied = {"confirmed", "already-applied", "already-done"}
        with self.store.session() as s:
            existing = ci_rows.signatures(s)
            for p in plans:
                done = p.change is not None and outcomes.get(p.change.key) in applied
                old, g = existing.get(p.signature), p.group
                details = dict(p.details)
                if done and g is not None:
                    details["reported_cells"] = sorted(
                        set(details.get("reported_cells", [])) | set(g.cells))
                if done and p.change is not None and p.change.create is not None:
                    details["filings"] = int(details.get("filings", 0)) + 1
                state = p.state
                if state == PASSING and p.change is not None and not done:
                    state = FAILING  # the resolve is not applied yet: the next pass plans it
                first = min(r.finished_at for r in g.results) if g else now
                ci_rows.save_signature(
                    s, signature=p.signature,
                    cls=g.cls if g else (old.cls if old else ""),
                    title=g.title if g else (old.title if old else ""),
                    stage=("boot" if g.cls.startswith("boot") else "build") if g else
                    (old.stage if old else "build"),
                    cells=g.cells if g else (old.cells if old else ()),
                    state=state, first_seen=old.first_seen if old else first,
                    last_seen=max(r.finished_at for r in g.results) if g else
                    (old.last_seen if old else now),
                    details=details,
                    bug_id=p.bug_id if p.bug_id and (done or p.change is None) else None,
                    commented=now if done and p.change is not None
                    and p.change.update is not None else None)
