"""The narrow interface every bug tracker adapter implements.

Two implementations: the live Bugzilla gateway (:mod:`triage.adapters.bugzilla`, the only module
that imports python-bugzilla) and the read-only snapshot tracker (:mod:`triage.adapters.snapshot`),
which serves a saved copy of a Bugzilla and shows every write as a dry-run plan. The core (rules,
engine, mail, digest, CI linking) sees only this protocol and the dataclasses of
:mod:`triage.model`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from triage.model import Bug, BugUpdate, NewBug


class TrackerError(Exception):
    """A tracker call failed. ``code`` is Bugzilla's fault code where it gave one."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable


class TrackerUnavailable(TrackerError):
    """Down, timing out, or answering 5xx / non-JSON after all retries."""


class AuthenticationError(TrackerError):
    """Bad or missing API key (Bugzilla code 306, or a 401 on a call that needs login)."""


class BugNotFound(TrackerError):
    """No such bug, or not visible to this account (private)."""


class InvalidValue(TrackerError):
    """Bugzilla rejected a field value (unknown status, keyword, user, version...)."""


class PermissionDenied(TrackerError):
    """The account may not do this (Bugzilla codes 115, 123, 106...): not retryable."""


class ReadOnlyTracker(TrackerError):
    """A write was attempted on a tracker that cannot write (a snapshot)."""


@dataclass(frozen=True)
class BugBatch:
    """Result of a batched read: what was found, and the ids Bugzilla silently dropped
    (deleted, private, or never existed), so callers can report them instead of losing them."""

    bugs: tuple[Bug, ...]
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class WriteResult:
    bug_id: int
    comment_id: int | None = None
    changed_fields: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Tracker(Protocol):
    name: str
    read_only: bool

    def get_bugs(
        self,
        ids: Sequence[int],
        *,
        comments: bool = True,
        history: bool = False,
        attachments: bool = False,
    ) -> BugBatch:
        """Many bugs in as few requests as possible (batched ``include_fields``)."""
        ...

    def search_changed_since(
        self, since: datetime | None, *, products: Sequence[str] = (), open_only: bool = False
    ) -> Iterator[Bug]:
        """Bugs whose ``last_change_time`` is at or after ``since`` (all when None), paged.
        Bugs come without comments/history; fetch those with :meth:`get_bugs`."""
        ...

    def search_whiteboard(self, marker: str) -> Iterator[Bug]:
        """Bugs whose whiteboard contains ``marker`` (substring): find-or-file by marker."""
        ...

    def update_bug(self, bug_id: int, update: BugUpdate, *, current: Bug | None = None
                   ) -> WriteResult:
        """Apply ``update``; ``current`` is the bug as just read, if the caller has it (whiteboard
        tag edits are computed from it instead of reading the bug again)."""
        ...

    def create_bug(self, new: NewBug) -> int: ...

    def user_groups(self, email: str) -> tuple[str, ...]:
        """Bugzilla group names of an account (for the corporate filter); () if unknown."""
        ...
