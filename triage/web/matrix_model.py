"""The matrix page's model: cells and their last builds → what each cell shows. Pure, no I/O.

Input: the cells of the matrix (so a cell that never ran still has its place), the last N
builds of every builder (:class:`triage.web.buildbot_db.BuildRecord`), the bug linked to each
cell and the filters. A cell's *shown* state is its newest finished build's (a running build is
marked on top of it, never replacing the last known result); the history strip is oldest to
newest; "red since" names the first build of the current unbroken run of red results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import NamedTuple

from triage.store.ci_links import CellBug
from triage.web.buildbot_db import BuildRecord
from triage.web.states import STATES, StateStyle, state_of


@dataclass(frozen=True)
class CellSpec:
    name: str
    tree: str
    branch: str
    app: str
    libset: str
    libraries: tuple[str, ...]
    platform: str
    arch: str

    @property
    def column(self) -> str:
        return f"{self.platform}/{self.arch}"

    @property
    def row(self) -> str:
        return f"{self.app} · {self.libset}"


@dataclass(frozen=True)
class Filters:
    tree: frozenset[str] = frozenset()
    state: frozenset[str] = frozenset()
    platform: frozenset[str] = frozenset()
    arch: frozenset[str] = frozenset()
    library: frozenset[str] = frozenset()

    def keeps(self, spec: CellSpec, state: str) -> bool:
        return ((not self.tree or spec.tree in self.tree)
                and (not self.state or state in self.state)
                and (not self.platform or spec.platform in self.platform)
                and (not self.arch or spec.arch in self.arch)
                and (not self.library or bool(self.library & {*spec.libraries, spec.libset})))

    def as_query(self) -> list[tuple[str, str]]:
        return [(k, v) for k in ("tree", "state", "platform", "arch", "library")
                for v in sorted(getattr(self, k))]


class HistoryItem(NamedTuple):
    """One past result (a NamedTuple: 20,000 of them per page are built in a few ms)."""

    state: StateStyle
    buildid: int
    number: int
    revision: str  # known for the newest builds and the start of a red run (see buildbot_db)
    finished_at: int | None  # epoch seconds

    @property
    def finished(self) -> datetime | None:
        return datetime.fromtimestamp(self.finished_at, UTC) if self.finished_at else None


@dataclass(frozen=True)
class CellView:
    spec: CellSpec
    state: StateStyle  # the last known state (never "running" while a result is known)
    running: bool
    age_seconds: float | None  # since the shown result finished
    reason: str
    history: tuple[HistoryItem, ...]
    red_since: HistoryItem | None
    builderid: int | None
    latest: HistoryItem | None  # the build the shown state is from
    bug: CellBug | None


@dataclass(frozen=True)
class Column:
    platform: str
    arch: str
    pass_rate: float | None  # over the finished builds in the history window
    runs: int

    @property
    def name(self) -> str:
        return f"{self.platform}/{self.arch}"


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple[CellView | None, ...]  # one per column; None: no such cell, or filtered out


@dataclass(frozen=True)
class TreeMatrix:
    tree: str
    branch: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class MatrixView:
    trees: tuple[TreeMatrix, ...]
    shown: int  # cells after filtering
    total: int
    counts: Mapping[str, int]  # shown cells per state key
    options: Mapping[str, tuple[str, ...]]  # filter values that exist
    filters: Filters
    generated: datetime
    queries: int
    history: int = 20
    states: tuple[StateStyle, ...] = field(default=())


def cell_view(spec: CellSpec, builds: Sequence[BuildRecord], bug: CellBug | None,
              now: datetime) -> CellView:
    """``builds``: this cell's builds, newest first."""
    items = [HistoryItem(state_of(b.props.get("cell_result"), b.results,
                                  b.complete_at is not None),
                         b.buildid, b.number, str(b.props.get("revision") or ""),
                         b.complete_at) for b in builds]
    finished = [(i, b) for i, b in zip(items, builds, strict=True) if b.complete_at is not None]
    running = bool(builds) and builds[0].complete_at is None
    if finished:
        latest, build = finished[0]
        state, reason = latest.state, str(build.props.get("result_reason")
                                          or build.state_string or "")
        age = now.timestamp() - latest.finished_at if latest.finished_at else None
    else:
        latest, state, reason, age = None, STATES["running" if running else "never-run"], "", None
    red_since = None
    if latest is not None and latest.state.red:
        for item, _ in finished:
            if not item.state.red:
                break
            red_since = item
    return CellView(spec, state, running, age, reason,
                    tuple(reversed([i for i, _ in finished])), red_since,
                    builds[0].builderid if builds else None, latest, bug)


def cell_views(specs: Iterable[CellSpec], builds: Iterable[BuildRecord],
               bugs: Mapping[str, CellBug], now: datetime, history: int = 20
               ) -> dict[str, CellView]:
    by_cell: dict[str, list[BuildRecord]] = {}
    for b in builds:
        by_cell.setdefault(b.builder, []).append(b)
    for lst in by_cell.values():
        lst.sort(key=lambda b: b.buildid, reverse=True)
        del lst[history:]
    return {s.name: cell_view(s, by_cell.get(s.name, []), bugs.get(s.name), now)
            for s in specs}


def red_since_needing_revision(views: Mapping[str, CellView]) -> list[int]:
    """Build ids whose revision "red since" names but the history query did not read."""
    return sorted({v.red_since.buildid for v in views.values()
                   if v.red_since is not None and not v.red_since.revision})


def with_red_since_revisions(views: Mapping[str, CellView], revisions: Mapping[int, str]
                             ) -> dict[str, CellView]:
    out = dict(views)
    for name, v in views.items():
        if v.red_since is not None and v.red_since.buildid in revisions:
            out[name] = replace(v, red_since=v.red_since._replace(
                revision=revisions[v.red_since.buildid]))
    return out


def build_matrix(specs: Iterable[CellSpec], builds: Iterable[BuildRecord],
                 bugs: Mapping[str, CellBug], filters: Filters, now: datetime,
                 queries: int, history: int = 20) -> MatrixView:
    specs = list(specs)
    return arrange(specs, cell_views(specs, builds, bugs, now, history), filters, now, queries,
                   history)


def arrange(specs: Sequence[CellSpec], views: Mapping[str, CellView], filters: Filters,
            now: datetime, queries: int, history: int = 20) -> MatrixView:
    """The filtered view: which cells show, in which table, row and column."""
    kept = {n for n, v in views.items() if filters.keeps(v.spec, v.state.key)}
    counts: dict[str, int] = {}
    for n in kept:
        counts[views[n].state.key] = counts.get(views[n].state.key, 0) + 1

    trees: list[TreeMatrix] = []
    for tree in dict.fromkeys((s.tree, s.branch) for s in specs):
        tspecs = [s for s in specs if (s.tree, s.branch) == tree]
        shown = [s for s in tspecs if s.name in kept]
        if not shown:
            continue
        shown_cols = {(x.platform, x.arch) for x in shown}
        col_keys = [k for k in dict.fromkeys((s.platform, s.arch) for s in tspecs)
                    if k in shown_cols]
        by_col: dict[tuple[str, str], list[CellView]] = {}
        for s in tspecs:
            by_col.setdefault((s.platform, s.arch), []).append(views[s.name])
        columns = tuple(_column(p, a, by_col[(p, a)]) for p, a in col_keys)
        grid: dict[str, dict[tuple[str, str], CellView]] = {}
        for s in shown:
            grid.setdefault(s.row, {})[(s.platform, s.arch)] = views[s.name]
        rows = tuple(Row(label, tuple(cells.get(k) for k in col_keys))
                     for label, cells in grid.items())
        trees.append(TreeMatrix(tree[0], tree[1], columns, rows))

    options = {
        "tree": tuple(dict.fromkeys(s.tree for s in specs)),
        "platform": tuple(dict.fromkeys(s.platform for s in specs)),
        "arch": tuple(dict.fromkeys(s.arch for s in specs)),
        "library": tuple(sorted({lib for s in specs for lib in s.libraries} | {"base"})),
        "state": tuple(dict.fromkeys([*STATES, *(v.state.key for v in views.values())])),
    }
    legend = {v.state.key: v.state for v in views.values()}
    return MatrixView(tuple(trees), len(kept), len(specs), counts, options, filters, now,
                      queries, history, tuple({**STATES, **legend}.values()))


def _column(platform: str, arch: str, cells: Sequence[CellView]) -> Column:
    results = [h.state for c in cells for h in c.history
               if h.state.key not in ("running", "never-run")]
    judged = [s for s in results if s.css in ("ok", "bad")]  # unsupported/skipped: no verdict
    rate = sum(1 for s in judged if not s.red) / len(judged) if judged else None
    return Column(platform, arch, rate, len(judged))
