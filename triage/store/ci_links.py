"""The bug linked to each CI cell: ``ci_failures`` (written by CI linking) with the bug and claim.

One query for the whole matrix: every failure signature that has a bug, outer-joined with the
bug cache (status, resolution, summary) and the triage state (who claimed it). A signature lists
the cells it was seen in; a cell seen in several takes the one seen last, a failing one before
a passing one. Until CI linking writes the table the answer is empty and the page says "no bug".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage.store.tables import BugRow, CiFailure, TriageStateRow


@dataclass(frozen=True)
class CellBug:
    bug_id: int
    status: str  # "" when the bug is not in the cache (yet)
    resolution: str
    summary: str
    claimed_by: str
    signature: str
    failing: bool
    last_seen: datetime
    bisection: str = ""  # the signature's latest bisection in one line (issue #17)


def bugs_by_cell(session: Session) -> dict[str, CellBug]:
    query = (
        select(CiFailure.cells, CiFailure.bug_id, CiFailure.signature, CiFailure.state,
               CiFailure.last_seen, BugRow.status, BugRow.resolution, BugRow.summary,
               TriageStateRow.claimed_by)
        .outerjoin(BugRow, BugRow.id == CiFailure.bug_id)
        .outerjoin(TriageStateRow, TriageStateRow.bug_id == CiFailure.bug_id)
        .where(CiFailure.bug_id.is_not(None))
    )
    from triage.ci.bisect.report import one_line
    from triage.store.bisections import latest_by_signature

    bisections = latest_by_signature(session)  # one more query, whatever the matrix's size
    out: dict[str, CellBug] = {}
    for cells, bug_id, sig, state, last_seen, status, resolution, summary, claimed in \
            session.execute(query):
        latest = bisections.get(sig)
        link = CellBug(int(bug_id), status or "", resolution or "", summary or "",
                       claimed or "", sig, state == "failing", last_seen,
                       one_line(latest) if latest else "")
        for cell in cells or []:
            old = out.get(str(cell))
            if old is None or (link.failing, link.last_seen) > (old.failing, old.last_seen):
                out[str(cell)] = link
    return out
