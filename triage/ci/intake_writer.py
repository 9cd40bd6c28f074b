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
        self.queue: queue.Queue[_Pending | None] = queue.Queue()
        self.pruned_at: datetime | None = None
        self.conn: Connection | None = None  # the writer thread's own (_in_transaction)
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, name="ci-intake-writer", daemon=True)
        self.thread.start()

    def submit(self, digest: str, results: list[CellResult], now: datetime) -> list[str] | None:
        if self.stopped:
            raise StoreUnavailable
        item = _Pending(digest, results, now)
        self.queue.put(item)
        item.done.acquire()  # released by the writer once the post's commit is done
        if item.failed:
            raise StoreUnavailable
        return item.fates

    def stop(self) -> None:
        """End the writer thread after the posts already handed over; close its connection."""
        self.stopped = True
        self.queue.put(None)
        self.thread.join(timeout=30)
        while True:  # a post handed over after the end: refused, never left waiting
            try:
                late = self.queue.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                late.failed = True
                late.done.release()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                break
            items = [first]
            while len(items) < self.batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                items.append(item)
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
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _commit(self, items: list[_Pending]) -> None:
        now = max(i.now for i in items)
        prune = self.pruned_at is None or now - self.pruned_at >= PRUNE_EVERY
        posts = [(i.digest, i.results) for i in items]
        try:
            # No replay and no build stored before: the common case costs two inserts.
            fates = self._in_transaction(posts, now, prune, optimistic=True)
        except IntegrityError:  # a replay, or a build already stored: look before inserting
            fates = self._in_transaction(posts, now, prune, optimistic=False)
        if prune:
            self.pruned_at = now
        for item, fate in zip(items, fates, strict=True):
            item.fates = fate

    def _in_transaction(self, posts: list[tuple[str, list[CellResult]]], now: datetime,
                        prune: bool, *, optimistic: bool) -> list[list[str] | None]:
        # The writer's own connection, kept between commits (a pool checkout and its reset
        # were a sixth of a single post's CPU); any error drops it, the next commit reconnects.
        if self.conn is None:
            self.conn = self.store.open_connection()
        try:
            with self.conn.begin():
                return self._record(self.conn, posts, now, prune, optimistic=optimistic)
        except Exception:
            self.conn.close()
            self.conn = None
            raise

    def _record(self, conn: Connection, posts: list[tuple[str, list[CellResult]]],
                now: datetime, prune: bool, *, optimistic: bool) -> list[list[str] | None]:
        if prune:
            ci_rows.prune_posts(conn, now - self.keep)
        return ci_rows.record_posts(conn, posts, now, optimistic=optimistic)
