"""The mail pipeline: source batches → parsed mails → stored events, queued bugs; exactly once.

Exactly once, by construction:

* Each chunk of messages (``chunk_size``: what one fetch brought, or hundreds for a backfill) is
  written in **one transaction**: its ``mail_messages`` rows, their ``mail_events``, the bugs
  upserted into the cache, the bug ids put on ``triage_queue``, and the source's checkpoint
  (UIDVALIDITY and last UID, or the archive offset) after its last message. A crash anywhere
  before the commit leaves nothing of the chunk and an unchanged checkpoint: it is re-delivered.
* Re-delivered or re-read messages are recognised by Message-ID (unique in the store; a mail
  without one gets a synthetic id hashed from its bytes), so a replay after a crash or after a
  UIDVALIDITY change adds no event twice.
* Everything that is not a clean event is kept: bad input is ``quarantined`` with its reason and
  raw bytes under ``<state_dir>/quarantine/``; the bot's own mail coming back through the list is
  ``ignored`` ("own mail (loop)"). Neither stops the pipeline.

Event → triage: the bug ids named by the chunk's Bugzilla notifications are fetched through the
tracker in **one** batched ``get_bugs`` call (outside the transaction: reads are idempotent),
upserted into the bug cache and queued. A notification naming a bug the tracker does not have
(forged, or deleted since) is quarantined with that reason; so is one naming an id the tracker
rejects (the failed batch is split until the bad ids are found, see :class:`_BatchReader`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage.adapters.mail import MailBatch, MailSource, SourceMessage
from triage.adapters.tracker import (
    AuthenticationError,
    Tracker,
    TrackerError,
    TrackerUnavailable,
)
from triage.heap import long_lived_heap_frozen
from triage.mailparse import ParsedMail, ParseLimits, parse_mail
from triage.model import (
    AuthResult,
    Bug,
    FieldChange,
    MailEvent,
    MailEventKind,
    SenderAuth,
    TriageCommand,
    parse_bz_time,
    utc,
)
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store import mail as mail_repo
from triage.store.checkpoints import get_checkpoint, set_checkpoint
from triage.store.queue import upsert_rows
from triage.store.tables import Checkpoint, MailEventRow
from triage.sync import CHECKPOINT as SYNC_CHECKPOINT
from triage.sync import SETTLE_MARGIN
from triage.written_bugs import WrittenBugs

log = logging.getLogger(__name__)

BUG_KINDS = frozenset({
    MailEventKind.NEW_BUG, MailEventKind.COMMENT, MailEventKind.FIELD_CHANGE,
    MailEventKind.ATTACHMENT, MailEventKind.DEPENDENCY, MailEventKind.FLAG_REQUEST,
})
FaultHook = Callable[[str], None]  # tests raise from it to simulate a crash at a named step


def now() -> datetime:
    return datetime.now(UTC)


def checkpoint_name(source_id: str) -> str:
    return f"mail:{source_id}"[:200]


@dataclass
class IngestReport:
    received: int = 0
    processed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    queued_bugs: set[int] = field(default_factory=set)
    resyncs: list[str] = field(default_factory=list)
    tracker_calls: int = 0
    chunks: int = 0
    unsettled: set[int] = field(default_factory=set)  # bugs read in their last change's second

    def merge(self, other: IngestReport) -> None:
        for name in ("received", "processed", "duplicates", "quarantined", "ignored",
                     "tracker_calls", "chunks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.kinds.update(other.kinds)
        self.reasons.update(other.reasons)
        self.queued_bugs |= other.queued_bugs
        self.unsettled |= other.unsettled
        self.resyncs.extend(other.resyncs)


class Quarantine:
    """Raw bytes of quarantined mail, one file each, named by content hash (idempotent)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, raw: bytes) -> Path:
        digest = hashlib.sha256(raw).hexdigest()
        path = self.folder / digest[:2] / f"{digest}.eml"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)  # a crash leaves no half-written file under the final name
        return path


def event_from_payload(payload: dict[str, Any]) -> MailEvent:
    """Inverse of ``to_jsonable(event)``: how the engine reads ``mail_events.payload``."""
    return MailEvent(
        kind=MailEventKind(payload["kind"]),
        message_id=payload["message_id"],
        subject=payload.get("subject", ""),
        sender=payload.get("sender", ""),
        date=parse_bz_time(payload.get("date")),
        bug_id=payload.get("bug_id"),
        product=payload.get("product", ""),
        component=payload.get("component", ""),
        who=payload.get("who", ""),
        bugzilla_type=payload.get("bugzilla_type", ""),
        changed_fields=tuple(FieldChange(**c) for c in payload.get("changed_fields", ())),
        comment_text=payload.get("comment_text", ""),
        commands=tuple(TriageCommand(**c) for c in payload.get("commands", ())),
        auth=_auth_from_payload(payload.get("auth")),
        commands_dropped=int(payload.get("commands_dropped") or 0),
    )


def _auth_from_payload(data: dict[str, Any] | None) -> SenderAuth | None:
    if not data:
        return None  # stored before sender authentication existed: never authenticated
    return SenderAuth(address=data.get("address", ""), problem=data.get("problem", ""),
                      results=tuple(AuthResult(**r) for r in data.get("results", ())))


def pending_events(session: Session, limit: int = 1000) -> list[tuple[int, MailEvent]]:
    """Events not yet consumed by the engine, oldest first, as ``(row id, event)``."""
    rows = session.execute(
        select(MailEventRow.id, MailEventRow.payload)
        .where(MailEventRow.consumed_at.is_(None))
        .order_by(MailEventRow.id).limit(limit)
    ).all()
    return [(row_id, event_from_payload(payload)) for row_id, payload in rows]


def mark_events_consumed(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(update(MailEventRow).where(MailEventRow.id.in_(list(ids)))
                        .values(consumed_at=now()))


def load_checkpoint(store: Store, source_id: str) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.get(Checkpoint, checkpoint_name(source_id))
        return dict(row.value) if row is not None else None


class Ingestor:
    def __init__(
        self,
        store: Store,
        *,
        quarantine_dir: Path,
        bot_email: str = "",
        tracker: Tracker | None = None,
        limits: ParseLimits = ParseLimits(),
        chunk_size: int = 500,
        fault: FaultHook | None = None,
    ) -> None:
        self.store = store
        self.quarantine = Quarantine(quarantine_dir)
        self.bot_email = bot_email.lower()
        self.tracker = tracker
        self.limits = limits
        self.chunk_size = max(1, chunk_size)
        self._fault = fault or (lambda _step: None)
        self.written_bugs = WrittenBugs()

    # --- whole sources ------------------------------------------------------------------------

    def run(self, source: MailSource,
            progress: Callable[[IngestReport], None] | None = None) -> IngestReport:
        """Everything the source has after its stored checkpoint."""
        report = IngestReport()
        with long_lived_heap_frozen():
            for batch in source.batches(load_checkpoint(self.store, source.source_id)):
                report.merge(self.ingest(batch))
                if progress is not None:
                    progress(report)
        return report

    def ingest(self, batch: MailBatch) -> IngestReport:
        report = IngestReport()
        if batch.resync_reason:
            report.resyncs.append(batch.resync_reason)
        for start in range(0, len(batch.messages), self.chunk_size):
            chunk = batch.messages[start : start + self.chunk_size]
            for attempt in (1, 2):
                try:
                    report.merge(self._ingest_chunk(batch, chunk))
                    break
                except IntegrityError:
                    # Another ingester stored one of these Message-IDs between our check and
                    # our insert; the transaction rolled back, so re-check and try once more.
                    if attempt == 2:
                        raise
        return report

    # --- one chunk, one transaction -----------------------------------------------------------

    def _parse(self, chunk: list[SourceMessage]) -> list[tuple[SourceMessage, ParsedMail]]:
        return [(m, parse_mail(m.raw, bot_email=self.bot_email, limits=self.limits))
                for m in chunk]

    def _ingest_chunk(self, batch: MailBatch, chunk: list[SourceMessage]) -> IngestReport:
        report = IngestReport(received=len(chunk), chunks=1)
        parsed = self._parse(chunk)
        ids = list({p.message_id for _m, p in parsed})
        with self.store.session() as s:
            known = mail_repo.known_message_ids(s, ids)
        fresh: list[tuple[SourceMessage, ParsedMail]] = []
        for msg, p in parsed:
            if p.message_id in known:
                report.duplicates += 1
                continue
            known.add(p.message_id)
            fresh.append((msg, p))

        bugs, missing, rejected = self._fetch_bugs(fresh, report)
        rows: list[dict[str, Any]] = []
        events: list[list[MailEvent]] = []
        queue: dict[int, str] = {}
        stamp = now()
        for msg, p in fresh:
            status, reason, raw_path = "processed", "", ""
            if not p.problem and not p.ignored and p.bug_id in rejected and p.kind in BUG_KINDS:
                p = _replace_problem(p, f"the tracker rejected bug id {p.bug_id}: "
                                        f"{rejected[p.bug_id][:300]}")
            if not p.problem and not p.ignored and p.bug_id in missing and p.kind in BUG_KINDS:
                p = _replace_problem(p, f"X-Bugzilla-ID names bug {p.bug_id}, which the tracker "
                                        "does not have (forged or deleted notification)")
            if p.ignored:
                status, reason = "ignored", p.ignored
            elif p.problem:
                status, reason = "quarantined", p.problem
                raw_path = str(self.quarantine.keep(msg.raw))
            report.kinds[p.kind if status == "processed" else status] += 1
            if status == "quarantined":
                report.quarantined += 1
                report.reasons[_reason_class(reason)] += 1
            elif status == "ignored":
                report.ignored += 1
            else:
                report.processed += 1
                for ev in p.events:
                    for bug_id in _bug_ids(ev):
                        queue[bug_id] = f"mail {ev.kind.value} {p.message_id}"[:1000]
            rows.append({
                "message_id": p.message_id, "source": batch.source_id[:255],
                "uidvalidity": batch.uidvalidity, "uid": msg.uid, "kind": p.kind,
                "bug_id": p.bug_id, "status": status, "reason": reason,
                "subject": p.subject[:2000], "raw_path": raw_path, "received_at": stamp,
            })
            events.append(list(p.events) if status == "processed" else [])
        report.queued_bugs = set(queue)

        self._fault("before-transaction")
        with self.store.session() as s:
            self._write(s, batch, chunk, rows, events, queue, bugs, report.unsettled, stamp)
        self.written_bugs.remember(bugs)  # committed: the cache holds these copies now
        return report

    def _fetch_bugs(self, fresh: list[tuple[SourceMessage, ParsedMail]],
                    report: IngestReport) -> tuple[list[Bug], set[int], dict[int, str]]:
        wanted = sorted({p.bug_id for _m, p in fresh
                         if p.bug_id is not None and p.kind in BUG_KINDS
                         and not p.problem and not p.ignored})
        if not wanted or self.tracker is None:
            return [], set(), {}
        reader = _BatchReader(self.tracker)
        bugs, missing = reader.read(wanted)  # one call for the whole chunk, unless it fails
        report.tracker_calls += reader.calls
        answered = getattr(self.tracker, "server_time", None)
        if isinstance(answered, datetime):
            # Read in the very second of its last change: another change in that second would
            # not move last_change_time, so the sync must not trust this copy (see sync.py).
            limit = utc(answered).replace(microsecond=0) - SETTLE_MARGIN
            report.unsettled |= {b.id for b in bugs if b.last_change_time >= limit}
        return bugs, missing, reader.rejected

    def _write(self, s: Session, batch: MailBatch, chunk: list[SourceMessage],
               rows: list[dict[str, Any]], events: list[list[MailEvent]],
               queue: dict[int, str], bugs: list[Bug], unsettled: set[int],
               stamp: datetime) -> None:
        if rows:
            # The chunk's one timestamp converted for the driver once, not once per row.
            received = mail_repo.message_writer(s).convert("received_at", stamp)
            for row in rows:  # the rows are this chunk's own: set in place, not copied
                row["received_at"] = received
            ids = mail_repo.insert_messages(s, rows, converted=("received_at",))
            self._fault("after-messages")
            created = mail_repo.event_writer(s).convert("created_at", stamp)
            mail_repo.insert_events(s, [
                {"message_id": row_id, "kind": ev.kind.value, "bug_id": ev.bug_id,
                 "payload": mail_repo.event_payload(ev), "created_at": created, "consumed_at": None}
                for row_id, evs in zip(ids, events, strict=True) for ev in evs
            ], converted=("created_at",))
            self._fault("after-events")
        to_write = self.written_bugs.to_write(s, bugs) if bugs else []
        if to_write:
            bug_repo.upsert_bugs(s, to_write, fetched_at=stamp)
        if unsettled:
            sync_cp = get_checkpoint(s, SYNC_CHECKPOINT)
            if sync_cp is not None:  # without one, the next sync is a full one anyway
                sync_cp["unsettled"] = sorted(set(sync_cp.get("unsettled", [])) | unsettled)
                set_checkpoint(s, SYNC_CHECKPOINT, sync_cp)
        mail_repo.enqueue(s, queue, stamp)
        self._fault("after-queue")
        upsert_rows(s, Checkpoint.__table__,  # type: ignore[arg-type]
                [{"name": checkpoint_name(batch.source_id), "value": chunk[-1].checkpoint,
                  "updated_at": stamp}], "name", ["value", "updated_at"])
        self._fault("before-commit")


class _BatchReader:
    """One batched read for a chunk's bugs; when the tracker fails it, the batch is split in
    halves until the ids it rejects are found (a poisoned notification must quarantine one
    mail, not block the archive). An outage is not a rejection: when no part of the batch can
    be read, the error is raised and the chunk is retried later as a whole."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.calls = 0
        self.answered = False  # the tracker answered some part of this chunk
        self.rejected: dict[int, str] = {}

    def read(self, ids: list[int]) -> tuple[list[Bug], set[int]]:
        try:
            self.calls += 1
            result = self.tracker.get_bugs(ids, comments=True)
        except AuthenticationError:
            raise  # our key, not the ids
        except TrackerError as exc:
            outage = isinstance(exc, TrackerUnavailable)
            if len(ids) == 1:
                if outage and not self.answered:
                    raise
                self.rejected[ids[0]] = str(exc)
                return [], set()
            half = len(ids) // 2
            first = self.read(ids[:half])  # raises if nothing answered yet: an outage
            second = self.read(ids[half:])
            return first[0] + second[0], first[1] | second[1]
        self.answered = True
        found = {b.id for b in result.bugs}
        return list(result.bugs), set(result.missing) | (set(ids) - found)


def _bug_ids(ev: MailEvent) -> list[int]:
    ids = [c.bug_id for c in ev.commands if c.bug_id > 0]  # a ``confirm`` names no bug
    if ev.bug_id is not None and ev.kind in BUG_KINDS:
        ids.append(ev.bug_id)
    return ids


def _replace_problem(p: ParsedMail, problem: str) -> ParsedMail:
    return ParsedMail(**{**p.__dict__, "problem": problem, "events": ()})


def _reason_class(reason: str) -> str:
    """Group reasons for summaries: 'body is not valid utf-8: ... at byte 12' → its head."""
    head = reason.split(":", 1)[0]
    for marker in (" names bug ", "disagrees with subject", "message too large"):
        if marker in reason:
            return {" names bug ": "notification for a bug the tracker does not have",
                    "disagrees with subject": "X-Bugzilla-ID disagrees with subject",
                    "message too large": "message too large"}[marker]
    return head[:80]
