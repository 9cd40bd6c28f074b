"""Longest-expected-first scheduling (the LPT rule) of the farm's build requests.

A full-matrix run is a batch of independent jobs on a few slots; the makespan is shortest when
the longest jobs start first and the short ones fill in around them (LPT). In submission order a
cell that waits out a boot timeout could start last and hold the run's tail alone while the
other slots are idle (docs/BENCHMARKS.md, the farm's timeline).

A cell's expected duration is its previous build's duration in the master's own history
(read once from the database at the first request or distribution round after a
(re)configuration, then kept current by each finished cell build: no query per round or per
request). A cell never built
gets a static estimate from the matrix: a typical build, plus the boot when the cell's real
builder boots (routed to workers that declared they can), where a boot timeout the matrix sets
apart from the farm's default counts in full (that is what a library "known to hang" gets) and
any other boot counts as a typical boot. A cell whose builder cannot boot only builds.

The request's priority carries the order: the farm's schedulers give each cell's request the
priority ``base x 100,000 + expected tenths of a second`` (:func:`request_priority`; ``base``
is the scheduler's or the forcing user's priority), and Buildbot's own choice of a builder's
next request (the highest priority, the oldest among equals) needs nothing more. A
BuilderConfig ``nextBuild`` was tried first and dropped: Buildbot materialises every pending
request for it, a database read of the builder per request per round (+28 SELECTs per build,
docs/BENCHMARKS.md), where the priority is in the request rows it reads anyway.

Across real builders ``prioritizeBuilders`` puts the builders with the most pending work (the
sum of their pending requests' expected durations) first, then the least busy. Buildbot runs
at most one build per (builder, worker) pair at a time, so each real builder is a serial lane
on a worker and a run lasts at least its busiest lane's work: that lane must never wait for a
slot (the benchmark's timeline names the lanes). It needs each builder's pending requests
without asking the database each round: the farm's schedulers note the requests they make and
a build's start removes its request. A request made outside the farm's schedulers (Buildbot's
rebuild button) is not noted; its builder is still in every round, only its place in the
order is affected, never whether a request is built.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from buildbot.data import resultspec
from twisted.internet import defer
from twisted.python import log  # the master's twistd.log, where its operator looks

from farm.bisect_protocol import BISECTION, is_bisection_build
from farm.matrix import Cell

# Static estimates (seconds) for a cell never built on this master. Only their order matters
# among cells never built; against cells with history a typical build is the median of the
# history once there is one.
TYPICAL_BUILD_SECONDS = 10.0
TYPICAL_BOOT_SECONDS = 2.0
HISTORY_BUILDS = 5000  # at most this many of the newest builds read at start
NOT_DURATIONS = (5, 6)  # Buildbot's RETRY and CANCELLED: the cell did not run to its end
# A request's priority is base x PRIORITY_STEP + expected tenths of a second: a run forced with
# priority 1 still goes before every run of priority 0, as Buildbot users expect.
PRIORITY_STEP = 100_000


def static_estimate(cell: Cell, boots: bool, default_boot_timeout: int,
                    typical_build: float = TYPICAL_BUILD_SECONDS) -> float:
    """Seconds a never-built cell is expected to take."""
    if not boots:
        return typical_build
    if cell.boot_timeout != default_boot_timeout:
        return typical_build + float(cell.boot_timeout)
    return typical_build + TYPICAL_BOOT_SECONDS


def request_priority(expected: float, base: int | None) -> int:
    """A build request's priority: the scheduler's or the user's (``base``) first, then the
    expected duration in tenths of a second (capped below one step of ``base``)."""
    tenths = min(PRIORITY_STEP - 1, max(0, round(expected * 10)))
    return (base or 0) * PRIORITY_STEP + tenths


def builder_order(builders: Sequence[tuple[str, float, int]]) -> list[str]:
    """(name, pending expected seconds or inf if unknown, builds running) -> names, the most
    pending work first, then least busy, then by name."""
    return [name for name, _, _ in sorted(builders, key=lambda b: (-b[1], b[2], b[0]))]


class LongestFirst:
    """The expected durations and each builder's pending requests of one master config."""

    def __init__(self, cells: Mapping[str, Cell], booting_builders: Iterable[str],
                 default_boot_timeout: int, by_expected: bool = True) -> None:
        # by_expected False: Buildbot's submission order and least busy builders first (the
        # farm before this module; farm.json ``request_order = "submitted"``).
        self.by_expected = by_expected
        self.cells = cells
        self.booting = frozenset(booting_builders)
        self.default_boot_timeout = default_boot_timeout
        self.history: dict[str, float] = {}
        self.pending: dict[str, dict[int, float]] = {}  # builder -> {request id: expected}
        self._typical: float | None = None
        self.history_read = False
        self._history_lock = defer.DeferredLock()

    # -- the estimates ---------------------------------------------------------------------
    def typical_build(self) -> float:
        # Cached: a large run's fan-out asks for it once per cell.
        if self._typical is None:
            self._typical = (float(statistics.median(self.history.values())) if self.history
                             else TYPICAL_BUILD_SECONDS)
        return self._typical

    def expected(self, cell_name: Any) -> float:
        name = str(cell_name)
        if name in self.history:
            return self.history[name]
        cell = self.cells.get(name)
        if cell is None:  # not a cell of this matrix (another kind of build): no preference
            return 0.0
        # Routing (and so booting) is per real builder, also with one builder per cell.
        return static_estimate(cell, cell.real_builder in self.booting,
                               self.default_boot_timeout, self.typical_build())

    def record(self, cell_name: str, seconds: float) -> None:
        if cell_name in self.cells and seconds >= 0:
            self.history[cell_name] = seconds
            self._typical = None

    def load_history(self, builds: Iterable[Mapping[str, Any]],
                     builder_names: Mapping[int, str]) -> None:
        """Builds newest first (Buildbot's data API dicts); the newest of each cell counts.
        A build recorded since (by :meth:`record`) is newer still and stays."""
        seen: dict[str, float] = {}
        for b in builds:
            props = b.get("properties") or {}
            if is_bisection_build(props):  # a bisection step, not the cell's own run
                continue
            # A real builder carries many cells: its build names its cell in the ``cell``
            # property; with a builder per cell the builder's name is the cell's.
            cell = props.get("cell")
            name = (str(cell[0]) if isinstance(cell, list | tuple) and cell
                    else builder_names.get(int(b.get("builderid") or -1), ""))
            start, end = b.get("started_at"), b.get("complete_at")
            if (name in self.cells and name not in seen and start is not None
                    and end is not None and b.get("results") not in NOT_DURATIONS):
                seen[name] = max(0.0, (end - start).total_seconds())
        self.history = {**seen, **self.history}
        self._typical = None

    # -- the pending requests ---------------------------------------------------------------
    def note_requested(self, builder: str, requests: Iterable[tuple[int, str]]) -> None:
        """The farm's scheduler made these (request id, cell) on ``builder``."""
        note = self.pending.setdefault(builder, {})
        for brid, cell in requests:
            note[int(brid)] = self.expected(cell)

    def note_started(self, builder: str, brid: int) -> None:
        self.pending.get(builder, {}).pop(int(brid), None)

    def pending_work(self, builder: str) -> float:
        note = self.pending.get(builder)
        if not self.by_expected:
            return 0.0
        if note is None:
            return math.inf  # never seen: let Buildbot look (it reads every free builder)
        return float(sum(note.values()))

    # -- Buildbot's hooks -------------------------------------------------------------------
    def submission_order(self, cells: Sequence[Cell]) -> list[Cell]:
        """The order to add a run's requests in: longest expected first, so that a
        distribution round that starts while a big run is still being submitted (each
        request added starts one) already sees the longest cells."""
        if not self.by_expected:
            return list(cells)
        return sorted(cells, key=lambda c: -self.expected(c.name))  # stable among equals

    def priority(self, cell_name: str, base: int | None) -> int:
        """The priority of a new request for ``cell_name`` (see :func:`request_priority`)."""
        if not self.by_expected:
            return base or 0
        return request_priority(self.expected(cell_name), base)

    @defer.inlineCallbacks
    def prioritize(self, master: Any, builders: list[Any]):  # type: ignore[no-untyped-def]
        """``prioritizeBuilders``. Buildbot's default sorter asks the database for each
        builder's oldest and highest-priority request every round (a third of the master's
        database work per build, with a few real builders carrying many cells); this reads
        only the notes. A builder none of whose workers has a free slot is left out of the
        round (Buildbot would read all its unclaimed requests only to find no worker); a slot
        freeing up starts a new round, which includes it again."""
        yield self.ensure_history(master)
        free = {b.name: b for b in builders if b.getAvailableWorkers()}
        names = builder_order([(n, self.pending_work(n), len(b.building))
                               for n, b in free.items()])
        return [free[n] for n in names]

    def ensure_history(self, master: Any) -> defer.Deferred[None]:
        """Read the master's build history once (the schedulers' first request and the first
        distribution round wait for it; every later call returns at once)."""
        if self.history_read:
            return defer.succeed(None)
        return self._history_lock.run(self._load, master)

    @defer.inlineCallbacks
    def _load(self, master: Any):  # type: ignore[no-untyped-def]
        if self.history_read:  # read while this round waited for the lock
            return
        try:
            builders = yield master.data.get(("builders",))
            # The properties cost Buildbot one query per build, once per start or reconfig:
            # read a few runs' worth, not the whole history.
            spec = resultspec.ResultSpec(
                order=["-buildid"], limit=min(HISTORY_BUILDS, max(200, 3 * len(self.cells))),
                properties=[resultspec.Property(b"property", "eq", ["cell", BISECTION])])
            builds = yield master.data.get_with_resultspec(("builds",), spec)
            self.load_history(builds, {int(b["builderid"]): b["name"] for b in builders})
            log.msg(f"longest-first: durations of {len(self.history)} cell(s) from the "
                    "master's history")
        except Exception:  # the order falls back to the static estimates, builds go on
            log.err(None, "longest-first: build history not read")
        self.history_read = True
