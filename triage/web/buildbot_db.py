"""Reading the farm's builds from Buildbot's own database, a bounded number of queries.

Why not Buildbot's data API: its ``builds`` endpoint reads properties with one database query
per build (``buildbot/data/builds.py``), so a matrix of 1,000 cells with 20 builds of history
would cost 20,000 queries. :func:`fetch_history` reads the same tables (``builds``,
``builders``, ``build_properties``, schema of buildbot 4.3) in one query (the last N builds of
every builder, ranked with a window function, with the few properties the page prints),
independent of the cell count.

Two ways to run them, behind :class:`BuildDatabase`: inside the master, on Buildbot's own
connection pool (:class:`MasterPool`, from a WSGI thread); standalone, on a read-only engine
on the master's database URL (:class:`EngineDatabase`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

T = TypeVar("T")

# The columns of Buildbot's tables these queries read (buildbot/db/model.py).
_builds = sa.table("builds", sa.column("id"), sa.column("number"), sa.column("builderid"),
                   sa.column("started_at"), sa.column("complete_at"), sa.column("results"),
                   sa.column("state_string"))
_builders = sa.table("builders", sa.column("id"), sa.column("name"))
_props = sa.table("build_properties", sa.column("buildid"), sa.column("name"),
                  sa.column("value"))

# Read for every build of the history (the strip's states); the rest only for each cell's two
# newest builds (the last known result and a running build). Reading the revision of every
# build as well doubled the rows; "red since" gets its few revisions from fetch_revisions.
HISTORY_PROPERTIES = ("cell_result",)
LATEST_PROPERTIES = ("result_reason", "revision")
LATEST_RANKS = 2


@dataclass(slots=True)
class BuildRecord:
    buildid: int
    builderid: int
    number: int
    builder: str  # the virtual builder's name: the cell's name
    started_at: int
    complete_at: int | None
    results: int | None
    state_string: str
    rank: int  # 1 = the builder's newest build
    props: dict[str, Any] = field(default_factory=dict)


class BuildDatabase(Protocol):
    def run(self, fn: Callable[[Connection], T]) -> T: ...


class EngineDatabase:
    """Standalone: Buildbot's database on its own engine (``sqlite:///…/state.sqlite``…)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)

    def run(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return fn(conn)

    def dispose(self) -> None:
        self.engine.dispose()


class MasterPool:
    """Inside the master: Buildbot's own DB thread pool, called from a WSGI thread."""

    def __init__(self, api: Any) -> None:
        self.api = api  # buildbot_wsgi_dashboards' application (it has .master)

    def run(self, fn: Callable[[Connection], T]) -> T:
        from twisted.internet import reactor
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(reactor, self.api.master.db.pool.do, fn)  # type: ignore[no-any-return]


def fingerprint(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever a build starts or finishes: the cache key of the matrix."""
    row = conn.execute(sa.select(sa.func.max(_builds.c.id), sa.func.count(_builds.c.complete_at),
                                 sa.func.max(_builds.c.complete_at))).one()
    return tuple(row)


def _history_query(per_cell: int) -> sa.Select[Any]:
    rank = sa.func.row_number().over(partition_by=_builds.c.builderid,
                                     order_by=_builds.c.id.desc()).label("rank")
    ranked = sa.select(_builds.c.id, _builds.c.number, _builds.c.builderid,
                       _builds.c.started_at, _builds.c.complete_at, _builds.c.results,
                       _builds.c.state_string, rank).subquery("ranked")
    joins = [_props.alias(f"p{i}") for i in range(len(_NAMES))]
    query = sa.select(ranked, _builders.c.name, *(p.c.value for p in joins)).join(
        _builders, _builders.c.id == ranked.c.builderid)
    for name, p in zip(_NAMES, joins, strict=True):
        cond = sa.and_(p.c.buildid == ranked.c.id, p.c.name == name)
        if name in LATEST_PROPERTIES:
            cond = sa.and_(cond, ranked.c.rank <= LATEST_RANKS)
        query = query.outerjoin(p, cond)
    return query.where(ranked.c.rank <= per_cell)


_NAMES = HISTORY_PROPERTIES + LATEST_PROPERTIES
assert _NAMES == ("cell_result", "result_reason", "revision")  # fetch_history's columns


@functools.lru_cache(maxsize=16)
def _history_sql(dialect: sa.Dialect, per_cell: int) -> str:
    # Compiled once per dialect and depth, the few constants inlined (property names of this
    # module and integers, never request input), then run as plain SQL: SQLAlchemy's
    # statement compilation and per-row result processing were a third of a full load.
    return str(_history_query(per_cell).compile(dialect=dialect,
                                               compile_kwargs={"literal_binds": True}))


def fetch_history(conn: Connection, per_cell: int) -> list[BuildRecord]:
    """The newest ``per_cell`` builds of every builder with the page's properties: one query
    (the window function ranks each builder's builds; a left join per property, the reason and
    revision only for the newest two, reads the values in the same pass)."""
    rows = conn.exec_driver_sql(_history_sql(conn.dialect, int(per_cell))).fetchall()
    decode = _decode_text
    out = []
    for bid, number, builderid, started, complete, results, state, rnk, name, verdict, \
            reason, revision in rows:
        props = {} if verdict is None else {"cell_result": decode(verdict)}
        if reason is not None:
            props["result_reason"] = decode(reason)
        if revision is not None:
            props["revision"] = decode(revision)
        out.append(BuildRecord(bid, builderid, number, name, started, complete, results,
                               state or "", rnk, props))
    return out


def fetch_changed(conn: Connection, after_id: int, open_ids: list[int]) -> list[BuildRecord]:
    """Builds newer than ``after_id`` and the given (then running) ones, with all the page's
    properties: what a refresh after a build started or finished reads. 2 queries."""
    changed = sa.or_(_builds.c.id > after_id, _builds.c.id.in_(open_ids)) if open_ids \
        else _builds.c.id > after_id
    rows = conn.execute(
        sa.select(_builds.c.id, _builds.c.number, _builds.c.builderid, _builds.c.started_at,
                  _builds.c.complete_at, _builds.c.results, _builds.c.state_string,
                  sa.literal(1).label("rank"), _builders.c.name)
        .join(_builders, _builders.c.id == _builds.c.builderid).where(changed)).all()
    records = _records(rows)
    if records:
        _add_props(records, conn.execute(
            sa.select(_props.c.buildid, _props.c.name, _props.c.value)
            .where(_props.c.buildid.in_(list(records)),
                   _props.c.name.in_(HISTORY_PROPERTIES + LATEST_PROPERTIES))))
    return list(records.values())


def _records(rows: Any) -> dict[int, BuildRecord]:
    # Plain tuple unpacking: attribute access on 20,000 result rows was a third of a page.
    return {bid: BuildRecord(bid, builderid, number, name, started, complete, results,
                             state or "", rank)
            for bid, number, builderid, started, complete, results, state, rank, name in rows}


def _add_props(records: dict[int, BuildRecord], prop_rows: Any) -> None:
    for buildid, name, value in prop_rows:
        rec = records.get(buildid)
        if rec is None:
            continue
        rec.props[name] = _decode(value)


@functools.lru_cache(maxsize=8192)
def _decode_text(value: str) -> Any:
    """:func:`_decode` for the history's values: a few hundred distinct texts (verdicts,
    reasons, revisions) repeated over 20,000 builds. Decoded values are only read."""
    return _decode(value)


def _decode(value: Any) -> Any:
    """A property value (JSON text). Most are plain strings: skip the JSON parser for them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' \
            and "\\" not in value and '"' not in value[1:-1]:
        return value[1:-1]
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


HISTORY_QUERIES = 1  # what fetch_history costs, reported by the page and the benchmark
CHANGED_QUERIES = 2  # what fetch_changed costs


def fetch_revisions(conn: Connection, buildids: list[int]) -> dict[int, str]:
    """The ``revision`` property of the given builds (one query; at most one id per cell)."""
    if not buildids:
        return {}
    rows = conn.execute(sa.select(_props.c.buildid, _props.c.value)
                        .where(_props.c.name == "revision", _props.c.buildid.in_(buildids)))
    return {int(buildid): str(_decode(value)) for buildid, value in rows}
