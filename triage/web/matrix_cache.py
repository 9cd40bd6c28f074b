"""The matrix page's cache: every cell's view and rendered HTML, kept up to date cheaply.

Per request, one fingerprint query (highest build id, finished builds, last finish time). When
it moved, only what changed is read (builds newer than the last seen, and those that were
running; 2 queries) and only the cells they belong to are rebuilt and re-rendered. The bugs
are re-read (1 store query) when the fingerprint moved or ``cache_seconds`` passed, and cells
whose bug changed are re-rendered. A full reload (1 query over every builder's last N builds)
happens at the first request and then every ``full_reload_seconds`` in a background thread
(requests go on being served from the current cache), which also drops anything Buildbot's
janitor deleted. Ages are not part of the cached HTML: they are printed fresh on each request.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triage.store import Store
from triage.store.ci_links import CellBug, bugs_by_cell
from triage.web import buildbot_db
from triage.web.matrix_model import (
    CellSpec,
    CellView,
    cell_view,
    red_since_needing_revision,
    with_red_since_revisions,
)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a full load builds its ~100,000 small objects
    (rows, records, history items, strings): each allocation burst otherwise triggers
    collections that walk every object alive, the growing cache included; they were a third
    of a full load's CPU time. Nothing built here forms cycles; it is switched back on (and
    collects as usual) right after."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@dataclass
class CellCache:
    key: Any = None
    loaded_at: float = 0.0
    bugs_at: float = 0.0
    builds: dict[str, list[buildbot_db.BuildRecord]] = field(default_factory=dict)
    max_id: int = 0
    open_ids: set[int] = field(default_factory=set)
    bugs: dict[str, CellBug] = field(default_factory=dict)
    views: dict[str, CellView] = field(default_factory=dict)
    html: dict[str, tuple[str, str]] = field(default_factory=dict)  # escaped, before/after age


class MatrixCache:
    def __init__(self, specs: Sequence[CellSpec], builds: buildbot_db.BuildDatabase | None,
                 store: Store | None, render: Callable[[CellView], tuple[str, str]],
                 now: Callable[[], datetime], history: int, cache_seconds: float,
                 full_reload_seconds: float = 600.0) -> None:
        self.specs = {s.name: s for s in specs}
        self.db, self.store, self.render, self.now = builds, store, render, now
        self.history, self.cache_seconds = history, cache_seconds
        self.full_reload_seconds = full_reload_seconds
        self.lock = threading.Lock()
        self.cached = CellCache()
        self.reloader: threading.Thread | None = None

    def clear(self) -> None:
        with self.lock:
            self.cached = CellCache()

    def get(self) -> tuple[CellCache, int]:
        """The up-to-date cache and the number of queries this call made."""
        queries = 0
        key = None
        if self.db is not None:
            key = self.db.run(buildbot_db.fingerprint)
            queries += 1
        with self.lock:
            c, t = self.cached, time.monotonic()
            if not c.loaded_at:
                self.cached, n = self._load(key, t)
                return self.cached, queries + n
            if t - c.loaded_at > self.full_reload_seconds and self.reloader is None:
                # Due for a full reload: done beside the requests, which keep being served
                # (and kept current) from this cache until the new one replaces it.
                self.reloader = threading.Thread(target=self._reload, daemon=True,
                                                 name="matrix-reload")
                self.reloader.start()
            dirty: set[str] = set()
            if key != c.key and self.db is not None:
                fresh = self.db.run(lambda conn: buildbot_db.fetch_changed(
                    conn, c.max_id, sorted(c.open_ids)))
                queries += buildbot_db.CHANGED_QUERIES
                dirty |= self._merge(c, fresh)
            if key != c.key or t - c.bugs_at > self.cache_seconds:
                bugs = self._bugs()
                queries += self.store is not None
                dirty |= {n for n in set(bugs) | set(c.bugs) if bugs.get(n) != c.bugs.get(n)}
                c.bugs, c.bugs_at = bugs, t
            c.key = key
            queries += self._rebuild(c, dirty)
            return c, queries

    # -- internals ----------------------------------------------------------------------

    def _bugs(self) -> dict[str, CellBug]:
        if self.store is None:
            return {}
        with self.store.session() as s:
            return bugs_by_cell(s)

    def _load(self, key: Any, t: float) -> tuple[CellCache, int]:
        """A whole new cache (not yet installed) and the queries it took."""
        with gc_paused():
            return self._load_all(key, t)

    def _load_all(self, key: Any, t: float) -> tuple[CellCache, int]:
        c = CellCache(key=key, loaded_at=t, bugs_at=t)
        queries = 0
        if self.db is not None:
            records = self.db.run(lambda conn: buildbot_db.fetch_history(conn, self.history))
            queries += buildbot_db.HISTORY_QUERIES
            self._merge(c, records)
        c.bugs = self._bugs()
        queries += self.store is not None
        queries += self._rebuild(c, set(self.specs))
        return c, queries

    def _reload(self) -> None:
        try:
            key = self.db.run(buildbot_db.fingerprint) if self.db is not None else None
            fresh, _ = self._load(key, time.monotonic())
            with self.lock:
                self.cached = fresh
        except Exception:  # the old cache stays; the next due reload tries again
            log.exception("matrix: full reload failed")
        finally:
            with self.lock:
                self.reloader = None

    def _merge(self, c: CellCache, records: Sequence[buildbot_db.BuildRecord]) -> set[str]:
        touched: set[str] = set()
        for rec in records:
            if rec.builder not in self.specs:
                continue
            lst = c.builds.setdefault(rec.builder, [])
            # Only a build that was running can be read again: look for it only then.
            old = (next((i for i, b in enumerate(lst) if b.buildid == rec.buildid), None)
                   if rec.buildid in c.open_ids else None)
            if old is None:
                lst.append(rec)
            else:
                # A build that finished: keep what the earlier read had (its reason, revision)
                # under what this one read.
                rec.props = {**lst[old].props, **rec.props}
                lst[old] = rec
            touched.add(rec.builder)
            c.max_id = max(c.max_id, rec.buildid)
        for name in touched:
            lst = c.builds[name]
            lst.sort(key=lambda b: b.buildid, reverse=True)
            del lst[self.history:]
        c.open_ids = {b.buildid for lst in c.builds.values() for b in lst
                      if b.complete_at is None}
        return touched

    def _rebuild(self, c: CellCache, names: set[str]) -> int:
        if not names:
            return 0
        now = self.now()
        views = {n: cell_view(self.specs[n], c.builds.get(n, []), c.bugs.get(n), now)
                 for n in names if n in self.specs}
        queries = 0
        missing = red_since_needing_revision(views)
        if missing and self.db is not None:
            revisions = self.db.run(lambda conn: buildbot_db.fetch_revisions(conn, missing))
            views = with_red_since_revisions(views, revisions)
            queries = 1
        c.views.update(views)
        render = self.render
        for n, v in views.items():
            c.html[n] = render(v)
        return queries


def ordered_views(c: CellCache, specs: Sequence[CellSpec]) -> Mapping[str, CellView]:
    return {s.name: c.views[s.name] for s in specs if s.name in c.views}
