"""Engine, sessions and migrations.

The schema is owned by Alembic (``triage/store/migrations``): :meth:`Store.migrate` upgrades any
database to the newest revision, so an old production database and a fresh SQLite file end up the
same. Tests run the same migrations on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # Alembic is imported when migrating, not by every command that reads
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StoreError(Exception):
    pass


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the mail watcher and a triage run share the file; busy_timeout waits instead of
    # failing when both write at once; foreign keys are off in SQLite unless asked for.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def redact_url(url: str) -> str:
    """The URL without its password, for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Store:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            self.engine: Engine = create_engine(parsed, echo=echo, future=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open store {redact_url(url)}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _alembic_config(self) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        from alembic import command

        try:
            command.upgrade(self._alembic_config(), "heads")
        except SQLAlchemyError as exc:
            raise StoreError(f"migrating {redact_url(self.url)} failed: {exc}") from None

    def current_revisions(self) -> set[str]:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def head_revisions(self) -> set[str]:
        from alembic.script import ScriptDirectory

        return set(ScriptDirectory.from_config(self._alembic_config()).get_heads())

    def is_up_to_date(self) -> bool:
        return self.current_revisions() == self.head_revisions()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any exception."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def open_connection(self) -> Connection:
        """A Core connection the caller keeps and closes: one writer thread's own (the CI
        intake's), so that a group commit pays no pool checkout and reset."""
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    store = Store(url)
    store.migrate()
    return store
