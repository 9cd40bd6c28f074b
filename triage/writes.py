"""The action ledger: every external write, applied at most once.

A :class:`~triage.model.Change` carries an idempotency key. :meth:`Writer.apply`:

1. looks the key up: ``confirmed`` means done (nothing is sent again);
2. in a dry run (or with the kill switch on) records ``dry-run`` and returns the plan; a dry-run
   row never blocks a later production write of the same key;
3. otherwise records ``planned`` *before* sending (committed), sends, records ``sent`` with
   Bugzilla's answer, then ``confirmed``.

A crash can leave ``planned`` (sent or not: unknown) or ``sent`` (Bugzilla answered, so applied).
The next :meth:`Writer.apply` or :meth:`Writer.reconcile` confirms a ``sent`` row without a
request, and for a ``planned`` row first looks in Bugzilla for the write's **marker**:

* a comment carries a last line ``[xentriage:<12 hex>]`` (the first 12 hex digits of the key's
  SHA-256): short, recognisable, and meaningless to readers;
* a bug the bot files carries the same token as a whiteboard tag, found with a whiteboard search;
* a field-only update (status, keywords, whiteboard tags, flags) is recognised by its effect:
  when the bug already shows every change, sending it again is pointless.

Because the marker lives in Bugzilla, the check also works when the store is lost entirely: pass
the freshly synced bug as ``current`` (or let the writer fetch it) and a write already present in
Bugzilla is confirmed instead of repeated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from triage.adapters.bugzilla_convert import update_is_reflected
from triage.adapters.tracker import (
    BugNotFound,
    Tracker,
    TrackerError,
    TrackerUnavailable,
)
from triage.markers import bug_has_marker, marked_change, marker_for
from triage.model import Bug, Change, OutgoingMail, to_jsonable
from triage.store import Store
from triage.store import actions as ledger

log = logging.getLogger(__name__)

MailSender = Callable[[OutgoingMail, str], str]  # (mail, marker) -> Message-ID
T = TypeVar("T")
# Consecutive connection failures after which a pass treats the tracker as down (docs/cli.md).
OUTAGE_AFTER = 3


@dataclass(frozen=True)
class ActionOutcome:
    """What :meth:`Writer.apply` did with one change.

    ``status``: ``confirmed`` (sent now), ``already-applied`` (found in Bugzilla, not resent),
    ``already-done`` (the ledger had it confirmed), ``dry-run``, ``failed`` (a definite error), or
    ``pending`` (the send failed ambiguously; the next run checks the marker before resending).
    """

    key: str
    status: str
    kind: str
    bug_id: int | None
    marker: str
    plan: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    sent: bool = False
    blocked_by: str = ""  # why a production write was held back: kill-switch, read-only tracker
    unreachable: bool = False  # the tracker could not be reached (counts towards an outage)

    @property
    def ok(self) -> bool:
        return self.status in {"confirmed", "already-applied", "already-done", "dry-run"}


class Writer:
    """Applies changes through a tracker (and a mail sender) with the ledger in ``store``."""

    def __init__(
        self,
        store: Store,
        tracker: Tracker | None,
        *,
        production: bool,
        kill_switch: Callable[[], bool] = lambda: False,
        mail_sender: MailSender | None = None,
        run_id: int | None = None,
        send_attempts: int = 3,
        verify_first_writes: bool = True,
        retry_delay_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        outage_after: int = OUTAGE_AFTER,
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.production = production
        self.kill_switch = kill_switch
        self.mail_sender = mail_sender
        self.run_id = run_id
        self.send_attempts = max(1, send_attempts)
        # Without ``current``, read the bug before a first write so a write whose ledger row was
        # lost (store restored from an old backup, or deleted) is recognised by its marker.
        self.verify_first_writes = verify_first_writes
        self.retry_delay_seconds = retry_delay_seconds
        self.sleep = sleep
        # Consecutive connection failures (any request) after which the tracker counts as down:
        # a pass stops writing instead of putting every remaining write through its retries.
        self.outage_after = max(1, outage_after)
        self.unreachable_in_a_row = 0
        self._fresh: dict[int, Bug] = {}  # bugs read for this pass's writes, by id

    @property
    def _bz(self) -> Tracker:
        """The tracker, for the writes and reads that need one (a mail-only writer has none)."""
        if self.tracker is None:
            raise TrackerError("no tracker configured for Bugzilla changes")
        return self.tracker

    @property
    def outage(self) -> bool:
        """True after ``outage_after`` consecutive connection failures (until one succeeds)."""
        return self.unreachable_in_a_row >= self.outage_after

    def read_for_writes(self, bug_ids: Sequence[int]) -> None:
        """Read the bugs about to be written in one batched request (comments included): every
        write then checks its marker, and computes whiteboard edits, on this copy instead of
        reading its bug again. Pass the bugs the caller has just read as ``current`` instead."""
        ids = [i for i in dict.fromkeys(bug_ids) if i not in self._fresh]
        if not ids:
            return
        try:
            batch = self._tracked(lambda: self._bz.get_bugs(ids, comments=True))
        except TrackerError as exc:
            log.warning("reading %d bugs before writing failed (%s): each write reads its own",
                        len(ids), exc)
            return
        self._fresh.update({b.id: b for b in batch.bugs})

    def _tracked(self, call: Callable[[], T]) -> T:
        """One tracker request, counted for the outage breaker."""
        try:
            result = call()
        except TrackerUnavailable:
            self.unreachable_in_a_row += 1
            raise
        self.unreachable_in_a_row = 0
        return result

    # --- public --------------------------------------------------------------------------------

    def apply(self, change: Change, *, current: Bug | None = None) -> ActionOutcome:
        """Apply ``change`` at most once. ``current`` is the bug as just synced, if the caller has
        it: it lets a first write recognise its own marker without an extra read."""
        marker = marker_for(change.key)
        sent_form = marked_change(change)
        plan = to_jsonable(sent_form)
        target = "smtp" if change.mail is not None else "bugzilla"
        base = ActionOutcome(key=change.key, status="", kind=change.kind, bug_id=change.bug_id,
                             marker=marker, plan=plan)
        with self.store.session() as s:
            row = ledger.get_action(s, change.key)
            existing = (row.status, dict(row.result or {})) if row is not None else None
        if existing and existing[0] == ledger.CONFIRMED:
            return replace(base, status="already-done", result=existing[1])

        blocked = "kill-switch" if self.kill_switch() else ""
        if not blocked and change.mail is None and getattr(self.tracker, "read_only", False):
            blocked = "read-only tracker"  # a snapshot: show the plan instead of failing
        if not self.production or blocked:
            with self.store.session() as s:
                ledger.record_dry_run(s, draft_of(change), run_id=self.run_id)
            log.info("dry run%s: %s %s on bug %s (%s)", f" ({blocked})" if blocked else "",
                     change.kind, change.key, change.bug_id, change.reason)
            return replace(base, status="dry-run", blocked_by=blocked)

        if existing and existing[0] == ledger.SENT:
            # Bugzilla answered success before the crash: the write is applied.
            with self.store.session() as s:
                ledger.mark_confirmed(s, change.key)
            return replace(base, status="already-applied", result=existing[1])

        # A planned or failed row may have reached Bugzilla: always look before (re)sending. A
        # first write looks in ``current`` when given, else reads the bug (verify_first_writes).
        must_check = existing is not None and existing[0] in (ledger.PLANNED, ledger.FAILED)
        if current is None and change.bug_id is not None:
            current = self._fresh.get(change.bug_id)
            must_check = must_check and current is None  # a copy read for this write is fresh
        try:
            found = self._already_applied(sent_form, marker, current, fetch=must_check)
        except TrackerError as exc:
            return self._fail(base, change, target, plan, marker, exc, record=existing is None)
        if found is not None:
            with self.store.session() as s:
                if existing is None:
                    ledger.record_planned(s, key=change.key, bug_id=change.bug_id,
                                          rule=change.rule, kind=change.kind, target=target,
                                          payload=plan, marker=marker, run_id=self.run_id)
                    s.flush()
                ledger.mark_confirmed(s, change.key, found)
            log.info("%s already in Bugzilla (marker %s): confirmed, not resent", change.key,
                     marker)
            return replace(base, status="already-applied", result=found)

        with self.store.session() as s:
            ledger.record_planned(s, key=change.key, bug_id=change.bug_id, rule=change.rule,
                                  kind=change.kind, target=target, payload=plan, marker=marker,
                                  run_id=self.run_id)
        if change.bug_id is not None:
            # The copy the marker check used (read now if it was not given) is what the send
            # computes whiteboard edits from. After this write it no longer shows the bug as it
            # is, so a second write on the same bug in this pass reads it again.
            read = self._fresh.pop(change.bug_id, None)
            if read is not None and (must_check or current is None):
                current = read  # read for this write (else the caller's copy is the fresher)
        return self._send(base, change, sent_form, marker, current)

    def reconcile(self) -> list[ActionOutcome]:
        """Finish what a crash left ``planned`` or ``sent`` (run at start-up, before new work)."""
        with self.store.session() as s:
            rows = [(r.key, r.status, r.bug_id, r.kind, dict(r.result or {}), r.marker,
                     dict(r.payload)) for r in ledger.unfinished(s)]
        # Every bug a crash left a write on, in one batched read, for the marker checks below.
        self.read_for_writes(sorted({r[2] for r in rows if r[2] is not None and r[1] != ledger.SENT
                                     and r[3] not in ("mail", "create")}))
        outcomes = []
        for key, status, bug_id, kind, result, marker, payload in rows:
            base = ActionOutcome(key=key, status="", kind=kind, bug_id=bug_id, marker=marker,
                                 plan=payload)
            if status == ledger.SENT or kind == "mail":
                # Sent and answered, or a mail (no way to look): never sent twice.
                with self.store.session() as s:
                    ledger.mark_confirmed(s, key)
                outcomes.append(replace(base, status="already-applied", result=result))
                continue
            try:
                found = self._find_marker(bug_id, marker, kind)
            except TrackerError as exc:
                outcomes.append(replace(base, status="pending", error=str(exc),
                                        unreachable=isinstance(exc, TrackerUnavailable)))
                if self.outage:
                    break  # the tracker is down: the rest stays unfinished for the next pass
                continue
            if found is not None:
                with self.store.session() as s:
                    ledger.mark_confirmed(s, key, found)
                outcomes.append(replace(base, status="already-applied", result=found))
            else:
                # Not in Bugzilla: the crash came before the send. The rule that planned it will
                # plan it again on its next pass and apply() sends it then.
                outcomes.append(replace(base, status="pending",
                                        error="not found in Bugzilla; will be sent again"))
        return outcomes

    # --- internals -----------------------------------------------------------------------------

    def _find_marker(self, bug_id: int | None, marker: str, kind: str) -> dict[str, Any] | None:
        if kind == "create":
            for bug in self._tracked(lambda: self._bz.search_whiteboard(marker)):
                if f"[{marker}]" in bug.whiteboard:
                    return {"bug_id": bug.id, "found_by": "whiteboard marker"}
            return None
        if bug_id is None:
            return None
        bug = self._fresh.get(bug_id) or self._read_one(bug_id)
        return {"bug_id": bug_id, "found_by": "comment marker"} if bug_has_marker(
            bug, marker) else None

    def _read_one(self, bug_id: int) -> Bug:
        batch = self._tracked(lambda: self._bz.get_bugs([bug_id], comments=True))
        if not batch.bugs:
            raise BugNotFound(f"bug {bug_id} is gone or private", code=101)
        return batch.bugs[0]

    def _already_applied(self, change: Change, marker: str, current: Bug | None, *, fetch: bool
                         ) -> dict[str, Any] | None:
        if change.mail is not None:
            return None
        if change.create is not None:
            return self._find_marker(None, marker, "create")
        assert change.update is not None and change.bug_id is not None
        bug = current
        if fetch or (bug is None and self.verify_first_writes):
            bug = self._read_one(change.bug_id)
            self._fresh[change.bug_id] = bug  # the copy the send computes its edits from
        if bug is None:
            return None
        if change.update.comment is not None:
            if bug_has_marker(bug, marker):
                return {"bug_id": bug.id, "found_by": "comment marker"}
            return None
        if update_is_reflected(change.update, bug):
            return {"bug_id": bug.id, "found_by": "fields already set"}
        return None

    def _send_once(self, change: Change, marker: str, current: Bug | None) -> dict[str, Any]:
        if change.update is not None:
            bug_id, update = change.bug_id, change.update
            assert bug_id is not None
            result = self._tracked(lambda: self._bz.update_bug(bug_id, update,
                                                                   current=current))
            return to_jsonable(result)
        if change.create is not None:
            new = change.create
            return {"bug_id": self._tracked(lambda: self._bz.create_bug(new))}
        assert change.mail is not None
        if self.mail_sender is None:
            raise TrackerError("no mail sender configured for mail changes")
        return {"message_id": self.mail_sender(change.mail, marker)}

    def _send(self, base: ActionOutcome, change: Change, sent_form: Change, marker: str,
              current: Bug | None) -> ActionOutcome:
        for attempt in range(1, self.send_attempts + 1):
            try:
                result = self._send_once(sent_form, marker, current if attempt == 1 else None)
            except TrackerUnavailable as exc:
                # Ambiguous: it may have landed. Look before trying again.
                log.warning("sending %s failed (%s), attempt %d of %d", change.key, exc, attempt,
                            self.send_attempts)
                try:
                    found = self._already_applied(sent_form, marker, None, fetch=True)
                except TrackerError:
                    found = None
                if found is not None:
                    with self.store.session() as s:
                        ledger.mark_confirmed(s, change.key, found)
                    return replace(base, status="already-applied", result=found, sent=True)
                if attempt == self.send_attempts or self.outage:
                    # Left ``planned``: the next pass's reconcile (or apply) looks for the
                    # marker before sending again.
                    with self.store.session() as s:
                        row = ledger.get_action(s, change.key)
                        if row is not None:
                            row.error = str(exc)
                    return replace(base, status="pending", error=str(exc), sent=True,
                                   unreachable=True)
                self.sleep(self.retry_delay_seconds * 2 ** (attempt - 1))
                continue
            except TrackerError as exc:
                return self._fail(base, change, "", base.plan, marker, exc, record=False)
            with self.store.session() as s:
                ledger.mark_sent(s, change.key, result)
            with self.store.session() as s:
                ledger.mark_confirmed(s, change.key)
            log.info("applied %s (%s) on bug %s", change.key, change.kind,
                     result.get("bug_id", change.bug_id))
            return replace(base, status="confirmed", result=result, sent=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, base: ActionOutcome, change: Change, target: str, plan: dict[str, Any],
              marker: str, exc: TrackerError, *, record: bool) -> ActionOutcome:
        with self.store.session() as s:
            if record:
                ledger.record_planned(s, key=change.key, bug_id=change.bug_id, rule=change.rule,
                                      kind=change.kind, target=target or "bugzilla",
                                      payload=plan, marker=marker, run_id=self.run_id)
                s.flush()
            ledger.mark_failed(s, change.key, str(exc))
        log.error("write %s failed: %s", change.key, exc)
        return replace(base, status="failed", error=str(exc),
                       unreachable=isinstance(exc, TrackerUnavailable))


def draft_of(change: Change) -> ledger.ActionDraft:
    """How the ledger records ``change``: as sent (marker included), whichever mode."""
    return ledger.ActionDraft(key=change.key, bug_id=change.bug_id, rule=change.rule,
                              kind=change.kind,
                              target="smtp" if change.mail is not None else "bugzilla",
                              payload=to_jsonable(marked_change(change)),
                              marker=marker_for(change.key))
