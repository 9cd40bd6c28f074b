"""Confirmation tokens (``command_tokens``) and daily command counts (``command_counts``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from triage.commands.confirm import PendingConfirmation
from triage.model import TriageCommand, to_jsonable
from triage.store.tables import CommandCount, CommandToken


def load_confirmations(session: Session, hashes: Iterable[str], message_ids: Iterable[str]
                       ) -> dict[str, PendingConfirmation]:
    """Tokens by hash: those named, and those issued for the given command mails."""
    hashes, message_ids = sorted(set(hashes)), sorted(set(message_ids))
    if not hashes and not message_ids:
        return {}
    out: dict[str, PendingConfirmation] = {}
    for start in range(0, max(len(hashes), len(message_ids)), 400):
        query = select(CommandToken).where(or_(
            CommandToken.token_hash.in_(hashes[start : start + 400]),
            CommandToken.message_id.in_(message_ids[start : start + 400])))
        for row in session.scalars(query):
            payload = dict(row.payload or {})
            out[row.token_hash] = PendingConfirmation(
                token_hash=row.token_hash, sender=row.sender, message_id=row.message_id,
                subject=str(payload.get("subject", "")),
                commands=tuple(TriageCommand(**c) for c in payload.get("commands", ())),
                issued_at=row.issued_at, expires_at=row.expires_at, used_at=row.used_at)
    return out


def record_tokens(session: Session, records: Iterable[PendingConfirmation]) -> None:
    """Record issued tokens (before their mail is sent); an existing row is kept as it is."""
    for record in records:
        if session.get(CommandToken, record.token_hash) is not None:
            continue
        session.add(CommandToken(
            token_hash=record.token_hash, sender=record.sender, message_id=record.message_id,
            payload={"subject": record.subject,
                     "commands": to_jsonable(list(record.commands))},
            issued_at=record.issued_at, expires_at=record.expires_at, used_at=None,
            used_by=""))
    session.flush()


def use_tokens(session: Session, uses: Mapping[str, str], now: datetime) -> None:
    """``{token hash: confirming Message-ID}``: each token is used up once, by the first."""
    for digest, by in uses.items():
        row = session.get(CommandToken, digest)
        if row is not None and row.used_at is None:
            row.used_at = now
            row.used_by = by[:998]


def counts_today(session: Session, senders: Iterable[str], now: datetime) -> dict[str, int]:
    senders = sorted(set(senders))
    if not senders:
        return {}
    day = f"{now:%Y-%m-%d}"
    rows = session.execute(select(CommandCount.sender, CommandCount.count).where(
        CommandCount.day == day, CommandCount.sender.in_(senders)))
    return {sender: int(count) for sender, count in rows}


def add_counts(session: Session, counts: Mapping[str, int], now: datetime) -> None:
    day = f"{now:%Y-%m-%d}"
    for sender, n in counts.items():
        if n <= 0:
            continue
        row = session.get(CommandCount, (sender[:255], day))
        if row is None:
            session.add(CommandCount(sender=sender[:255], day=day, count=n))
        else:
            row.count += n
