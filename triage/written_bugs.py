"""What a mail ingester already wrote to the bug cache, so an archive import does not rewrite it.

A backfill names the same bugs over and over (every comment, change and flag mail of a bug), and
each chunk reads its bugs from the tracker in one batch and upserts them. Comparing each fetched
bug with the stored copy costs more than parsing its mail (load and decode the stored JSON,
serialise the fetched bug, compare). The ingester remembers the hash of every bug it wrote or
found identical; a bug whose fetched copy hashes the same is skipped, but only after one cheap
query shows the stored row is still that copy's: available (no sync marked it gone since) and at
the same ``last_change_time`` (no newer copy written by a sync or a triage run since; an older
one is overwritten as before). Memory is bounded: past ``limit`` ids the memo starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from triage.model import Bug
from triage.store import mail as mail_repo


def _digest(bug: Bug) -> int | None:
    try:
        return hash(bug)  # frozen dataclass of tuples: every field, recursively
    except TypeError:  # an adapter left a list in it: not remembered, always compared
        return None


class WrittenBugs:
    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._seen: dict[int, int] = {}
        self.skipped = 0

    def to_write(self, session: Session, bugs: Sequence[Bug]) -> list[Bug]:
        """The bugs of ``bugs`` the cache may not hold yet (the rest are the stored copies)."""
        known = [b for b in bugs if (d := _digest(b)) is not None and self._seen.get(b.id) == d]
        if not known:
            return list(bugs)
        same = mail_repo.current_bug_ids(session, {b.id: b.last_change_time for b in known})
        self.skipped += len(same)
        return [b for b in bugs if b.id not in same]

    def remember(self, bugs: Sequence[Bug]) -> None:
        """Call once the transaction that wrote (or kept) ``bugs`` has committed."""
        if len(self._seen) + len(bugs) > self.limit:
            self._seen.clear()
        for bug in bugs:
            digest = _digest(bug)
            if digest is not None:
                self._seen[bug.id] = digest
