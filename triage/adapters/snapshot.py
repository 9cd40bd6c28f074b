"""A read-only tracker over a snapshot file, and the code that writes such a file.

The format (docs/snapshot.md) is Bugzilla's own REST JSON, gathered in one document, so the same
conversion code (:mod:`triage.adapters.bugzilla_convert`) reads a live answer and a snapshot:

    {"format": "xentriage-snapshot", "version": 1, "source": "...", "taken_at": "...Z",
     "products": ["Xen"],
     "bugs": [<GET /rest/bug objects>],
     "comments": {"<bug id>": {"comments": [<GET /rest/bug/<id>/comment objects>]}},
     "history": {"<bug id>": [<GET /rest/bug/<id>/history "history" entries>]},
     "attachments": {"<bug id>": [<GET /rest/bug/<id>/attachment objects, without "data">]},
     "users": {"<email>": {"groups": ["..."]}}}

``attachments`` is optional (snapshots written before it existed have none): a bug without an
entry has no attachments.

Writes are refused with :class:`ReadOnlyTracker`; the write ledger turns them into dry-run plans
before they get here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.adapters.bugzilla_convert import (
    ATTACHMENT_FIELDS,
    BUG_FIELDS,
    attachment_from_rest,
    bug_from_rest,
    comment_from_rest,
    history_from_rest,
)
from triage.adapters.tracker import BugBatch, ReadOnlyTracker, Tracker, TrackerError, WriteResult
from triage.model import (
    Attachment,
    Bug,
    BugUpdate,
    Comment,
    HistoryEntry,
    NewBug,
    format_bz_time,
    to_jsonable,
    utc,
)

FORMAT = "xentriage-snapshot"
VERSION = 1


class SnapshotError(TrackerError):
    """The snapshot file is missing, not JSON, or not in the snapshot format."""


class SnapshotTracker:
    """:class:`~triage.adapters.tracker.Tracker` serving a snapshot file, read-only."""

    name = "snapshot"
    read_only = True

    def __init__(self, path: Path, *, open_statuses: Sequence[str] = ()) -> None:
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise SnapshotError(f"snapshot {self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SnapshotError(f"{self.path} is not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise SnapshotError(f"{self.path}: unsupported snapshot version {data.get('version')}")
        self.source = str(data.get("source", ""))
        self.taken_at = data.get("taken_at")
        comments_raw = data.get("comments") or {}
        history_raw = data.get("history") or {}
        self._users: dict[str, Any] = data.get("users") or {}
        self._comments: dict[int, tuple[Comment, ...]] = {
            int(k): tuple(comment_from_rest(c) for c in v.get("comments", ()))
            for k, v in comments_raw.items()
        }
        self._history: dict[int, tuple[HistoryEntry, ...]] = {
            int(k): history_from_rest(v) for k, v in history_raw.items()
        }
        try:
            self._attachments: dict[int, tuple[Attachment, ...]] = {
                int(k): tuple(attachment_from_rest(a) for a in v)
                for k, v in (data.get("attachments") or {}).items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{self.path}: malformed attachment entry: {exc}") from None
        self._bugs: dict[int, Bug] = {}
        try:
            for raw in data.get("bugs", []):
                bug = bug_from_rest(raw, open_statuses=open_statuses)
                self._bugs[bug.id] = bug
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{self.path}: malformed bug entry: {exc}") from None

    def __len__(self) -> int:
        return len(self._bugs)

    def _full(self, bug: Bug, *, comments: bool, history: bool, attachments: bool) -> Bug:
        from dataclasses import replace

        return replace(
            bug,
            comments=tuple(sorted(self._comments.get(bug.id, ()), key=lambda c: (c.count, c.id)))
            if comments else (),
            history=self._history.get(bug.id, ()) if history else (),
            attachments=self._attachments.get(bug.id, ()) if attachments else (),
        )

    def get_bugs(self, ids: Sequence[int], *, comments: bool = True, history: bool = False,
                 attachments: bool = False) -> BugBatch:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        bugs = tuple(self._full(self._bugs[i], comments=comments, history=history,
                                attachments=attachments)
                     for i in wanted if i in self._bugs)
        return BugBatch(bugs=bugs, missing=tuple(i for i in wanted if i not in self._bugs))

    def get_comments(self, ids: Sequence[int]) -> tuple[dict[int, tuple[Comment, ...]],
                                                         list[int]]:
        present = [i for i in ids if i in self._bugs]
        return ({i: tuple(sorted(self._comments.get(i, ()), key=lambda c: (c.count, c.id)))
                 for i in present}, [i for i in ids if i not in self._bugs])

    def get_history(self, ids: Sequence[int]) -> tuple[dict[int, tuple[HistoryEntry, ...]],
                                                        list[int]]:
        present = [i for i in ids if i in self._bugs]
        return ({i: self._history.get(i, ()) for i in present},
                [i for i in ids if i not in self._bugs])

    def get_attachments(self, ids: Sequence[int]) -> tuple[dict[int, tuple[Attachment, ...]],
                                                            list[int]]:
        present = [i for i in ids if i in self._bugs]
        return ({i: self._attachments.get(i, ()) for i in present},
                [i for i in ids if i not in self._bugs])

    def search_changed_since(self, since: datetime | None, *, products: Sequence[str] = (),
                             open_only: bool = False) -> Iterator[Bug]:
        for bug_id in sorted(self._bugs):
            bug = self._bugs[bug_id]
            if since is not None and bug.last_change_time < utc(since):
                continue
            if products and bug.product not in products:
                continue
            if open_only and not bug.is_open:
                continue
            yield bug

    def search_whiteboard(self, marker: str) -> Iterator[Bug]:
        for bug_id in sorted(self._bugs):
            if marker.lower() in self._bugs[bug_id].whiteboard.lower():
                yield self._bugs[bug_id]

    def user_groups(self, email: str) -> tuple[str, ...]:
        entry = self._users.get(email) or {}
        return tuple(str(g) for g in entry.get("groups", ()))

    def update_bug(self, bug_id: int, update: BugUpdate, *, current: Bug | None = None
                   ) -> WriteResult:
        raise ReadOnlyTracker(f"the snapshot tracker ({self.path.name}) cannot write: "
                              f"update of bug {bug_id} not sent")

    def create_bug(self, new: NewBug) -> int:
        raise ReadOnlyTracker(f"the snapshot tracker ({self.path.name}) cannot file bugs")


# --- writing a snapshot ------------------------------------------------------------------------


def _rest_bug(bug: Bug) -> dict[str, Any]:
    data = to_jsonable(bug)
    out = {k: data[k] for k in BUG_FIELDS if k in data}
    out["flags"] = [{k: v for k, v in f.items() if v is not None} for f in data["flags"]]
    return out


def _rest_comment(c: Comment) -> dict[str, Any]:
    return {"id": c.id, "bug_id": c.bug_id, "count": c.count, "creator": c.author, "text": c.text,
            "creation_time": format_bz_time(c.creation_time), "time":
            format_bz_time(c.creation_time), "is_private": c.is_private,
            "attachment_id": c.attachment_id}


def _rest_attachment(a: Attachment) -> dict[str, Any]:
    data = to_jsonable(a)
    return {k: data[k] for k in ATTACHMENT_FIELDS if k in data}


def _rest_history(entries: Sequence[HistoryEntry]) -> list[dict[str, Any]]:
    return [{"who": h.who, "when": format_bz_time(h.when),
             "changes": [{k: v for k, v in to_jsonable(c).items() if v is not None}
                         for c in h.changes]} for h in entries]


def take_snapshot(
    tracker: Tracker,
    output: Path,
    *,
    products: Sequence[str] = (),
    since: datetime | None = None,
    source: str = "",
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Save what ``tracker`` holds (fields, comments, history, attachment metadata) to
    ``output``; returns the number
    of bugs. Written to a temporary file first and renamed, so a failed pull never leaves a
    truncated snapshot behind."""
    from dataclasses import replace

    found = list(tracker.search_changed_since(since, products=products))
    bugs: list[Bug] = []
    batched = callable(getattr(tracker, "get_comments", None)) and callable(
        getattr(tracker, "get_history", None))
    for start in range(0, len(found), batch_size):
        chunk = found[start : start + batch_size]
        if batched:
            # The search already carried the fields: comments, history and attachment metadata
            # are read, each in one request per batch.
            ids = [b.id for b in chunk]
            comments, gone = tracker.get_comments(ids)  # type: ignore[attr-defined]
            history, gone_h = tracker.get_history(  # type: ignore[attr-defined]
                [i for i in ids if i not in gone])
            lost = set(gone) | set(gone_h)
            files: dict[int, tuple[Attachment, ...]] = {}
            if callable(getattr(tracker, "get_attachments", None)):
                files, gone_a = tracker.get_attachments(  # type: ignore[attr-defined]
                    [i for i in ids if i not in lost])
                lost |= set(gone_a)
            bugs.extend(replace(b, comments=comments.get(b.id, ()), history=history.get(b.id, ()),
                                attachments=files.get(b.id, ()))
                        for b in chunk if b.id not in lost)
        else:
            batch = tracker.get_bugs([b.id for b in chunk], comments=True, history=True,
                                     attachments=True)
            bugs.extend(batch.bugs)
        if progress:
            progress(min(start + batch_size, len(found)), len(found))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "source": source,
        "taken_at": format_bz_time(datetime.now(UTC)),
        "products": list(products),
        "bugs": [_rest_bug(b) for b in bugs],
        "comments": {str(b.id): {"comments": [_rest_comment(c) for c in b.comments]}
                     for b in bugs},
        "history": {str(b.id): _rest_history(b.history) for b in bugs},
        "attachments": {str(b.id): [_rest_attachment(a) for a in b.attachments]
                        for b in bugs if b.attachments},
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(bugs)
