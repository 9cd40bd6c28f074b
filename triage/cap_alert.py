"""Telling the maintainer when the change cap stopped a pass of ``xentriage serve``.

A scheduled pass has nobody watching its output: a runaway plan the cap stopped would otherwise
be a line in a log. The maintainer (``digest.maintainer``) gets one mail per aborted run, as an
action of the ledger (key ``cap-abort:<run id>``, so a retry never sends it twice), and only when
the runaway is new: while every pass of the same job keeps aborting, nobody is mailed again.
A dry run writes the mail to the dry-run outbox, like every other planned mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from triage.adapters.smtp import OutboxTransport, deliver, outbox_dir, writer_mail_sender
from triage.adapters.tracker import TrackerError
from triage.config import Settings
from triage.model import Change, OutgoingMail
from triage.rules.base import sanitize
from triage.store import Store
from triage.store import decisions as run_rows
from triage.writes import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapAbort:
    """What the mail says: which job, which run, and why it stopped."""

    job: str
    run_id: int
    planned: int
    change_cap: int
    reason: str


def alert_change(settings: Settings, abort: CapAbort) -> Change | None:
    """The mail to the maintainer, or None when no maintainer is configured."""
    to = settings.digest.maintainer
    if not to:
        return None
    text = (f"The change cap stopped the {abort.job} pass (run {abort.run_id}) of xentriage "
            f"serve before it wrote anything:\n\n  {sanitize(abort.reason, max_length=500)}\n\n"
            f"It planned {abort.planned} writes; the cap (safety.change_cap) is "
            f"{abort.change_cap}. Read the plan with `xentriage triage` (a dry run), then raise "
            "the cap for one run (`xentriage triage --production --change-cap N`) or fix what "
            "made the plan grow. Further passes that abort the same way are not mailed again.\n")
    mail = OutgoingMail(to=(to,), subject=f"[xentriage] change cap stopped run {abort.run_id}",
                        text=text)
    return Change(key=f"cap-abort:{abort.run_id}", rule="safety", reason=abort.reason, mail=mail)


def is_new_runaway(store: Store, job: str, run_id: int) -> bool:
    """True unless the previous run of ``job`` aborted too (the maintainer already knows)."""
    with store.session() as s:
        previous = run_rows.previous_outcome(s, f"job:{job}", run_id)
    return previous != "aborted"


def notify_cap_abort(settings: Settings, store: Store, abort: CapAbort, *, job_run_id: int,
                     production: bool) -> str:
    """Mail the maintainer about ``abort``; returns what happened, for the job's log line."""
    change = alert_change(settings, abort)
    if change is None:
        return "no maintainer to tell (digest.maintainer is empty)"
    if not is_new_runaway(store, abort.job, job_run_id):
        return "the previous pass aborted too: the maintainer was told then"
    if not production:
        deliver(change, settings, OutboxTransport(outbox_dir(settings) / "dry-run"))
    writer = Writer(store, None, production=production,
                    kill_switch=lambda: settings.safety.kill_switch,
                    mail_sender=writer_mail_sender(settings, production=production))
    try:
        outcome = writer.apply(change)
    except TrackerError as exc:  # pragma: no cover - the Writer turns send errors into outcomes
        outcome = None
        log.error("mailing the maintainer failed: %s", exc)
    status = outcome.status if outcome is not None else "failed"
    return f"maintainer {settings.digest.maintainer} mailed ({status})"
