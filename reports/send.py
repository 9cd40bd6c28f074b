"""Sending the digest once per ISO week (and the maintainer's preview, and holds).

The send goes through the project's one idempotent write path, :class:`triage.writes.Writer`,
under the key ``digest:mail:<week>``: the key is recorded ``planned`` before the mail leaves and
``confirmed`` after, the Message-ID derives from the key. Around it the ``digests`` row of the
week is written ``planned`` with the model *before* sending and ``sent`` after, so the next
week diffs against what readers saw. A mail cannot be looked up afterwards the way a Bugzilla
comment can, so a ``planned`` ledger row found on a later run (a crash between sending and
recording) counts as sent: never twice, as the Writer's own ``reconcile`` treats mail. A
*failed* send (SMTP down) is recorded failed and sent again by the next run.

Dry run (the default): the mail is written to ``<state_dir>/outbox/dry-run/`` exactly as it would
be sent, and nothing is recorded as sent.
"""

from __future__ import annotations

import logging
import typing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reports.compose import RenderedDigest, build_model, render
from reports.model import model_to_dict
from triage.adapters.smtp import (
    MailTransport,
    OutboxTransport,
    deliver,
    message_id_for_key,
    outbox_dir,
    writer_mail_sender,
)
from triage.adapters.tracker import Tracker
from triage.config import Settings
from triage.model import Change
from triage.store import Store
from triage.store import actions as ledger
from triage.store import digests as digest_rows
from triage.writes import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendOutcome:
    """``status``: sent, already-sent, recovered (a crash left it unconfirmed: not resent), held,
    skipped (no change and ``digest.no_change = "skip"``), busy (another run is sending it),
    dry-run, failed (the next run, or the service's retry job, sends it)."""

    week: str
    status: str
    message_id: str = ""
    path: Path | None = None
    error: str = ""
    digest: RenderedDigest | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


# Longer than any send can take (SMTP timeouts included): a claim this old belongs to a dead run.
SENDING_STALE_AFTER = timedelta(minutes=15)


def pending_retry(store: Store, week: str, *, now: datetime | None = None,
                  stale_after: timedelta = SENDING_STALE_AFTER) -> bool:
    """True when this week's digest was attempted and not finished: the send failed (SMTP
    down), or a run died while sending. The service's retry job sends it then."""
    now = now or datetime.now(UTC)
    with store.session() as s:
        row = digest_rows.get(s, "mail", week)
    if row is None:
        return False
    return row.status == digest_rows.FAILED or (
        row.status == digest_rows.PLANNED and now - row.created_at >= stale_after)


def mail_key(week: str, kind: str = "mail") -> str:
    return f"digest:{kind}:{week}"


def hold(store: Store, week: str, *, reason: str = "", now: datetime | None = None) -> bool:
    """Stop this week's send. False if it was already sent (too late to hold)."""
    with store.session() as s:
        sent = digest_rows.get(s, "mail", week)
        if sent is not None and sent.status == digest_rows.SENT:
            return False
        digest_rows.record(s, "hold", week, digest_rows.HELD, model={"reason": reason},
                           now=now)
    return True


def release(store: Store, week: str) -> bool:
    with store.session() as s:
        row = digest_rows.get(s, "hold", week)
        if row is None or row.status != digest_rows.HELD:
            return False
        digest_rows.record(s, "hold", week, "released", model=row.model)
    return True


def _writer(settings: Settings, store: Store, transport: MailTransport | None) -> Writer:
    # The Writer's mail path never touches the tracker (no marker lookup for mail).
    return Writer(store, typing.cast(Tracker, None), production=True, send_attempts=1,
                  kill_switch=lambda: settings.safety.kill_switch,
                  mail_sender=writer_mail_sender(settings, production=True, transport=transport))


def send_digest(settings: Settings, store: Store, *, production: bool, week: str | None = None,
                now: datetime | None = None, transport: MailTransport | None = None,
                preview: bool = False, stale_after: timedelta = SENDING_STALE_AFTER
                ) -> SendOutcome:
    """Send (or, in a dry run, write out) the digest of ``week`` (default: this week), or the
    maintainer's preview of it with ``preview``.

    Two services, or a job overlapping a manual run, cannot both send: the week's ``digests``
    row is claimed with an atomic insert or conditional update before the Writer records its
    key; a run that finds a fresh claim answers ``busy``. A claim older than ``stale_after``
    belongs to a run that died: with the Writer's key recorded the mail may be out (counted as
    sent); without it nothing left, and the claim is taken over.
    """
    model = build_model(settings, store, week=week, now=now)
    week = model.week
    kind = "preview" if preview else "mail"
    key = mail_key(week, kind)
    with store.session() as s:
        row = digest_rows.get(s, kind, week)
        held = digest_rows.get(s, "hold", week)
        action = ledger.get_action(s, key)
        action_status = action.status if action is not None else ""
    if row is not None and row.status == digest_rows.SENT:
        return SendOutcome(week, "already-sent", row.message_id)
    if not preview and held is not None and held.status == digest_rows.HELD:
        return SendOutcome(week, "held", error=str(held.model.get("reason", "")))
    if not model.changed and settings.digest.no_change == "skip" and not preview:
        return SendOutcome(week, "skipped")
    rendered = render(model, settings)
    to = (settings.digest.maintainer,) if preview else tuple(settings.digest.to)
    if not to or not all(to):
        return SendOutcome(week, "failed", error="no recipient configured "
                           f"({'digest.maintainer' if preview else 'digest.to'})")
    mail = rendered.mail(to, subject_prefix="[preview] " if preview else "")
    change = Change(key=key, rule="digest", reason=f"weekly digest {week}", mail=mail)
    message_id = message_id_for_key(key, settings)
    if not production or settings.safety.kill_switch:
        folder = outbox_dir(settings) / "dry-run"
        transport_ = OutboxTransport(folder)
        deliver(change, settings, transport_)
        return SendOutcome(week, "dry-run", message_id, transport_.path_for(message_id),
                           digest=rendered)
    stored_model = model_to_dict(model)
    clock = datetime.now(UTC)
    sending = row is not None and row.status == digest_rows.PLANNED
    if sending and row is not None and clock - row.created_at < stale_after:
        # Another run (a second service, an overlapping job) is sending it right now.
        return SendOutcome(week, "busy", row.message_id)
    if action_status == ledger.CONFIRMED or (sending and action_status in ledger.UNFINISHED):
        # The key was recorded before sending and the run stopped before the digest was marked
        # sent: the mail may be out, and a mail cannot be looked up. Never twice: count it as
        # sent, with the model planned then.
        with store.session() as s:
            if action_status != ledger.CONFIRMED:
                ledger.mark_confirmed(s, key)
            digest_rows.record(s, kind, week, digest_rows.SENT, message_id=message_id,
                               model=row.model if row is not None and row.model else stored_model)
        log.warning("digest %s: a previous run recorded it before sending and stopped; "
                    "counted as sent, not sent again", key)
        return SendOutcome(week, "recovered", message_id)
    if not digest_rows.claim(store, kind, week, model=stored_model, message_id=message_id,
                             now=clock, expected=row.status if row is not None else None,
                             expected_at=row.created_at if row is not None else None):
        return SendOutcome(week, "busy", message_id)
    outcome = _writer(settings, store, transport).apply(change)
    if outcome.status not in ("confirmed", "already-done", "already-applied"):
        log.error("digest %s not sent: %s", key, outcome.error)
        with store.session() as s:
            digest_rows.record(s, kind, week, digest_rows.FAILED, model=stored_model,
                               message_id=message_id)
        return SendOutcome(week, "failed", message_id, error=outcome.error, digest=rendered)
    with store.session() as s:
        digest_rows.record(s, kind, week, digest_rows.SENT, model=stored_model,
                           message_id=message_id, now=datetime.now(UTC))
    return SendOutcome(week, "sent", message_id, digest=rendered)
