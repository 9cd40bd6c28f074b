"""What ``xentriage ci status`` shows (pure over the store's rows and the cell verdicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from triage.ci.bisect.report import one_line
from triage.ci.history import CellVerdict, judge_all
from triage.ci.model import CellResult
from triage.store import Store
from triage.store import bisections as bisect_rows
from triage.store import ci as ci_rows
from triage.store.bisections import BisectionRecord
from workers.failure import ENVIRONMENT


@dataclass(frozen=True)
class SignatureStatus:
    signature: str
    cls: str
    title: str
    state: str  # failing | flagged | invalid
    affected: str
    cells: tuple[str, ...]
    first_seen: str
    last_seen: str
    last_good: str
    first_bad: str
    bug_id: int | None
    bug_status: str
    claimed_by: str
    bisection: str = ""  # the latest bisection of it in one line (issue #17)


@dataclass(frozen=True)
class CiStatus:
    signatures: tuple[SignatureStatus, ...]
    awaiting_retry: tuple[str, ...]
    flaky: tuple[tuple[str, float], ...]  # (cell, flake rate) of cells that ever flaked
    environment: tuple[tuple[str, str, str, str], ...]  # (worker, owner, cell, reason)
    results: int
    bisections: tuple[dict[str, Any], ...] = ()  # every bisection (bisection_json)

    def to_json(self) -> dict[str, Any]:
        return {"signatures": [asdict(s) for s in self.signatures],
                "awaiting_retry": list(self.awaiting_retry),
                "flaky": [{"cell": c, "flake_rate": round(r, 3)} for c, r in self.flaky],
                "environment": [{"worker": w, "owner": o, "cell": c, "reason": r}
                                for w, o, c, r in self.environment],
                "results": self.results, "bisections": list(self.bisections)}


def build_status(rows: Mapping[str, ci_rows.SignatureRow], verdicts: Mapping[str, CellVerdict],
                 latest: Mapping[str, CellResult], owners: Mapping[str, str], results: int,
                 bisections: Mapping[str, Sequence[BisectionRecord]] | None = None
                 ) -> CiStatus:
    bisections = bisections or {}
    sigs = tuple(
        SignatureStatus(r.signature, r.cls, r.title, r.state,
                        str(r.details.get("description", "")), r.cells,
                        r.first_seen.isoformat(timespec="seconds"),
                        r.last_seen.isoformat(timespec="seconds"),
                        str(r.details.get("last_good", "")), str(r.details.get("first_bad", "")),
                        r.bug_id, r.bug_status, r.claimed_by,
                        "; ".join(one_line(b) for b in bisections.get(r.signature, ())))
        for r in sorted(rows.values(), key=lambda r: r.last_seen, reverse=True)
        if r.state != "passing")
    env = tuple(sorted((r.worker, owners.get(r.worker, ""), r.cell, r.reason[:200])
                       for r in latest.values() if r.result == ENVIRONMENT))
    return CiStatus(
        signatures=sigs,
        awaiting_retry=tuple(sorted(c for c, v in verdicts.items()
                                    if v.state == "awaiting-retry")),
        flaky=tuple(sorted((c, v.flake_rate) for c, v in verdicts.items() if v.flaky_runs)),
        environment=env, results=results,
        bisections=tuple(bisection_json(b) for recs in bisections.values() for b in recs))


def bisection_json(rec: BisectionRecord) -> dict[str, Any]:
    out = rec.outcome
    req = rec.request

    def commit(c: Any) -> dict[str, str] | None:
        return None if c is None else {"id": c.id, "subject": c.subject, "author": c.author,
                                       "url": c.url}

    return {
        "id": rec.id, "kind": req.kind, "cell": req.cell, "old": req.old, "new": req.new,
        "signature": rec.signature, "state": rec.state, "status": rec.status,
        "queued_at": rec.queued_at.isoformat(timespec="seconds"),
        "started_at": rec.started_at.isoformat(timespec="seconds") if rec.started_at else None,
        "finished_at": rec.finished_at.isoformat(timespec="seconds") if rec.finished_at
        else None,
        "first_new": commit(out.first_new) if out else None,
        "last_old": commit(out.last_old) if out else None,
        "confidence": round(out.confidence, 4) if out else None,
        "builds": out.builds if out else 0, "rounds": out.rounds if out else 0,
        "reason": (out.reason if out else rec.error),
        "candidates": [commit(c) for c in out.candidates] if out else [],
        "steps": [{"commit": st.commit.id, "verdict": st.verdict, "reason": st.reason,
                   "results": [r.result for r in st.runs]} for st in out.steps] if out else [],
        "reported": bool(rec.reported_key), "summary": one_line(rec)}


def load_status(store: Store, owners: Mapping[str, str]) -> CiStatus:
    with store.session() as s:
        results = ci_rows.all_results(s)
        rows = ci_rows.signatures(s)
        bisections = bisect_rows.by_signature(s)
    latest: dict[str, CellResult] = {}
    for r in results:
        latest[r.cell] = r
    return build_status(rows, judge_all(results), latest, owners, len(results), bisections)


def render(status: CiStatus) -> str:
    lines = [f"{status.results} results stored; {len(status.signatures)} open signature(s)"]
    for s in status.signatures:
        bug = (f"bug {s.bug_id}" + (f" ({s.bug_status})" if s.bug_status else "")
               if s.bug_id else "no bug yet")
        claim = f", claimed by {s.claimed_by}" if s.claimed_by else ""
        lines.append(f"- {s.signature} [{s.cls}] {s.state}: {s.title}")
        lines.append(f"    affected: {s.affected} ({len(s.cells)} cells: {', '.join(s.cells)})")
        reg = (f"last good {s.last_good}, first bad {s.first_bad}" if s.last_good else
               f"never passed (first bad {s.first_bad or '?'})")
        lines.append(f"    {reg}; first seen {s.first_seen}, last seen {s.last_seen}")
        lines.append(f"    {bug}{claim}")
        if s.bisection:
            lines.append(f"    bisection: {s.bisection}")
    pending = [b for b in status.bisections if b["state"] != "done"]
    if pending:
        lines.append("bisections waiting: " + ", ".join(
            f"{b['kind']} {b['cell']} {b['old'][:12]}..{b['new'][:12]} ({b['state']})"
            for b in pending))
    if status.awaiting_retry:
        lines.append("awaiting retry: " + ", ".join(status.awaiting_retry))
    for cell, rate in status.flaky:
        lines.append(f"flaky: {cell} (flake rate {rate:.0%})")
    for worker, owner, cell, reason in status.environment:
        lines.append(f"environment: worker {worker or '?'} (owner {owner or 'unknown'}): "
                     f"{cell}: {reason}")
    return "\n".join(lines)
