"""Environment failures mailed to the worker's owner, never to Bugzilla.

An *environment* result is the worker's fault (a missing tool, a full disk, a QEMU that cannot
start): the code is not to blame, so no bug is filed, but the person who runs the worker
(``ci.worker_owners``: worker name -> address) should hear of it. The plan is pure
(:func:`plan_owner_mails`): one mail per worker, failure signature and UTC day of the failure,
listing every cell that failed that way. Its idempotency key
``ci:env:<worker>:<signature>:<day>`` goes through the action ledger (triage.writes.Writer), so
the owner hears of a cause once a day however many passes see it; a dry run (the default)
writes the mail into the dry-run outbox instead of sending it. A pass planning more mails than
``safety.change_cap`` sends none.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.ci.model import CellResult
from triage.config import Settings
from triage.model import Change, OutgoingMail
from triage.rules.base import render, sanitize, trusted
from triage.store import Store
from workers.failure import ENVIRONMENT

log = logging.getLogger(__name__)

RULE = "ci-owner"
# Results older than this are history: enabling the mail does not mail a backlog.
WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class OwnerMail:
    worker: str
    owner: str
    signature: str
    day: str  # YYYY-MM-DD (UTC) of the failures
    results: tuple[CellResult, ...]

    @property
    def key(self) -> str:
        return f"ci:env:{self.worker}:{self.signature}:{self.day}"


def _signature(r: CellResult) -> str:
    # An environment result may carry no signature (the worker never got to classify a log):
    # its reason names the cause, so the same reason is the same cause.
    if r.signature:
        return r.signature
    return "reason-" + hashlib.sha256(r.reason.strip().encode("utf-8")).hexdigest()[:12]


def plan_owner_mails(results: Iterable[CellResult], owners: Mapping[str, str],
                     now: datetime, window: timedelta = WINDOW) -> list[OwnerMail]:
    """The mails owed for the environment results of the last ``window`` (pure)."""
    groups: dict[tuple[str, str, str], list[CellResult]] = {}
    for r in results:
        if r.result != ENVIRONMENT or not owners.get(r.worker):
            continue
        if r.finished_at < now - window:
            continue
        day = r.finished_at.date().isoformat()
        groups.setdefault((r.worker, _signature(r), day), []).append(r)
    return [OwnerMail(worker, owners[worker], sig, day,
                      tuple(sorted(rs, key=lambda r: (r.cell, r.build_id))))
            for (worker, sig, day), rs in sorted(groups.items())]


def owner_change(mail: OwnerMail) -> Change:
    first = mail.results[0]
    cause = first.title or first.reason or "environment failure"
    cells = [{"cell": sanitize(r.cell, max_length=255),
              "revision": sanitize(r.revision or "?", max_length=64),
              "build_url": sanitize(r.build_url or "(no link)", max_length=500)}
             for r in mail.results]
    text = render("ci_worker_environment.j2",
                  worker=sanitize(mail.worker, max_length=255),
                  day=trusted(mail.day),
                  cause=sanitize(cause, max_length=300),
                  reason=sanitize(first.reason, max_length=500),
                  evidence=[sanitize(e, max_length=500) for e in first.evidence[:10]],
                  cells=cells)
    subject = (f"[xentriage] worker {mail.worker}: environment failure on "
               f"{len(mail.results)} cell(s): {cause}")
    out = OutgoingMail(to=(mail.owner,), subject=sanitize(subject, max_length=190), text=text)
    return Change(key=mail.key, rule=RULE,
                  reason=f"environment failure on worker {mail.worker}", mail=out)


@dataclass
class OwnerReport:
    planned: int = 0
    outcomes: dict[str, str] | None = None  # change key -> Writer status
    aborted: str = ""


def mail_worker_owners(settings: Settings, store: Store, results: Iterable[CellResult],
                       now: datetime, *, production: bool) -> OwnerReport:
    """Plan and send (or, in a dry run, write to the dry-run outbox) the owners' mails."""
    from triage.adapters.smtp import OutboxTransport, deliver, outbox_dir, writer_mail_sender
    from triage.writes import Writer

    ci = settings.ci
    if not ci.mail_worker_owners or not ci.worker_owners:
        return OwnerReport()
    changes = [owner_change(m) for m in plan_owner_mails(results, ci.worker_owners, now)]
    report = OwnerReport(planned=len(changes), outcomes={})
    if not changes:
        return report
    if len(changes) > settings.safety.change_cap:
        report.aborted = (f"{len(changes)} owner mails planned, more than the change cap of "
                          f"{settings.safety.change_cap}: none sent")
        log.error("ci owners: %s", report.aborted)
        return report
    production = settings.writes_enabled(production)
    writer = Writer(store, None, production=production,
                    kill_switch=lambda: settings.safety.kill_switch,
                    mail_sender=writer_mail_sender(settings, production=production))
    dry_run_box = OutboxTransport(outbox_dir(settings) / "dry-run")
    for change in changes:
        if not production:
            # The same key gives the same Message-ID, so a later pass overwrites, not adds.
            deliver(change, settings, dry_run_box)
        outcome = writer.apply(change)
        report.outcomes[change.key] = outcome.status  # type: ignore[index]
        if outcome.status == "confirmed":
            log.info("ci owners: mailed %s about %s", change.mail.to[0],  # type: ignore[union-attr]
                     change.key)
        elif not outcome.ok:
            log.warning("ci owners: mail %s %s: %s", change.key, outcome.status, outcome.error)
    return report
