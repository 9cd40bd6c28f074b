"""What the weekly digest reads from the store, and the ``digests`` table (sent digests, holds).

The digest's inputs are read in a fixed number of queries, whatever the number of bugs
(:func:`load_inputs`): the open bugs, the bugs closed since the trend window began, every triage
state, the newest exclusion decision per excluded bug, the CI failures and the last digest sent.
The model itself is built from them by the pure :mod:`reports.build`.

Rows of ``digests`` are keyed ``<kind>:<ISO week>`` (``mail:2026-W49``, ``wiki:2026-W49``,
``hold:2026-W49``, ``preview:2026-W49``). A mail row is written ``planned`` with the model
*before* the mail goes out and marked ``sent`` after; the model of the last ``sent`` row is what
the next digest diffs against, i.e. what readers actually saw.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage.model import Bug, Flag, TriageState, bug_from_dict, parse_bz_time, utc
from triage.rules.base import StateRecord
from triage.store.chunks import chunked
from triage.store.db import Store
from triage.store.tables import BugRow, CiFailure, DecisionRow, DigestSent, TriageStateRow

PLANNED = "planned"
SENT = "sent"
HELD = "held"
SKIPPED = "skipped"
WRITTEN = "written"
FAILED = "failed"
CLASS_DETAILS = ("account_class", "class")


@dataclass(frozen=True)
class Exclusion:
    """Why a bug left the community flow: the newest decision that moved it to ``excluded``.
    ``label`` is the decision's outcome (``corporate`` today; any account class a rule records,
    e.g. ``project``, shows up as its own label without code changes)."""

    bug_id: int
    rule: str
    label: str
    organisation: str


@dataclass(frozen=True)
class CiFailureRecord:
    signature: str
    stage: str
    first_line: str
    cells: tuple[str, ...]
    bug_id: int | None
    first_seen: datetime
    last_seen: datetime
    bisection: str = ""  # its latest bisection in one line (issue #17), "" when none


@dataclass(frozen=True)
class StoredDigest:
    key: str
    week: str
    status: str
    message_id: str
    model: dict[str, Any]
    sent_at: datetime | None
    created_at: datetime  # for a mail row: when the current attempt claimed it


@dataclass
class DigestInputs:
    """Everything the model needs, as typed values."""

    open_bugs: list[Bug] = field(default_factory=list)
    closed_bugs: list[Bug] = field(default_factory=list)  # closed since the trend window began
    states: dict[int, StateRecord] = field(default_factory=dict)
    exclusions: dict[int, Exclusion] = field(default_factory=dict)
    ci_failures: list[CiFailureRecord] = field(default_factory=list)
    previous: StoredDigest | None = None
    # Bugs read without their comments: when a human first answered (None: never yet); for
    # closed ones, when the history last shows a closing status.
    first_responses: dict[int, datetime | None] = field(default_factory=dict)
    closed_at: dict[int, datetime] = field(default_factory=dict)


def _sql_text_list(values: Sequence[str], *, lower: bool = True) -> str:
    """A JSON array as a SQL string literal (configuration values; quotes doubled)."""
    items = sorted({v.lower() if lower else v for v in values})
    return "'" + json.dumps(items).replace("'", "''") + "'"


def projection_sql(dialect: str, q: DigestQuery) -> tuple[str, str, str]:
    """Three correlated subqueries over the stored JSON, computed by the database so that most
    bugs never reach Python whole: (whiteboard/keywords/flags as one JSON array, the time of
    the first comment by someone other than the reporter and the bots, the time the history
    last shows a closing status)."""
    bots = _sql_text_list(q.ignore_authors)
    closing = _sql_text_list(q.closed_statuses, lower=False)
    if dialect == "postgresql":
        return (
            "json_build_array(bugs.data->'whiteboard', bugs.data->'keywords', "
            "bugs.data->'flags')::text",
            "(SELECT MIN(c->>'creation_time') FROM json_array_elements(bugs.data->'comments') "
            "AS c WHERE (c->>'count')::int > 0 AND lower(c->>'author') <> lower(bugs.creator) "
            f"AND lower(c->>'author') NOT IN (SELECT json_array_elements_text({bots}::json)))",
            "(SELECT MAX(h->>'when') FROM json_array_elements(bugs.data->'history') AS h, "
            "json_array_elements(h->'changes') AS ch WHERE ch->>'field_name' IN "
            f"('status', 'bug_status') AND ch->>'added' IN "
            f"(SELECT json_array_elements_text({closing}::json)))")
    return (
        "json_extract(bugs.data, '$.whiteboard', '$.keywords', '$.flags')",
        "(SELECT MIN(json_extract(c.value, '$.creation_time')) FROM json_each(bugs.data, "
        "'$.comments') AS c WHERE json_extract(c.value, '$.count') > 0 AND "
        "lower(json_extract(c.value, '$.author')) <> lower(bugs.creator) AND "
        f"lower(json_extract(c.value, '$.author')) NOT IN (SELECT value FROM json_each({bots})))",
        "(SELECT MAX(json_extract(h.value, '$.when')) FROM json_each(bugs.data, '$.history') "
        "AS h, json_each(h.value, '$.changes') AS ch WHERE json_extract(ch.value, "
        "'$.field_name') IN ('status', 'bug_status') AND json_extract(ch.value, '$.added') IN "
        f"(SELECT value FROM json_each({closing})))")


def _flags(rows: Sequence[dict[str, Any]]) -> tuple[Flag, ...]:
    return tuple(Flag(name=f["name"], status=f["status"], setter=f.get("setter", ""),
                      requestee=f.get("requestee"), id=f.get("id"),
                      creation_date=parse_bz_time(f.get("creation_date")),
                      modification_date=parse_bz_time(f.get("modification_date")))
                 for f in rows)


@dataclass(frozen=True)
class DigestQuery:
    """What the digest asks the store for."""

    closed_since: datetime  # closed bugs changed since then (the trend window)
    week_start: datetime  # closed bugs fixed since then are read whole (their fix reference)
    week: str
    products: tuple[str, ...] = ()
    in_progress: str = "IN_PROGRESS"
    closed_statuses: tuple[str, ...] = ("RESOLVED", "VERIFIED")
    fixed_resolution: str = "FIXED"
    ignore_authors: tuple[str, ...] = ()


def load_inputs(session: Session, q: DigestQuery) -> DigestInputs:
    """The digest's inputs in eight queries, whatever the number of bugs (the benchmark
    counts them).

    Most bugs need only their fields, whiteboard, keywords, flags, when a human first answered
    and (closed ones) when they were closed: those come projected, the database reading the
    stored JSON, which keeps 10,000 open bugs and a year of history well under a second. Only
    the bugs that need their whole record are read in full: possible claims (a claim's age and
    last activity) and the bugs fixed this week (their fix reference).
    """
    out = DigestInputs()
    product_filter = [BugRow.product.in_(list(q.products))] if q.products else []
    live = [BugRow.unavailable_reason == "", *product_filter]
    claimed = select(TriageStateRow.bug_id).where(
        TriageStateRow.state.in_([TriageState.CLAIMED.value, TriageState.NUDGED.value]))
    may_be_claimed = or_(BugRow.status == q.in_progress, BugRow.id.in_(claimed))
    for (data,) in session.execute(select(BugRow.data).where(
            BugRow.is_open.is_(True), *live, may_be_claimed)):
        out.open_bugs.append(bug_from_dict(data))
    tags_sql, first_sql, closed_sql = projection_sql(session.get_bind().dialect.name, q)
    projected = select(
        BugRow.id, BugRow.summary, BugRow.product, BugRow.component, BugRow.status,
        BugRow.resolution, BugRow.creator, BugRow.assigned_to, BugRow.is_open,
        BugRow.creation_time, BugRow.last_change_time, literal_column(tags_sql),
        literal_column(first_sql),
        # Only closed bugs need their closing time: each JSON function parses the document.
        literal_column(f"CASE WHEN bugs.is_open THEN NULL ELSE {closed_sql} END"),
    ).where(*live, or_(and_(BugRow.is_open.is_(True), ~may_be_claimed),
                       and_(BugRow.is_open.is_(False), BugRow.last_change_time >= q.closed_since)))
    fixed_now: list[int] = []
    for (bug_id, summary, product, component, status, resolution, creator, assigned, is_open,
         created, changed, tags, first, closed) in session.execute(projected):
        whiteboard, keywords, flags = json.loads(tags) if tags else ("", [], [])
        bug = Bug(id=int(bug_id), summary=summary, product=product, component=component,
                  status=status, resolution=resolution or "", creator=creator,
                  assigned_to=assigned or "", creation_time=utc(created),
                  last_change_time=utc(changed), whiteboard=whiteboard or "",
                  keywords=tuple(keywords or ()), flags=_flags(flags or ()),
                  is_open=bool(is_open))
        out.first_responses[bug.id] = parse_bz_time(first) if first else None
        if is_open:
            out.open_bugs.append(bug)
            continue
        closed_at = (parse_bz_time(closed) if closed else None) or bug.last_change_time
        out.closed_at[bug.id] = closed_at
        if resolution == q.fixed_resolution and closed_at >= q.week_start:
            fixed_now.append(bug.id)
        else:
            out.closed_bugs.append(bug)
    for chunk in chunked(fixed_now):  # a week's fixes: one query in practice
        for (data,) in session.execute(select(BugRow.data).where(BugRow.id.in_(chunk))):
            out.closed_bugs.append(bug_from_dict(data))
    # Plain rows, not ORM objects: a digest reads every state, and 20,000 ORM instances cost a
    # second.
    t = TriageStateRow
    states = TriageState._value2member_map_
    out.states = {
        int(bug_id): StateRecord(
            bug_id=int(bug_id), state=typing.cast(TriageState, states[state]), since=utc(since),
            claimed_by=claimed_by or "", claimed_at=utc(claimed_at) if claimed_at else None,
            organisation=organisation or "", fix_reference=fix_reference or "")
        for bug_id, state, since, claimed_by, claimed_at, organisation, fix_reference in
        session.execute(select(t.bug_id, t.state, t.since, t.claimed_by, t.claimed_at,
                               t.organisation, t.fix_reference).where(t.bug_id.in_(
                                   select(BugRow.id).where(or_(
                                       BugRow.is_open.is_(True),
                                       BugRow.last_change_time >= q.closed_since)))))}
    newest = (select(func.max(DecisionRow.id)).where(DecisionRow.state == "excluded")
              .group_by(DecisionRow.bug_id))
    for bug_id, rule, outcome, details in session.execute(
            select(DecisionRow.bug_id, DecisionRow.rule, DecisionRow.outcome,
                   DecisionRow.details).where(DecisionRow.id.in_(newest))):
        details = details or {}
        org = str(details.get("organisation", ""))
        # The class a rule gives the account (corporate, project, ...): a detail when the rule
        # records one, else the decision's outcome.
        label = next((str(details[k]) for k in CLASS_DETAILS if details.get(k)), outcome)
        out.exclusions[int(bug_id)] = Exclusion(int(bug_id), rule, label, org)
    from triage.ci.bisect.report import one_line
    from triage.store.bisections import latest_by_signature

    bisections = latest_by_signature(session)
    out.ci_failures = [
        CiFailureRecord(r.signature, r.stage, r.first_line, tuple(str(c) for c in r.cells or ()),
                        r.bug_id, utc(r.first_seen), utc(r.last_seen),
                        one_line(bisections[r.signature]) if r.signature in bisections
                        else "")
        for r in session.scalars(select(CiFailure).where(CiFailure.state == "failing"))]
    out.previous = last_sent(session, before_week=q.week)
    return out


def _stored(row: DigestSent) -> StoredDigest:
    return StoredDigest(row.key, row.key.partition(":")[2], row.status, row.message_id or "",
                        dict(row.payload or {}), utc(row.sent_at) if row.sent_at else None,
                        utc(row.created_at))


def last_sent(session: Session, *, before_week: str) -> StoredDigest | None:
    """The newest digest mail actually sent for a week before ``before_week``."""
    row = session.scalars(
        select(DigestSent).where(DigestSent.kind == "mail", DigestSent.status == SENT,
                                 DigestSent.key < f"mail:{before_week}")
        .order_by(DigestSent.key.desc()).limit(1)).first()
    return _stored(row) if row is not None else None


def get(session: Session, kind: str, week: str) -> StoredDigest | None:
    row = session.get(DigestSent, f"{kind}:{week}")
    return _stored(row) if row is not None else None


def record(session: Session, kind: str, week: str, status: str, *, model: dict[str, Any],
           message_id: str = "", now: datetime | None = None) -> None:
    """Insert or update the row ``<kind>:<week>``; ``sent_at`` is set when status is sent."""
    now = now or datetime.now(UTC)
    key = f"{kind}:{week}"
    row = session.get(DigestSent, key)
    if row is None:
        row = DigestSent(key=key, kind=kind, created_at=now)
        session.add(row)
    row.status = status
    row.payload = model
    row.message_id = message_id or row.message_id or ""
    if status in (SENT, WRITTEN):
        row.sent_at = now


def claim(store: Store, kind: str, week: str, *, model: dict[str, Any], message_id: str,
          now: datetime, expected: str | None, expected_at: datetime | None) -> bool:
    """Take the week's row for sending (status ``planned``), atomically: an insert when there
    is none (a concurrent insert loses on the primary key), else a conditional update from the
    state the caller saw (``expected`` at ``expected_at``). False: another run got there."""
    key = f"{kind}:{week}"
    try:
        with store.session() as s:
            if expected is None:
                s.add(DigestSent(key=key, kind=kind, status=PLANNED, message_id=message_id,
                                 payload=model, created_at=now))
                s.flush()
                return True
            result = s.execute(
                update(DigestSent).where(DigestSent.key == key, DigestSent.status == expected,
                                         DigestSent.created_at == expected_at)
                .values(status=PLANNED, payload=model, message_id=message_id, created_at=now))
            return bool(getattr(result, "rowcount", 0) == 1)
    except IntegrityError:
        return False


def recent(session: Session, limit: int = 20) -> list[StoredDigest]:
    rows = session.scalars(select(DigestSent).order_by(DigestSent.created_at.desc())
                           .limit(limit))
    return [_stored(r) for r in rows]
