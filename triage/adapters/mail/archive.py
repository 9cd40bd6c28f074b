"""Archive sources: an mbox file or a Maildir folder, read in order, resumable.

mbox is read as a stream (one message in memory at a time, whatever the archive's size): the
format is the one :class:`mailbox.mbox` writes and reads, where every line that starts with
``From `` begins a message. The checkpoint is the byte offset after the last processed message
plus a fingerprint of the archive's first bytes, so appending to the archive resumes where it
stopped, and a replaced archive (different start, or shorter than the offset) starts over.

Maildir goes through :class:`mailbox.Maildir`; its keys are delivery-time based unique names, read
in sorted order, and the checkpoint is the last key processed.
"""

from __future__ import annotations

import hashlib
import logging
import mailbox
from collections.abc import Iterator
from pathlib import Path

from triage.adapters.mail import Checkpoint, MailBatch, MailSourceError, SourceMessage

log = logging.getLogger(__name__)
_FINGERPRINT_BYTES = 4096


def _fingerprint(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.sha256(fh.read(_FINGERPRINT_BYTES)).hexdigest()[:32]


def iter_mbox(path: Path, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """``(offset, end_offset, raw)`` per message from byte ``start`` on; constant memory.

    Like :class:`mailbox.mbox`: the ``From `` separator line is not part of the message, and the
    blank line that precedes the next separator is dropped."""
    with path.open("rb") as fh:
        fh.seek(start)
        offset = start
        msg_start: int | None = None
        lines: list[bytes] = []
        while True:
            line = fh.readline()
            if not line or line.startswith(b"From "):
                if msg_start is not None:
                    if lines and lines[-1] in (b"\n", b"\r\n"):
                        lines.pop()
                    yield msg_start, offset, b"".join(lines)
                if not line:
                    return
                msg_start = offset
                lines = []
            else:
                lines.append(line)
            offset += len(line)


class MboxSource:
    def __init__(self, path: Path, *, batch_size: int = 500) -> None:
        self.path = path
        self.batch_size = batch_size
        self.source_id = f"mbox:{path.resolve()}"

    def batches(self, checkpoint: Checkpoint | None) -> Iterator[MailBatch]:
        if not self.path.is_file():
            raise MailSourceError(f"{self.path}: no such mbox file")
        fingerprint = _fingerprint(self.path)
        size = self.path.stat().st_size
        start, ordinal, resync = 0, 0, ""
        if checkpoint:
            if checkpoint.get("fingerprint") != fingerprint or checkpoint.get("offset", 0) > size:
                resync = "the archive was replaced (its start or size changed): reading it again"
                log.warning("%s: %s", self.path, resync)
            else:
                start, ordinal = int(checkpoint["offset"]), int(checkpoint.get("uid", 0))
        batch: list[SourceMessage] = []
        for _offset, end, raw in iter_mbox(self.path, start):
            ordinal += 1
            cp = {"offset": end, "uid": ordinal, "fingerprint": fingerprint}
            batch.append(SourceMessage(uid=ordinal, raw=raw, checkpoint=cp))
            if len(batch) >= self.batch_size:
                yield MailBatch(self.source_id, None, batch, resync)
                batch, resync = [], ""
        if batch or resync:
            yield MailBatch(self.source_id, None, batch, resync)

    def close(self) -> None:
        return None


class MaildirSource:
    def __init__(self, path: Path, *, batch_size: int = 500) -> None:
        self.path = path
        self.batch_size = batch_size
        self.source_id = f"maildir:{path.resolve()}"

    def batches(self, checkpoint: Checkpoint | None) -> Iterator[MailBatch]:
        box = mailbox.Maildir(self.path, factory=None, create=False)
        last = str(checkpoint.get("last_key", "")) if checkpoint else ""
        ordinal = int(checkpoint.get("uid", 0)) if checkpoint else 0
        batch: list[SourceMessage] = []
        try:
            keys = sorted(k for k in box.iterkeys() if k > last)
            for key in keys:
                try:
                    raw = box.get_bytes(key)
                except KeyError:  # delivered and removed between listing and reading
                    continue
                ordinal += 1
                cp = {"last_key": key, "uid": ordinal}
                batch.append(SourceMessage(uid=ordinal, raw=raw, checkpoint=cp))
                if len(batch) >= self.batch_size:
                    yield MailBatch(self.source_id, None, batch)
                    batch = []
        finally:
            box.close()
        if batch:
            yield MailBatch(self.source_id, None, batch)

    def close(self) -> None:
        return None
