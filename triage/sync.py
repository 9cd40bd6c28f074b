"""Incremental Bugzilla → store sync by ``last_change_time``.

Cost (see docs/bugzilla.md): one search page per ``page_size`` bugs that changed in the window,
plus one batched comment read per ``comment_batch_size`` bugs that actually changed. A bug is
"changed" when the store has no copy, a different ``last_change_time``, or marked it unavailable.

Correctness at the boundaries:

* **Overlap.** An incremental sync searches from ``checkpoint - sync_overlap_seconds``: Bugzilla's
  timestamps have one-second granularity and a change committed late in a second can become
  visible after a search in that second. Bugs in the overlap whose stored ``last_change_time`` is
  unchanged are skipped, so nothing is processed twice and a quiet sync writes nothing.
* **The same second.** A bug whose ``last_change_time`` is the very second in which the search was
  answered (the server's ``Date`` header, less a one-second margin for clock skew) may change
  again within that second without its timestamp moving. Such bugs are remembered in the
  checkpoint as *unsettled* and read again by the next sync whatever their timestamp says.
* **Vanished bugs.** A bug that a search returned but that is gone or private when its comments
  are read is stored with ``unavailable_reason`` (its last known copy kept), never silently lost.
  A full sync also marks stored bugs of the synced products that the search no longer returns.
* **Crash safety.** Bugs are committed batch by batch; the checkpoint moves only at the end, so an
  interrupted sync repeats (cheaply: unchanged bugs are skipped) rather than skips.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from triage.adapters.tracker import Tracker
from triage.config import Settings
from triage.model import Bug, Comment, HistoryEntry, format_bz_time, parse_bz_time, utc
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store.checkpoints import get_checkpoint, set_checkpoint
from triage.store.queue import enqueue
from triage.store.tables import BugRow

log = logging.getLogger(__name__)

CHECKPOINT = "bugzilla:last_change_time"
# The web server's clock (Date header) and the database's (last_change_time) may differ a little:
# a bug changed up to this long before the answer's Date still counts as unsettled.
SETTLE_MARGIN = timedelta(seconds=1)
UNAVAILABLE_AT_FETCH = "not visible when fetched (deleted, moved or made private)"
UNAVAILABLE_IN_FULL = "not returned by a full sync (deleted, moved or made private)"


@runtime_checkable
class BatchedReads(Protocol):
    """Optional tracker extension: comments/history of many bugs without re-reading bug fields.
    Both return (data by bug id, ids that are gone or private)."""

    def get_comments(self, ids: Sequence[int]) -> tuple[dict[int, tuple[Comment, ...]],
                                                         list[int]]: ...

    def get_history(self, ids: Sequence[int]) -> tuple[dict[int, tuple[HistoryEntry, ...]],
                                                        list[int]]: ...


@dataclass(frozen=True)
class SyncProgress:
    phase: str  # "search" | "fetch"
    done: int
    total: int | None


@dataclass(frozen=True)
class SyncReport:
    mode: str  # "full" | "incremental"
    since: datetime | None
    seen: int = 0  # bugs the search returned
    fetched: int = 0  # bugs whose comments were read
    stored: int = 0  # rows written (new or different)
    unchanged: int = 0  # skipped: same last_change_time as stored
    unavailable: tuple[int, ...] = ()
    checkpoint: datetime | None = None
    requests: int | None = None  # requests the tracker made, when it counts them
    seconds: float = 0.0
    unsettled: tuple[int, ...] = field(default=())

    def summary(self) -> str:
        since = format_bz_time(self.since) if self.since else "the beginning"
        parts = [f"{self.mode} sync since {since}: {self.seen} seen, {self.fetched} fetched, "
                 f"{self.stored} stored, {self.unchanged} unchanged"]
        if self.unavailable:
            parts.append(f"{len(self.unavailable)} unavailable")
        if self.requests is not None:
            parts.append(f"{self.requests} requests")
        parts.append(f"{self.seconds:.1f}s")
        return ", ".join(parts)


def _requests_made(tracker: Any) -> int | None:
    value = getattr(tracker, "requests_made", None)
    return int(value) if isinstance(value, int) else None


def sync_bugs(
    store: Store,
    tracker: Tracker,
    settings: Settings,
    *,
    full: bool = False,
    since: datetime | None = None,
    progress: Callable[[SyncProgress], None] | None = None,
) -> SyncReport:
    """Bring the store's bug cache up to date with ``tracker``; see the module docstring."""
    started = time.monotonic()
    requests_before = _requests_made(tracker)
    bz = settings.bugzilla
    products = list(bz.products)
    with store.session() as s:
        checkpoint = get_checkpoint(s, CHECKPOINT) or {}
    cp_time = parse_bz_time(checkpoint.get("time")) if checkpoint else None
    unsettled_before = {int(i) for i in checkpoint.get("unsettled", [])}
    if checkpoint and sorted(checkpoint.get("products", [])) != sorted(products):
        log.info("bugzilla.products changed since the last sync: doing a full sync")
        full = True
    if since is not None:
        search_from: datetime | None = utc(since)
    elif full or cp_time is None:
        search_from = None
    else:
        search_from = cp_time - timedelta(seconds=bz.sync_overlap_seconds)
    mode = "full" if search_from is None else "incremental"
    report = SyncReport(mode=mode, since=search_from)

    # 1. Search: bug fields for everything changed in the window (no comments yet).
    found: list[Bug] = []
    unsettled: list[int] = []
    for bug in tracker.search_changed_since(search_from, products=products):
        answered = getattr(tracker, "server_time", None)  # the Date of the page holding this bug
        if isinstance(answered, datetime) and bug.last_change_time >= utc(answered).replace(
                microsecond=0) - SETTLE_MARGIN:
            unsettled.append(bug.id)
        found.append(bug)
        if progress and len(found) % bz.page_size == 0:
            progress(SyncProgress("search", len(found), None))
    if progress:
        progress(SyncProgress("search", len(found), len(found)))

    # 2. Decide what changed.
    with store.session() as s:
        stored = bug_repo.stored_states(s, (b.id for b in found))
    todo: list[Bug] = []
    for bug in found:
        state = stored.get(bug.id)
        if (full or state is None or state.unavailable_reason
                or state.last_change_time != bug.last_change_time or bug.id in unsettled_before):
            todo.append(bug)
    report = replace(report, seen=len(found), unchanged=len(found) - len(todo))

    # 3. Fetch comments (and history) in batches; store batch by batch.
    fetched = stored_count = 0
    unavailable: list[int] = []
    batch_size = max(1, bz.comment_batch_size)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        complete, gone = _complete(tracker, batch, history=bz.sync_history)
        now = datetime.now(UTC)
        with store.session() as s:
            stored_count += bug_repo.upsert_bugs(s, complete, fetched_at=now)
            # Changed bugs go to the rules in the same transaction: the sync is the safety net
            # for notifications the list never delivered, so it must trigger triage like a mail.
            enqueue(s, {b.id: "changed in Bugzilla (sync)" for b in complete}, now)
            for bug in batch:
                if bug.id in gone:
                    if s.get(BugRow, bug.id) is None:
                        bug_repo.upsert_bug(s, bug, fetched_at=now)
                        s.flush()
                    bug_repo.mark_unavailable(s, bug.id, UNAVAILABLE_AT_FETCH)
                    unavailable.append(bug.id)
        fetched += len(complete)
        if progress:
            progress(SyncProgress("fetch", min(start + batch_size, len(todo)), len(todo)))
        if gone:
            log.warning("%d bug(s) vanished or became private during the sync: %s", len(gone),
                        ", ".join(map(str, sorted(gone))))

    # 4. A full sync also notices bugs that no longer show up at all.
    if search_from is None and products:
        seen_ids = {b.id for b in found}
        with store.session() as s:
            for listing in bug_repo.list_bugs(s, products=products, include_unavailable=False):
                if listing.bug.id not in seen_ids:
                    bug_repo.mark_unavailable(s, listing.bug.id, UNAVAILABLE_IN_FULL)
                    unavailable.append(listing.bug.id)

    # 5. Advance the checkpoint (only writes when it moved).
    newest = max((b.last_change_time for b in found), default=None)
    new_time = max(t for t in (newest, cp_time) if t is not None) if (newest or cp_time) else None
    if new_time is not None:
        value = {
            "time": format_bz_time(new_time),
            "unsettled": sorted(set(unsettled)),
            "products": sorted(products),
        }
        with store.session() as s:
            set_checkpoint(s, CHECKPOINT, value)
    requests_after = _requests_made(tracker)
    return replace(
        report,
        fetched=fetched,
        stored=stored_count,
        unavailable=tuple(unavailable),
        checkpoint=new_time,
        unsettled=tuple(sorted(set(unsettled))),
        requests=(requests_after - requests_before)
        if requests_after is not None and requests_before is not None else None,
        seconds=time.monotonic() - started,
    )


def _complete(tracker: Tracker, batch: Sequence[Bug], *, history: bool
              ) -> tuple[list[Bug], set[int]]:
    """The bugs of ``batch`` with their comments (and history); plus the ids that are gone."""
    ids = [b.id for b in batch]
    if isinstance(tracker, BatchedReads):
        comments, gone_list = tracker.get_comments(ids)
        gone = set(gone_list)
        hist: dict[int, tuple[HistoryEntry, ...]] = {}
        if history:
            hist, gone_h = tracker.get_history([i for i in ids if i not in gone])
            gone |= set(gone_h)
        return [
            replace(b, comments=comments.get(b.id, ()), history=hist.get(b.id, b.history))
            for b in batch if b.id not in gone
        ], gone
    result = tracker.get_bugs(ids, comments=True, history=history)
    return list(result.bugs), set(result.missing)
