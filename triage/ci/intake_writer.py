"""The intake's store side: checked posts written in group commits.

Each request thread hands its checked post (digest + results) to one writer thread and waits
for the commit that holds it, so a 200 still means stored, while the posts that arrive together
cost one transaction and a few statements between them (triage.store.ci.record_posts) instead
of a transaction each. Profiling the intake showed the per-post transaction, the replay
ledger's prune and the ORM's statement building as most of its CPU (docs/BENCHMARKS.md, "CI
intake"); the ledger is now pruned at most once a minute (an entry lives a little longer than
twice the skew, which never lets a replay through), the statements are prebuilt Core ones on
a plain connection, and a group first tries only its two inserts: a replay or a build stored
before fails a unique constraint, and the group is then written again looking first.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from triage.ci.model import CellResult
from triage.store import Store
from triage.store import ci as ci_rows

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(seconds=60)
REPLAYED = None  # the fate of a post whose digest the ledger holds


class StoreUnavailable(Exception):
    """The store could not take the post: the caller refuses it (the sweep catches up)."""


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Pending:
    digest: str
    results: list[CellResult]
    now: datetime
    # Held until the commit is done: a bare lock is the cheapest hand-back between threads
    # (an Event's Condition cost the writer more than a small group commit in the profile).
    done: threading.Lock = field(default_factory=_held_lock)
    fates: list[str] | None = None
    failed: bool = False


class GroupCommit:
    """``submit(digest, results, now)`` -> each result's fate (``stored`` | ``known``), or
    None for a replayed post; raises :class:`StoreUnavailable`."""

    def __init__(self, store: Store, keep: timedelta, batch: int = 256) -> None:
        self.store, self.keep, self.batch = store, keep, batch
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.pruned_at: datetime | None = None
        self.thread = threading.Thread(target=self._loop, name="ci-intake-writer", daemon=True)
        self.thread.start()

    def submit(self, digest: str, results: list[CellResult], now: datetime) -> list[str] | None:
        item = _Pending(digest, results, now)
        self.queue.put(item)
        item.done.acquire()  # released by the writer once the post's commit is done
        if item.failed:
            raise StoreUnavailable
        return item.fates

    def _loop(self) -> None:
        while True:
            items = [self.queue.get()]
            while len(items) < self.batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(items)
            except Exception as exc:  # a conflict with another writer (the sweep), or worse
                log.warning("ci intake: batch of %d posts failed (%s): one by one", len(items),
                            type(exc).__name__)
                for item in items:
                    try:
                        self._commit([item])
                    except Exception as one:  # the store failed: refused, the sweep catches up
                        log.error("ci intake: could not store a post: %s", type(one).__name__)
                        item.failed = True
            for item in items:
                item.done.release()

    def _commit(self, items: list[_Pending]) -> None:
        now = max(i.now for i in items)
        prune = self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY
        posts = [(i.digest, i.results) for i in items]
        try:
            # No replay and no build stored before: the common case costs two inserts.
            with self.store.connection() as conn:
                fates = self._record(conn, posts, now, prune, optimistic=True)
        except IntegrityError:  # a replay, or a build already stored: look before inserting
            with self.store.connection() as conn:
                fates = self._record(conn, posts, now, prune, optimistic=False)
        if prune:
            self.pruned_at = now
        for item, fate in zip(items, fates, strict=True):
            item.fates = fate

    def _record(self, conn: Connection, posts: list[tuple[str, list[CellResult]]],
                now: datetime, prune: bool, *, optimistic: bool) -> list[list[str] | None]:
        if prune:
            ci_rows.prune_posts(conn, now - self.keep)
        return ci_rows.record_posts(conn, posts, now, optimistic=optimistic)
