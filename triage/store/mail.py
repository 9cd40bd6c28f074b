"""The mail tables' bulk writes: one chunk of an ingest, a few statements whatever its size.

Below SQLAlchemy's per-row layer, on purpose. A backfill writes two rows per mail, and Core's
executemany spent more CPU building each row's parameters (``construct_params``, one bind
conversion per datetime) than the database spent storing them. :class:`_RowWriter` does what
Core does once per *statement* instead: the INSERT is compiled by SQLAlchemy for the session's
dialect (quoting, psycopg's ``::JSON`` casts, the paramstyle), each column's bind processor is
taken from the column's own type for that dialect, and values that are the same for the whole
chunk (its timestamp) are converted once. The rows then go to the DBAPI cursor's executemany
through the session's own connection, so they stay inside the chunk's transaction: a crash
before the commit leaves none of them (see ``triage/ingest.py``).

``mail_messages`` rows go in without ``RETURNING`` (SQLite would need one INSERT per row to keep
the ids in order). The chunk's Message-IDs are unique (the ingester drops repeats before it
writes), so one ``IN`` query per slice of the chunk maps them back to their ids for the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from triage.model import MailEvent, format_bz_time, to_jsonable
from triage.store.chunks import chunked
from triage.store.tables import BugRow, MailEventRow, MailMessage, TriageQueueEntry

_MESSAGES: Table = MailMessage.__table__  # type: ignore[assignment]
_EVENTS: Table = MailEventRow.__table__  # type: ignore[assignment]
_QUEUE: Table = TriageQueueEntry.__table__  # type: ignore[assignment]
_BUGS: Table = BugRow.__table__  # type: ignore[assignment]
QUEUE_COLUMNS = ("bug_id", "reason", "queued_at")

MESSAGE_COLUMNS = ("message_id", "source", "uidvalidity", "uid", "kind", "bug_id", "status",
                   "reason", "subject", "raw_path", "received_at")
EVENT_COLUMNS = ("message_id", "kind", "bug_id", "payload", "created_at", "consumed_at")

Processor = Callable[[Any], Any]
_INT_OR_NONE = frozenset({int, type(None)})


def event_payload(ev: MailEvent) -> dict[str, Any]:
    """``mail_events.payload``: the same dict as ``to_jsonable(ev)`` (tests compare them), built
    field by field: the generic walk cost a backfill more than the JSON encoding of its result.
    A value of an unexpected type (a str subclass, say) takes the generic walk."""
    subject, sender, product, component, who, bz_type, comment = (
        ev.subject, ev.sender, ev.product, ev.component, ev.who, ev.bugzilla_type,
        ev.comment_text)
    if not (type(subject) is str and type(sender) is str and type(product) is str
            and type(component) is str and type(who) is str and type(bz_type) is str
            and type(comment) is str and type(ev.message_id) is str
            and type(ev.bug_id) in _INT_OR_NONE and type(ev.commands_dropped) is int):
        return to_jsonable(ev)  # type: ignore[no-any-return]
    changes = []
    for c in ev.changed_fields:  # checked while built: one pass, no generator per event
        name, old, new = c.field, c.old, c.new
        if type(name) is not str or type(old) is not str or type(new) is not str:
            return to_jsonable(ev)  # type: ignore[no-any-return]
        changes.append({"field": name, "old": old, "new": new})
    return {
        "kind": ev.kind.value, "message_id": ev.message_id, "subject": subject,
        "sender": sender, "date": None if ev.date is None else _bz_time(ev.date),
        "bug_id": ev.bug_id, "product": product, "component": component, "who": who,
        "bugzilla_type": bz_type, "changed_fields": changes, "comment_text": comment,
        "commands": [to_jsonable(c) for c in ev.commands] if ev.commands else [],
        "auth": None if ev.auth is None else to_jsonable(ev.auth),
        "commands_dropped": ev.commands_dropped,
    }


def _bz_time(when: datetime) -> str:
    """``format_bz_time``: for a UTC time of a four-digit year and whole seconds (every mail
    date) from ``isoformat``, several times cheaper than ``strftime``; else the same call."""
    if when.tzinfo is UTC and when.microsecond == 0 and when.year >= 1000:
        return when.isoformat()[:19] + "Z"
    return format_bz_time(when)


class _RowWriter:
    """One table's INSERT of fixed columns, prepared once per dialect: SQL and bind processors."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect,
                 statement: Insert | None = None) -> None:
        compiled = (statement if statement is not None else insert(table)).compile(
            dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.columns = tuple(columns)
        # Positional paramstyles (SQLite's qmark) take tuples in the compiled order; named ones
        # (psycopg's pyformat) take dicts. Bind names are the column keys for a plain INSERT.
        order = compiled.positiontup if compiled.positional else None
        if order is not None and sorted(order) != sorted(columns):
            raise RuntimeError(f"unexpected bind names for {table.name}: {order}")
        self.order = tuple(order) if order is not None else None
        self.processors: dict[str, Processor | None] = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns}

    def convert(self, name: str, value: Any) -> Any:
        """One value as the driver takes it (for values shared by every row of a chunk)."""
        proc = self.processors[name]
        return value if proc is None or value is None else proc(value)

    def execute(self, session: Session, rows: Sequence[dict[str, Any]],
                converted: Sequence[str] = ()) -> None:
        """Insert ``rows`` (dicts keyed by column); keys in ``converted`` already went through
        :meth:`convert` and are passed as they are."""
        if not rows:
            return
        names = self.order if self.order is not None else self.columns
        todo = [(i, name, proc) for i, name in enumerate(names)
                if (proc := self.processors[name]) is not None and name not in converted]
        params: list[Any]
        if self.order is not None:
            get = itemgetter(*names)
            params = [get(row) for row in rows] if len(names) > 1 else [
                (row[names[0]],) for row in rows]
            if todo:
                for n, values in enumerate(params):
                    values = list(values)
                    for i, _name, proc in todo:
                        if values[i] is not None:
                            values[i] = proc(values[i])
                    params[n] = tuple(values)
        else:
            params = [dict(row) for row in rows]
            for row in params:
                for _i, name, proc in todo:
                    if row[name] is not None:
                        row[name] = proc(row[name])
        session.connection().exec_driver_sql(self.sql, params)


# Per dialect object (one per engine), dropped with it.
_WRITERS: WeakKeyDictionary[Dialect, dict[str, _RowWriter]] = WeakKeyDictionary()


def _writer(session: Session, table: Table, columns: Sequence[str],
            upsert_key: str = "") -> _RowWriter:
    """The table's INSERT writer; with ``upsert_key``, INSERT ... ON CONFLICT (key) DO UPDATE
    of the other columns (the statement ``queue.upsert_rows`` builds), on SQLite and
    PostgreSQL."""
    dialect = session.get_bind().dialect
    writers = _WRITERS.setdefault(dialect, {})
    name = f"{table.name}:{upsert_key}"
    found = writers.get(name)
    if found is None or found.columns != tuple(columns):
        statement: Insert | None = None
        if upsert_key:
            if dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover
                raise NotImplementedError(dialect.name)
            ins = (postgresql.insert(table) if dialect.name == "postgresql"
                   else sqlite.insert(table))
            statement = ins.on_conflict_do_update(
                index_elements=[upsert_key],
                set_={c: ins.excluded[c] for c in columns if c != upsert_key})
        found = writers[name] = _RowWriter(table, columns, dialect, statement)
    return found


def message_writer(session: Session) -> _RowWriter:
    return _writer(session, _MESSAGES, MESSAGE_COLUMNS)


def event_writer(session: Session) -> _RowWriter:
    return _writer(session, _EVENTS, EVENT_COLUMNS)


def insert_messages(session: Session, rows: Sequence[dict[str, Any]],
                    converted: Sequence[str] = ()) -> list[int]:
    """Insert ``mail_messages`` rows (distinct, new Message-IDs); their ids, in row order."""
    if not rows:
        return []
    message_writer(session).execute(session, rows, converted)
    wanted = [row["message_id"] for row in rows]
    ids = dict(_select_in(session, f"SELECT message_id, id FROM {_MESSAGES.name}",
                          "message_id", wanted))
    return [ids[message_id] for message_id in wanted]


def known_message_ids(session: Session, message_ids: Sequence[str]) -> set[str]:
    """Which of ``message_ids`` the store has already (the ingester's dedupe check)."""
    return {row[0] for row in _select_in(
        session, f"SELECT message_id FROM {_MESSAGES.name}", "message_id", message_ids)}


def current_bug_ids(session: Session, last_change: dict[int, datetime]) -> set[int]:
    """The bugs of ``{id: last_change_time}`` whose cached row is available and at exactly that
    ``last_change_time``. Compared in the driver's form (the fetched time converted once by
    the column's bind processor, the stored one as the driver returns it): no result type
    processing per row. Both went through the same column type, so the same instant has the
    same form; any other form only makes a bug look changed, and it is written again."""
    if not last_change:
        return set()
    dialect = session.get_bind().dialect
    proc = _BUGS.c.last_change_time.type.dialect_impl(dialect).bind_processor(dialect)
    converted: dict[datetime, Any] = {}  # many bugs of a chunk share a time: convert it once
    wanted = {}
    for bug_id, when in last_change.items():
        if proc is None:
            wanted[bug_id] = when
        elif (found := converted.get(when)) is not None and found[0] == when.utcoffset():
            wanted[bug_id] = found[1]
        else:
            converted[when] = (when.utcoffset(), proc(when))
            wanted[bug_id] = converted[when][1]
    return {int(bug_id) for bug_id, stored, reason in _select_in(
        session, f"SELECT id, last_change_time, unavailable_reason FROM {_BUGS.name}", "id",
        list(wanted)) if not reason and stored == wanted.get(int(bug_id))}


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _select_in(session: Session, head: str, column: str,
               values: Sequence[Any]) -> list[Any]:
    """Rows of ``head WHERE column IN (values)``, a slice of values per query, through the
    DBAPI cursor of the session's connection: Core's expanding IN rendered and processed each
    value for every query, which cost a backfill more than the query did."""
    if not values:
        return []
    conn = session.connection()
    mark = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - SQLite's and psycopg's paramstyles are both above
        raise NotImplementedError(conn.dialect.paramstyle)
    out: list[Any] = []
    for part in chunked(values):
        sql = f"{head} WHERE {column} IN ({', '.join([mark] * len(part))})"
        out.extend(conn.exec_driver_sql(sql, tuple(part)).fetchall())
    return out


def enqueue(session: Session, reasons: dict[int, str], stamp: datetime) -> None:
    """``queue.enqueue`` (the same rows: upserted, ``queued_at`` moved forward) in one
    executemany of a statement prepared once, the chunk's one timestamp converted once."""
    if not reasons:
        return
    writer = _writer(session, _QUEUE, QUEUE_COLUMNS, upsert_key="bug_id")
    queued = writer.convert("queued_at", stamp)
    writer.execute(session, [{"bug_id": bug_id, "reason": reason, "queued_at": queued}
                             for bug_id, reason in reasons.items()], converted=("queued_at",))


def insert_events(session: Session, rows: Sequence[dict[str, Any]],
                  converted: Sequence[str] = ()) -> None:
    """Insert ``mail_events`` rows (``message_id`` is the ``mail_messages`` row id)."""
    event_writer(session).execute(session, rows, converted)
