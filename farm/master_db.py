"""The master's own database: its URL and how Buildbot's SQLAlchemy engine talks to it.

Buildbot opens SQLite with SQLAlchemy's ``NullPool``: every database operation (a build
writes ~100: build, step and log rows, properties, state changes) connects, runs and
disconnects, and closing the last connection to a WAL database checkpoints the WAL. With a
commit that fsyncs on top, the master's database thread spent ~0.25 s of CPU per build, five
times the master's whole event loop (docs/BENCHMARKS.md, "CI farm"). Buildbot takes
``c['db']['engine_kwargs']`` as given to ``sqlalchemy.create_engine``, so the farm keeps a
connection open instead (SQLAlchemy's own default pool for a SQLite file) and sets WAL's
``synchronous = NORMAL``: a crash of the master loses nothing, a power cut at most the last
transactions, never the database's consistency. No Buildbot code is patched.

PostgreSQL (``postgresql://...``, the arrangement a production farm uses) keeps SQLAlchemy's
defaults; the URL is given the psycopg (3) driver xentriage already depends on.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

SqliteConnections = Literal["reuse", "per-operation"]
SqliteSynchronous = Literal["normal", "full"]
DEFAULT_URL = "sqlite:///state.sqlite"
# The drivers a URL may name for each database xentriage supports for the master.
_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg", "psycopg2")}


class MasterDbError(ValueError):
    """The database URL is not one the farm's master can use."""


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` get the psycopg driver (SQLAlchemy's default,
    psycopg2, is not installed); anything but SQLite and PostgreSQL is refused here rather
    than by a master that fails to start. The message never repeats a password."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise MasterDbError("not a database URL (e.g. sqlite:///state.sqlite or "
                            "postgresql://user@127.0.0.1:5432/buildbot)") from None
    backend, _, driver = u.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if backend not in _DRIVERS:
        raise MasterDbError(f"unsupported database {backend!r} (SQLite or PostgreSQL)")
    if driver and driver not in _DRIVERS[backend]:
        raise MasterDbError(f"unsupported driver {driver!r} for {backend} "
                            f"(use {backend}+{_DRIVERS[backend][0]}:// or {backend}://)")
    if backend == "postgresql":
        if not u.database:
            raise MasterDbError("a PostgreSQL URL needs a database name (.../buildbot)")
        u = u.set(drivername=f"postgresql+{driver or 'psycopg'}")
    return u.render_as_string(hide_password=False)


def shown_url(url: str) -> str:
    """The URL for messages and logs: any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def sqlite_path(url: str, basedir: Path) -> Path | None:
    """The database file as Buildbot resolves it (``%(basedir)s``, relative to the basedir);
    None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    # Absolute: a pooled connection may be opened after anything changed the directory.
    return Path(basedir, database % {"basedir": str(basedir)}).resolve()


def db_config(url: str, basedir: Path, connections: SqliteConnections = "reuse",
              synchronous: SqliteSynchronous = "normal") -> dict[str, Any]:
    """``c['db']`` for the master."""
    config: dict[str, Any] = {"db_url": url}
    path = sqlite_path(url, basedir) if is_sqlite(url) else None
    if path is None:
        return config
    kwargs: dict[str, Any] = {}
    if connections == "reuse":
        # Buildbot gives SQLite one database thread; the overflow covers the nested
        # connections it opens for schema checks at start-up.
        kwargs.update(poolclass=QueuePool, pool_size=1, max_overflow=4)
    if synchronous != "full" or connections == "reuse":
        kwargs["creator"] = _SqliteCreator(path, synchronous)
    if kwargs:
        config["engine_kwargs"] = kwargs
    return config


class _SqliteCreator:
    """SQLAlchemy's ``creator``: a connection to the master's file with its pragma set.

    Compared by what it opens: ``buildbot reconfig`` refuses a ``c['db']`` that differs from
    the running one, and master.cfg reloads this module (a new class) on every reconfig."""

    def __init__(self, path: Path, synchronous: SqliteSynchronous) -> None:
        self.key = ("xentriage-sqlite", os.fspath(path), synchronous)

    def __eq__(self, other: object) -> bool:
        return getattr(other, "key", None) == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __call__(self) -> sqlite3.Connection:
        # check_same_thread: a pooled connection is closed by whichever thread disposes of
        # the pool; Buildbot serialises all use on its single SQLite thread.
        conn = sqlite3.connect(self.key[1], check_same_thread=False)
        conn.execute(f"pragma synchronous = {self.key[2]}")
        return conn
