"""Mail sources: where the bugs list's mail comes from (IMAP for live push, mbox and Maildir for
backfill and the embedded default).

Every source hands out the same thing: batches of :class:`SourceMessage` (its UID or position, its
raw bytes, and the checkpoint that is reached once it has been processed). The source never
decides what is processed; the ingest pipeline commits each checkpoint in the same transaction as
the messages before it, so a crash re-delivers at most the uncommitted batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Checkpoint = dict[str, Any]


class MailSourceError(Exception):
    """The source cannot be read (and retrying will not help without a change)."""


class MailSourceUnavailable(MailSourceError):
    """The server is down or the connection broke: retry later."""


@dataclass(frozen=True)
class SourceMessage:
    uid: int  # IMAP UID, or the 1-based ordinal of the message in an archive
    raw: bytes
    checkpoint: Checkpoint  # the source position once this message is processed


@dataclass(frozen=True)
class MailBatch:
    source_id: str
    uidvalidity: int | None
    messages: list[SourceMessage] = field(default_factory=list)
    # Set when the source had to start over (UIDVALIDITY changed, archive replaced): the
    # pipeline's Message-ID dedupe turns the replay into no new events.
    resync_reason: str = ""


class MailSource(Protocol):
    source_id: str

    def batches(self, checkpoint: Checkpoint | None) -> Iterator[MailBatch]:
        """Every message after ``checkpoint``, in batches, oldest first; then return."""
        ...

    def close(self) -> None: ...


def detect_archive(path: Path) -> str:
    """``maildir`` for a folder with cur/ and new/, ``mbox`` for a file; else an error."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return "maildir"
        raise MailSourceError(f"{path} is a folder but not a Maildir (no cur/ and new/)")
    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(5)
        if head in (b"From ", b""):
            return "mbox"
        raise MailSourceError(f"{path} is not an mbox file (it does not start with 'From ')")
    raise MailSourceError(f"{path}: no such file or folder")


def open_archive(path: Path, *, batch_size: int = 500) -> MailSource:
    from triage.adapters.mail.archive import MaildirSource, MboxSource

    if detect_archive(path) == "maildir":
        return MaildirSource(path, batch_size=batch_size)
    return MboxSource(path, batch_size=batch_size)


__all__ = [
    "Checkpoint",
    "MailBatch",
    "MailSource",
    "MailSourceError",
    "MailSourceUnavailable",
    "SourceMessage",
    "detect_archive",
    "open_archive",
]
