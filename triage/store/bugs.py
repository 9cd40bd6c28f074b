"""The ``bugs`` cache: what the last sync saw of each bug (Bugzilla stays the source of truth).

``bugs.data`` is the whole serialised :class:`~triage.model.Bug` (what the rules read, attachments
included); ``bug_attachments`` keeps the attachment metadata as rows, rewritten with the bug, so
attachments can be queried by bug without decoding every cached bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.model import Attachment, Bug, bug_from_dict, to_jsonable, utc
from triage.store.chunks import chunked
from triage.store.tables import AttachmentRow, BugRow


@dataclass(frozen=True)
class StoredBugState:
    last_change_time: datetime
    unavailable_reason: str


def stored_states(session: Session, ids: Iterable[int]) -> dict[int, StoredBugState]:
    """``last_change_time`` and availability of the given bugs, for "has it changed?" checks."""
    wanted = list(ids)
    out: dict[int, StoredBugState] = {}
    for chunk in chunked(wanted):
        rows = session.execute(
            select(BugRow.id, BugRow.last_change_time, BugRow.unavailable_reason).where(
                BugRow.id.in_(chunk)
            )
        )
        for bug_id, lct, reason in rows:
            out[int(bug_id)] = StoredBugState(utc(lct), reason or "")
    return out


def upsert_bug(session: Session, bug: Bug, *, fetched_at: datetime | None = None) -> bool:
    """Insert or refresh one bug; returns False (no write) when the stored copy is identical."""
    data = to_jsonable(bug)
    row = session.get(BugRow, bug.id)
    if row is not None and row.data == data and not row.unavailable_reason:
        return False
    values = _values(bug, data, fetched_at or datetime.now(UTC))
    if row is None:
        session.add(BugRow(id=bug.id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
    _replace_attachments(session, [bug])
    return True


def _replace_attachments(session: Session, bugs: Sequence[Bug]) -> None:
    """The attachment rows of ``bugs``, rewritten from what the tracker returned (an attachment
    made obsolete or private since is updated or gone, never stale)."""
    from sqlalchemy import delete

    ids = [b.id for b in bugs]
    for chunk in chunked(ids):
        session.execute(delete(AttachmentRow).where(AttachmentRow.bug_id.in_(chunk)))
    for bug in bugs:
        for a in bug.attachments:
            session.merge(AttachmentRow(
                id=a.id, bug_id=bug.id, file_name=a.file_name, summary=a.summary,
                content_type=a.content_type, creator=a.creator, creation_time=a.creation_time,
                is_patch=a.is_patch, is_obsolete=a.is_obsolete, size=a.size))


def attachments_for(session: Session, bug_id: int) -> tuple[Attachment, ...]:
    """The stored attachment metadata of one bug, oldest first."""
    rows = session.scalars(select(AttachmentRow).where(AttachmentRow.bug_id == bug_id)
                           .order_by(AttachmentRow.id))
    return tuple(Attachment(id=r.id, bug_id=r.bug_id, file_name=r.file_name, summary=r.summary,
                            content_type=r.content_type, creator=r.creator,
                            creation_time=utc(r.creation_time), is_patch=r.is_patch,
                            is_obsolete=r.is_obsolete, size=r.size) for r in rows)


def upsert_bugs(session: Session, bugs: Sequence[Bug], *, fetched_at: datetime | None = None
                ) -> int:
    """:func:`upsert_bug` for many bugs with one SELECT per chunk of ids; returns rows written."""
    existing: dict[int, BugRow] = {}
    ids = [b.id for b in bugs]
    with session.no_autoflush:
        for chunk in chunked(ids):
            for row in session.scalars(select(BugRow).where(BugRow.id.in_(chunk))):
                existing[row.id] = row
        written = 0
        now = fetched_at or datetime.now(UTC)
        changed: list[Bug] = []
        for bug in bugs:
            data = to_jsonable(bug)
            found = existing.get(bug.id)
            if found is not None and found.data == data and not found.unavailable_reason:
                continue
            values = _values(bug, data, now)
            if found is None:
                created = BugRow(id=bug.id, **values)
                session.add(created)
                existing[bug.id] = created
            else:
                for key, value in values.items():
                    setattr(found, key, value)
            written += 1
            changed.append(bug)
        if changed:
            _replace_attachments(session, changed)
    return written


def _values(bug: Bug, data: dict[str, object], fetched_at: datetime) -> dict[str, object]:
    return dict(
        product=bug.product, component=bug.component, status=bug.status,
        resolution=bug.resolution, summary=bug.summary, creator=bug.creator,
        assigned_to=bug.assigned_to, is_open=bug.is_open, creation_time=bug.creation_time,
        last_change_time=bug.last_change_time, data=data, fetched_at=fetched_at,
        unavailable_reason="",
    )


def mark_unavailable(session: Session, bug_id: int, reason: str) -> bool:
    """Note that a bug vanished or became private; the last known copy is kept."""
    row = session.get(BugRow, bug_id)
    if row is None:
        return False
    if row.unavailable_reason == reason:
        return False
    row.unavailable_reason = reason
    row.fetched_at = datetime.now(UTC)
    return True


def get_bug(session: Session, bug_id: int) -> Bug | None:
    row = session.get(BugRow, bug_id)
    return bug_from_dict(row.data) if row is not None else None


@dataclass(frozen=True)
class BugListing:
    bug: Bug
    unavailable_reason: str
    fetched_at: datetime


def list_bugs(
    session: Session,
    *,
    products: Sequence[str] = (),
    statuses: Sequence[str] = (),
    is_open: bool | None = None,
    creator: str | None = None,
    limit: int | None = None,
    include_unavailable: bool = True,
) -> list[BugListing]:
    """Stored bugs, newest change first."""
    query = select(BugRow).order_by(BugRow.last_change_time.desc(), BugRow.id.desc())
    if products:
        query = query.where(BugRow.product.in_(list(products)))
    if statuses:
        query = query.where(BugRow.status.in_(list(statuses)))
    if is_open is not None:
        query = query.where(BugRow.is_open.is_(is_open))
    if creator:
        query = query.where(BugRow.creator == creator)
    if not include_unavailable:
        query = query.where(BugRow.unavailable_reason == "")
    if limit is not None:
        query = query.limit(limit)
    return [
        BugListing(bug_from_dict(row.data), row.unavailable_reason or "", utc(row.fetched_at))
        for row in session.scalars(query)
    ]


def count_bugs(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(BugRow)) or 0)


def open_bug_ids(session: Session) -> list[int]:
    """Every open, available bug of the cache, by id: the daily pass's selection."""
    return [int(i) for i in session.scalars(select(BugRow.id).where(
        BugRow.is_open.is_(True), BugRow.unavailable_reason == "").order_by(BugRow.id))]


def cached_bugs(session: Session, ids: Iterable[int]) -> dict[int, Bug]:
    """The cached copies of ``ids`` (absent ones left out), one query per chunk."""
    out: dict[int, Bug] = {}
    for chunk in chunked(ids):
        for row_id, data in session.execute(select(BugRow.id, BugRow.data)
                                            .where(BugRow.id.in_(chunk))):
            out[int(row_id)] = bug_from_dict(data)
    return out


def known_accounts(session: Session) -> frozenset[str]:
    """Reporters and assignees of every cached bug, lower-cased (one query, two columns)."""
    rows = session.execute(select(BugRow.creator, BugRow.assigned_to).distinct())
    return frozenset(a.lower() for row in rows for a in row if a)
