"""The store's schema (SQLAlchemy 2 declarative). Alembic migrations in ``migrations/`` create it.

What the bot keeps is its own decisions and actions; Bugzilla stays the source of truth for bug
fields, so ``bugs`` is a cache that a sync can always rebuild.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        from triage.model import utc

        return None if value is None else utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from triage.model import utc

        return None if value is None else utc(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Checkpoint(Base):
    """Named sync positions: ``bugzilla:last_change_time``, ``imap:<folder>`` and so on."""

    __tablename__ = "checkpoints"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class BugRow(Base):
    """Cache of a bug's Bugzilla fields (``data`` is the full serialised :class:`Bug`)."""

    __tablename__ = "bugs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product: Mapped[str] = mapped_column(String(255), index=True)
    component: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(64), index=True)
    resolution: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text)
    creator: Mapped[str] = mapped_column(String(255))
    assigned_to: Mapped[str] = mapped_column(String(255), default="")
    is_open: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    creation_time: Mapped[datetime]
    last_change_time: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime]
    # Set when a fetch found the bug gone or private: kept, not silently dropped.
    unavailable_reason: Mapped[str] = mapped_column(Text, default="")


class AttachmentRow(Base):
    """Attachment metadata of cached bugs (name, description, type; never the data): what the
    checklist reads of attachments, queryable by bug. Rewritten with its bug on every refresh."""

    __tablename__ = "bug_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bug_id: Mapped[int] = mapped_column(Integer, index=True)
    file_name: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255), default="")
    creator: Mapped[str] = mapped_column(String(255))
    creation_time: Mapped[datetime]
    is_patch: Mapped[bool] = mapped_column(Boolean, default=False)
    is_obsolete: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer, default=0)


class TriageStateRow(Base):
    """A bug's current place in the process (DESIGN.md §2), with who claimed it."""

    __tablename__ = "triage_states"
    bug_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(32), index=True)
    since: Mapped[datetime]
    claimed_by: Mapped[str] = mapped_column(String(255), default="")
    claimed_at: Mapped[datetime | None]
    organisation: Mapped[str] = mapped_column(String(255), default="")
    fix_reference: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class TriageQueueEntry(Base):
    """A bug that something (a mail, a sync, a command) says the rules should look at soon."""

    __tablename__ = "triage_queue"
    bug_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime]


class Run(Base):
    """One invocation of a job that can write (triage pass, digest, sync)."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    production: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(32), default="running")  # ok|aborted|failed
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DecisionRow(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    bug_id: Mapped[int] = mapped_column(Integer, index=True)
    rule: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class ActionRow(Base):
    """An external write, keyed for idempotency.

    Life cycle: ``planned`` (recorded before sending) → ``sent`` → ``confirmed`` (seen applied);
    or ``dry-run`` (planned in a dry run; never blocks a later production write), ``failed``.
    A crash leaves ``planned``/``sent``: the next run looks for the write's marker in Bugzilla
    before sending again.
    """

    __tablename__ = "actions"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    bug_id: Mapped[int | None] = mapped_column(Integer, index=True)
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # update | create | mail | wiki
    target: Mapped[str] = mapped_column(String(255), default="")  # bugzilla | smtp | wiki
    status: Mapped[str] = mapped_column(String(16), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    marker: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]


class NagEntry(Base):
    """One bot action towards one person about one bug: the nag ledger shared by all rules."""

    __tablename__ = "nag_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bug_id: Mapped[int] = mapped_column(Integer)
    person: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str] = mapped_column(String(100))
    action_key: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    __table_args__ = (Index("ix_nag_bug_person", "bug_id", "person"),)


class MailMessage(Base):
    """Every mail seen from any source, once (Message-ID), processed or quarantined."""

    __tablename__ = "mail_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    source: Mapped[str] = mapped_column(String(255))  # imap:<folder> | mbox:<path> | maildir:<path>
    uidvalidity: Mapped[int | None]
    uid: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(32))
    bug_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16))  # processed | quarantined | ignored
    reason: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    raw_path: Mapped[str] = mapped_column(Text, default="")  # quarantined raw bytes kept here
    received_at: Mapped[datetime]


class MailEventRow(Base):
    """Typed events produced by mails, consumed by the triage engine."""

    __tablename__ = "mail_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mail_messages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    bug_id: Mapped[int | None] = mapped_column(Integer, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None] = mapped_column(index=True)


class CiFailure(Base):
    """A failure signature seen in the CI farm, and the bug that tracks it."""

    __tablename__ = "ci_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signature: Mapped[str] = mapped_column(String(255), unique=True)
    stage: Mapped[str] = mapped_column(String(16))  # build | boot
    first_line: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[Any]] = mapped_column(JSON, default=list)
    bug_id: Mapped[int | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_commented: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="failing")  # failing | passing
    # CI linking (0005): the class, the human title, the last grouping (affected set, cells,
    # regression revisions) and how Bugzilla answered (duplicate target, invalid).
    cls: Mapped[str] = mapped_column(String(32), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CiBuildResult(Base):
    """One finished farm build (pushed by the Buildbot reporter or swept from its REST API)."""

    __tablename__ = "ci_builds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buildbot_build_id: Mapped[int] = mapped_column(Integer)
    master: Mapped[str] = mapped_column(String(255), default="")
    cell: Mapped[str] = mapped_column(String(255), index=True)
    result: Mapped[str] = mapped_column(String(32))
    revision: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(String(255), default="")
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    finished_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("master", "buildbot_build_id"),)


class CiIntakeSeen(Base):
    """Replay ledger of the CI intake: the SHA-256 of each accepted post's timestamp + body."""

    __tablename__ = "ci_intake_seen"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class DigestSent(Base):
    """One weekly digest per ISO week: the key makes sending idempotent."""

    __tablename__ = "digests"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "2026-W48"
    kind: Mapped[str] = mapped_column(String(32))  # mail | wiki | preview
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(998), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class CommandToken(Base):
    """A confirmation token mailed to an account for a command mail it did not sign (only the
    token's SHA-256 is kept). ``used_at`` set: the token has done its one job."""

    __tablename__ = "command_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # subject and commands
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str] = mapped_column(String(998), default="")  # the confirming mail


class CommandCount(Base):
    """Commands read per sender and UTC day, for ``commands.max_per_sender_per_day``."""

    __tablename__ = "command_counts"
    sender: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    count: Mapped[int] = mapped_column(Integer, default=0)


class BisectionRow(Base):
    """One bisection (issue #17): queued by CI linking or by hand, run by the bisect job.

    Unique on what it asks (kind, cell, old, new, signature), so CI linking can queue the same
    regression on every pass and the queue holds it once. ``day`` is the UTC day it started:
    the per-day budget counts those."""

    __tablename__ = "bisections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # cause | fix
    cell: Mapped[str] = mapped_column(String(255), index=True)
    old: Mapped[str] = mapped_column(String(64))
    new: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(255), index=True)
    origin_signature: Mapped[str] = mapped_column(String(255), default="")
    origin_bug: Mapped[int | None]
    flake_rate: Mapped[float] = mapped_column(default=0.0)
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | done
    queued_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    day: Mapped[str] = mapped_column(String(10), default="", index=True)  # YYYY-MM-DD started
    status: Mapped[str] = mapped_column(String(16), default="")  # found | inconclusive | error
    first_new: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The Bugzilla write that reported it (the key), once confirmed.
    reported_key: Mapped[str] = mapped_column(String(255), default="")
    __table_args__ = (UniqueConstraint("kind", "cell", "old", "new", "signature"),)


class BisectionStep(Base):
    """One tested commit of a bisection with its verdict and runs (as the driver recorded it)."""

    __tablename__ = "bisection_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bisection_id: Mapped[int] = mapped_column(ForeignKey("bisections.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    commit: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))  # good | bad | skip
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
