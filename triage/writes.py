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

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from triage.adapters.bugzilla_convert import update_is_reflected
from triage.adapters.tracker import (
    BugNotFound,
    Tracker,
    TrackerError,
    TrackerUnavailable,
)
from triage.model import Bug, Change, OutgoingMail, to_jsonable
from triage.store import Store
from triage.store import actions as ledger

log = logging.getLogger(__name__)

MARKER_PREFIX = "xentriage:"
MailSender = Callable[[OutgoingMail, str], str]  # (mail, marker) -> Message-ID


def marker_for(key: str) -> str:
    """``xentriage:<12 hex>``: the Bugzilla-side trace of the action with this key."""
    return MARKER_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def with_marker(comment: str, marker: str) -> str:
    return f"{comment.rstrip()}\n\n[{marker}]"


def marked_change(change: Change) -> Change:
    """The change as it is sent: the comment ends with the marker; a new bug's whiteboard carries
    it as a tag (and its description ends with it)."""
    marker = marker_for(change.key)
    if change.update is not None and change.update.comment is not None:
        return replace(change, update=replace(change.update,
                                              comment=with_marker(change.update.comment, marker)))
    if change.create is not None:
        wb = f"{change.create.whiteboard} [{marker}]".strip()
        return replace(change, create=replace(
            change.create, whiteboard=wb,
            description=with_marker(change.create.description, marker)))
    return change


def bug_has_marker(bug: Bug, marker: str) -> bool:
    token = f"[{marker}]"
    return token in bug.whiteboard or any(token in c.text for c in bug.comments)


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

    @property
    def ok(self) -> bool:
        return self.status in {"confirmed", "already-applied", "already-done", "dry-run"}


class Writer:
    """Applies changes through a tracker (and a mail sender) with the ledger in ``store``."""

    def __init__(
        self,
        store: Store,
        tracker: Tracker,
        *,
        production: bool,
        kill_switch: Callable[[], bool] = lambda: False,
        mail_sender: MailSender | None = None,
        run_id: int | None = None,
        send_attempts: int = 3,
        verify_first_writes: bool = True,
        retry_delay_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
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
                ledger.record_dry_run(s, key=change.key, bug_id=change.bug_id, rule=change.rule,
                                      kind=change.kind, target=target, payload=plan,
                                      marker=marker, run_id=self.run_id)
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
        return self._send(base, change, sent_form, marker)

    def reconcile(self) -> list[ActionOutcome]:
        """Finish what a crash left ``planned`` or ``sent`` (run at start-up, before new work)."""
        with self.store.session() as s:
            rows = [(r.key, r.status, r.bug_id, r.kind, dict(r.result or {}), r.marker,
                     dict(r.payload)) for r in ledger.unfinished(s)]
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
                outcomes.append(replace(base, status="pending", error=str(exc)))
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
            for bug in self.tracker.search_whiteboard(marker):
                if f"[{marker}]" in bug.whiteboard:
                    return {"bug_id": bug.id, "found_by": "whiteboard marker"}
            return None
        if bug_id is None:
            return None
        batch = self.tracker.get_bugs([bug_id], comments=True)
        if not batch.bugs:
            raise BugNotFound(f"bug {bug_id} is gone or private", code=101)
        return {"bug_id": bug_id, "found_by": "comment marker"} if bug_has_marker(
            batch.bugs[0], marker) else None

    def _already_applied(self, change: Change, marker: str, current: Bug | None, *, fetch: bool
                         ) -> dict[str, Any] | None:
        if change.mail is not None:
            return None
        if change.create is not None:
            return self._find_marker(None, marker, "create")
        assert change.update is not None and change.bug_id is not None
        bug = current
        if fetch or (bug is None and self.verify_first_writes):
            batch = self.tracker.get_bugs([change.bug_id], comments=True)
            if not batch.bugs:
                raise BugNotFound(f"bug {change.bug_id} is gone or private", code=101)
            bug = batch.bugs[0]
        if bug is None:
            return None
        if change.update.comment is not None:
            if bug_has_marker(bug, marker):
                return {"bug_id": bug.id, "found_by": "comment marker"}
            return None
        if update_is_reflected(change.update, bug):
            return {"bug_id": bug.id, "found_by": "fields already set"}
        return None

    def _send_once(self, change: Change, marker: str) -> dict[str, Any]:
        if change.update is not None:
            assert change.bug_id is not None
            result = self.tracker.update_bug(change.bug_id, change.update)
            return to_jsonable(result)
        if change.create is not None:
            return {"bug_id": self.tracker.create_bug(change.create)}
        assert change.mail is not None
        if self.mail_sender is None:
            raise TrackerError("no mail sender configured for mail changes")
        return {"message_id": self.mail_sender(change.mail, marker)}

    def _send(self, base: ActionOutcome, change: Change, sent_form: Change, marker: str
              ) -> ActionOutcome:
        for attempt in range(1, self.send_attempts + 1):
            try:
                result = self._send_once(sent_form, marker)
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
                if attempt == self.send_attempts:
                    with self.store.session() as s:
                        row = ledger.get_action(s, change.key)
                        if row is not None:
                            row.error = str(exc)
                    return replace(base, status="pending", error=str(exc), sent=True)
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
        return replace(base, status="failed", error=str(exc))
