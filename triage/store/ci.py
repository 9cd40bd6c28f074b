"""Every CI-linking query: results (``ci_builds``), the intake's replay ledger, the sweep's
checkpoint and the per-signature state (``ci_failures``, read by triage.store.ci_links too)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage.ci.model import CellResult, from_payload
from triage.store.checkpoints import get_checkpoint, set_checkpoint
from triage.store.tables import BugRow, CiBuildResult, CiFailure, CiIntakeSeen, TriageStateRow

SWEEP_CHECKPOINT = "ci:sweep"


def _build_row(result: CellResult) -> dict[str, Any]:
    """A result as its ``ci_build_results`` row (one mapping for push, sweep and intake)."""
    return {"buildbot_build_id": result.build_id, "master": result.master, "cell": result.cell,
            "result": result.result, "revision": result.revision,
            "signature": result.signature, "properties": result.to_json(),
            "finished_at": result.finished_at}


def record_result(session: Session, result: CellResult) -> bool:
    """Store one result; False when this build (master + build id) is already stored."""
    exists = session.scalar(select(CiBuildResult.id).where(
        CiBuildResult.master == result.master,
        CiBuildResult.buildbot_build_id == result.build_id))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(CiBuildResult(**_build_row(result)))
    except IntegrityError:  # the same build pushed and swept at the same moment
        return False
    return True


def record_results(session: Session, results: list[CellResult]) -> int:
    """Store a page of results in one statement; returns how many were new. A build stored
    meanwhile (pushed while the page was read) makes the page fall back to one by one."""
    if not results:
        return 0
    by_master: dict[str, set[int]] = {}
    for r in results:
        by_master.setdefault(r.master, set()).add(r.build_id)
    known = set()
    for master, ids in by_master.items():
        known |= {(master, int(b)) for b in session.scalars(select(
            CiBuildResult.buildbot_build_id).where(CiBuildResult.master == master,
                                                   CiBuildResult.buildbot_build_id.in_(ids)))}
    new = {(r.master, r.build_id): r for r in results if (r.master, r.build_id) not in known}
    try:
        with session.begin_nested():
            session.add_all([CiBuildResult(**_build_row(r)) for r in new.values()])
    except IntegrityError:
        return sum(record_result(session, r) for r in new.values())
    return len(new)


_SEEN = cast(Table, CiIntakeSeen.__table__)
_BUILDS = cast(Table, CiBuildResult.__table__)
# Prebuilt Core statements: the intake runs them for every group commit, and building an ORM
# statement (and its cache key) each time was a measurable part of a post's CPU.
_SEEN_AMONG = select(_SEEN.c.digest).where(
    _SEEN.c.digest.in_(bindparam("digests", expanding=True)))
_BUILDS_AMONG = select(_BUILDS.c.master, _BUILDS.c.buildbot_build_id).where(
    _BUILDS.c.buildbot_build_id.in_(bindparam("ids", expanding=True)))
_INSERT_SEEN = insert(_SEEN)
_INSERT_BUILD = insert(_BUILDS)


def record_posts(conn: Connection, posts: list[tuple[str, list[CellResult]]], now: datetime,
                 *, optimistic: bool = False) -> list[list[str] | None]:
    """A group of checked intake posts (digest, results) in a few statements. Per post: None
    when its digest was seen before (a replay, the whole post refused), else each result's fate,
    ``stored`` or ``known`` (this build is already stored: pushed twice, or swept first).

    ``optimistic``: assume no replay and no known build (the common case) and only insert; a
    replay or a known build then fails the unique constraints with IntegrityError, and the
    caller repeats the group in a new transaction without ``optimistic``."""
    if optimistic:
        seen: set[str] = set()
        known: set[tuple[str, int]] = set()
    else:
        seen = set(conn.execute(_SEEN_AMONG, {"digests": [d for d, _ in posts]}).scalars())
        ids = sorted({r.build_id for _, rs in posts for r in rs})
        known = ({(m, int(b)) for m, b in conn.execute(_BUILDS_AMONG, {"ids": ids})}
                 if ids else set())
    out: list[list[str] | None] = []
    digest_rows, result_rows = [], []
    for digest, results in posts:
        if digest in seen:
            out.append(None)
            continue
        seen.add(digest)
        digest_rows.append({"digest": digest, "received_at": now})
        fates = []
        for result in results:
            key = (result.master, result.build_id)
            if key in known:
                fates.append("known")
                continue
            known.add(key)
            fates.append("stored")
            result_rows.append(_build_row(result))
        out.append(fates)
    if digest_rows:
        conn.execute(_INSERT_SEEN, digest_rows)
    if result_rows:
        conn.execute(_INSERT_BUILD, result_rows)
    return out


def prune_posts(conn: Connection, before: datetime) -> None:
    conn.execute(delete(_SEEN).where(_SEEN.c.received_at < before))


def sweep_position(session: Session, master: str) -> int:
    doc = get_checkpoint(session, SWEEP_CHECKPOINT) or {}
    return int(doc.get(master, 0))


def set_sweep_position(session: Session, master: str, build_id: int) -> None:
    doc = dict(get_checkpoint(session, SWEEP_CHECKPOINT) or {})
    doc[master] = max(int(doc.get(master, 0)), build_id)
    set_checkpoint(session, SWEEP_CHECKPOINT, doc)


def all_results(session: Session) -> list[CellResult]:
    """Every stored result in finishing order (build id breaks ties)."""
    rows = session.scalars(select(CiBuildResult).order_by(CiBuildResult.finished_at,
                                                          CiBuildResult.buildbot_build_id))
    return [from_payload(r.properties) for r in rows]


def result_count(session: Session) -> int:
    return len(session.scalars(select(CiBuildResult.id)).all())


@dataclass(frozen=True)
class SignatureRow:
    signature: str
    cls: str
    title: str
    stage: str
    cells: tuple[str, ...]
    bug_id: int | None
    state: str
    first_seen: datetime
    last_seen: datetime
    last_commented: datetime | None
    details: dict[str, Any]
    bug_status: str = ""
    bug_resolution: str = ""
    dupe_of: int | None = None
    claimed_by: str = ""


def signatures(session: Session) -> dict[str, SignatureRow]:
    query = (select(CiFailure, BugRow.status, BugRow.resolution,
                    TriageStateRow.claimed_by)
             .outerjoin(BugRow, BugRow.id == CiFailure.bug_id)
             .outerjoin(TriageStateRow, TriageStateRow.bug_id == CiFailure.bug_id))
    out = {}
    for row, status, resolution, claimed in session.execute(query):
        out[row.signature] = SignatureRow(
            row.signature, row.cls, row.title, row.stage, tuple(row.cells or ()), row.bug_id,
            row.state, row.first_seen, row.last_seen, row.last_commented, dict(row.details or {}),
            status or "", resolution or "", None, claimed or "")
    return out


def save_signature(session: Session, *, signature: str, cls: str, title: str, stage: str,
                   cells: Iterable[str], state: str, first_seen: datetime, last_seen: datetime,
                   details: dict[str, Any], bug_id: int | None = None,
                   commented: datetime | None = None) -> None:
    row = session.scalar(select(CiFailure).where(CiFailure.signature == signature))
    if row is None:
        row = CiFailure(signature=signature, first_seen=first_seen)
        session.add(row)
    row.cls, row.title, row.stage, row.first_line = cls, title, stage, title
    row.cells, row.state, row.last_seen, row.details = sorted(cells), state, last_seen, details
    if bug_id is not None:
        row.bug_id = bug_id
    if commented is not None:
        row.last_commented = commented
