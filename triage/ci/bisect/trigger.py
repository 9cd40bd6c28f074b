"""Which bisections CI linking asks for (pure: cell verdicts and results in, requests out).

* A confirmed **regression** of signature S (the cell passed at its last good revision and
  fails with S since) asks for a *cause* bisection of last good .. the first revision failing
  with S, on one cell of the signature (the one that regressed first: every cell of one
  signature is one cause).
* A signature that **passes again** (every affected cell passes, the planner's "fixed") asks
  for a *fix* bisection of the last revision failing with S .. the first passing one, when the
  signature has a bug whose "resolved" comment can name the commit.

The requests are the same on every pass, so the store's uniqueness holds each once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from triage.ci.bisect.model import CAUSE, FIX, BisectRequest
from triage.ci.grouping import SignatureGroup
from triage.ci.history import PASSING, CellVerdict
from triage.ci.model import CellResult
from triage.store.ci import SignatureRow
from workers.failure import PASSED


@dataclass(frozen=True)
class Wanted:
    request: BisectRequest
    signature: str  # the CI signature (the bug's) it is for


def _first_failing_with(results: Sequence[CellResult], signature: str) -> str:
    """The earliest revision of the cell's current failing streak that fails with S."""
    verified = [r for r in results if r.result == PASSED or r.failed]
    i = len(verified)
    while i > 0 and verified[i - 1].failed:
        i -= 1
    return next((r.revision for r in verified[i:] if r.signature == signature), "")


def _fix_range(results: Sequence[CellResult], signature: str) -> tuple[str, str]:
    """(the last revision failing with S, the first passing one after it); ("", "") when the
    cell's last failure was another one (nothing to bisect about S)."""
    verified = [r for r in results if r.result == PASSED or r.failed]
    last_fail = next((i for i in range(len(verified) - 1, -1, -1) if verified[i].failed), None)
    if last_fail is None or last_fail + 1 >= len(verified):
        return "", ""
    if verified[last_fail].signature != signature:
        return "", ""
    return verified[last_fail].revision, verified[last_fail + 1].revision


def wanted_bisections(groups: Sequence[SignatureGroup], verdicts: Mapping[str, CellVerdict],
                      rows: Mapping[str, SignatureRow],
                      results: Mapping[str, Sequence[CellResult]]) -> list[Wanted]:
    """``results``: each cell's results in finishing order."""
    out: list[Wanted] = []
    failing = {g.signature for g in groups}
    for g in groups:
        row = rows.get(g.signature)
        if g.mixed_titles or (row is not None and row.state == "invalid"):
            continue  # flagged or INVALID: no bug will carry the result, spend no builds
        # A regression, or a failure that went on since one (several results arrived in one
        # sweep): the cell passed at its last good revision.
        regressed = sorted((verdicts[c] for c in g.kinds
                            if verdicts[c].failing and verdicts[c].last_good),
                           key=lambda v: (v.first_bad_build, v.cell))
        for v in regressed:
            new = _first_failing_with(results.get(v.cell, ()), g.signature)
            if new and new != v.last_good:
                out.append(Wanted(BisectRequest(
                    kind=CAUSE, cell=v.cell, old=v.last_good, new=new, signature=g.signature,
                    flake_rate=v.flake_rate, origin_bug=row.bug_id if row else None),
                    g.signature))
                break
    for sig, row in sorted(rows.items()):
        if sig in failing or row.state != "failing" or row.bug_id is None:
            continue
        cells = [c for c in row.cells if c in verdicts]
        if not cells or not all(verdicts[c].state == PASSING for c in cells):
            continue
        for cell in sorted(cells):
            v = verdicts[cell]
            old, new = _fix_range(results.get(cell, ()), sig)
            if old and new and old != new:  # the same revision: a flake, not a fix
                out.append(Wanted(BisectRequest(
                    kind=FIX, cell=cell, old=old, new=new, signature=sig,
                    flake_rate=v.flake_rate, origin_bug=row.bug_id), sig))
                break
    return out
