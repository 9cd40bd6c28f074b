"""Every CI-linking query: results (``ci_builds``), the intake's replay ledger, the sweep's
checkpoint and the per-signature state (``ci_failures``, read by triage.store.ci_links too)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triage.ci.model import CellResult, from_payload
from triage.store.checkpoints import get_checkpoint, set_checkpoint
from triage.store.tables import BugRow, CiBuildResult, CiFailure, CiIntakeSeen, TriageStateRow

SWEEP_CHECKPOINT = "ci:sweep"


def record_result(session: Session, result: CellResult) -> bool:
    """Store one result; False when this build (master + build id) is already stored."""
    exists = session.scalar(select(CiBuildResult.id).where(
        CiBuildResult.master == result.master,
        CiBuildResult.buildbot_build_id == result.build_id))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(CiBuildResult(
                buildbot_build_id=result.build_id, master=result.master, cell=result.cell,
                result=result.result, revision=result.revision, signature=result.signature,
                properties=result.to_json(), finished_at=result.finished_at))
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
            session.add_all([CiBuildResult(
                buildbot_build_id=r.build_id, master=r.master, cell=r.cell, result=r.result,
                revision=r.revision, signature=r.signature, properties=r.to_json(),
                finished_at=r.finished_at) for r in new.values()])
    except IntegrityError:
        return sum(record_result(session, r) for r in new.values())
    return len(new)


def remember_post(session: Session, digest: str, now: datetime, keep: timedelta) -> bool:
    """Note an accepted post's digest; False when it was seen before (a replay)."""
    if session.get(CiIntakeSeen, digest) is not None:
        return False
    session.execute(delete(CiIntakeSeen).where(CiIntakeSeen.received_at < now - keep))
    try:
        with session.begin_nested():
            session.add(CiIntakeSeen(digest=digest, received_at=now))
    except IntegrityError:
        return False
    return True


def record_posts(session: Session, posts: list[tuple[CellResult, str]], now: datetime,
                 keep: timedelta) -> list[str]:
    """A batch of checked intake posts (result, digest) in a few statements: each one's fate,
    ``replayed`` (digest seen), ``stored`` or ``known`` (build already stored)."""
    digests = [d for _, d in posts]
    seen = set(session.scalars(select(CiIntakeSeen.digest).where(
        CiIntakeSeen.digest.in_(digests))))
    keys = {(r.master, r.build_id) for r, _ in posts}
    known: set[tuple[str, int]] = set()
    for master in {m for m, _ in keys}:
        ids = [b for m, b in keys if m == master]
        known |= {(master, int(b)) for b in session.scalars(select(
            CiBuildResult.buildbot_build_id).where(CiBuildResult.master == master,
                                                   CiBuildResult.buildbot_build_id.in_(ids)))}
    fates, digest_rows, result_rows = [], [], []
    for result, digest in posts:
        if digest in seen:
            fates.append("replayed")
            continue
        seen.add(digest)
        digest_rows.append({"digest": digest, "received_at": now})
        key = (result.master, result.build_id)
        if key in known:
            fates.append("known")
            continue
        known.add(key)
        fates.append("stored")
        result_rows.append({"buildbot_build_id": result.build_id, "master": result.master,
                            "cell": result.cell, "result": result.result,
                            "revision": result.revision, "signature": result.signature,
                            "properties": result.to_json(), "finished_at": result.finished_at})
    if digest_rows:
        session.execute(insert(CiIntakeSeen), digest_rows)
    if result_rows:
        session.execute(insert(CiBuildResult), result_rows)
    return fates


def prune_posts(session: Session, before: datetime) -> None:
    session.execute(delete(CiIntakeSeen).where(CiIntakeSeen.received_at < before))


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
