"""What ``xentriage ci status`` shows (pure over the store's rows and the cell verdicts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from triage.ci.history import CellVerdict, judge_all
from triage.ci.model import CellResult
from triage.store import Store
from triage.store import ci as ci_rows
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


@dataclass(frozen=True)
class CiStatus:
    signatures: tuple[SignatureStatus, ...]
    awaiting_retry: tuple[str, ...]
    flaky: tuple[tuple[str, float], ...]  # (cell, flake rate) of cells that ever flaked
    environment: tuple[tuple[str, str, str, str], ...]  # (worker, owner, cell, reason)
    results: int

    def to_json(self) -> dict[str, Any]:
        return {"signatures": [asdict(s) for s in self.signatures],
                "awaiting_retry": list(self.awaiting_retry),
                "flaky": [{"cell": c, "flake_rate": round(r, 3)} for c, r in self.flaky],
                "environment": [{"worker": w, "owner": o, "cell": c, "reason": r}
                                for w, o, c, r in self.environment],
                "results": self.results}


def build_status(rows: Mapping[str, ci_rows.SignatureRow], verdicts: Mapping[str, CellVerdict],
                 latest: Mapping[str, CellResult], owners: Mapping[str, str], results: int
                 ) -> CiStatus:
    sigs = tuple(
        SignatureStatus(r.signature, r.cls, r.title, r.state,
                        str(r.details.get("description", "")), r.cells,
                        r.first_seen.isoformat(timespec="seconds"),
                        r.last_seen.isoformat(timespec="seconds"),
                        str(r.details.get("last_good", "")), str(r.details.get("first_bad", "")),
                        r.bug_id, r.bug_status, r.claimed_by)
        for r in sorted(rows.values(), key=lambda r: r.last_seen, reverse=True)
        if r.state != "passing")
    env = tuple(sorted((r.worker, owners.get(r.worker, ""), r.cell, r.reason[:200])
                       for r in latest.values() if r.result == ENVIRONMENT))
    return CiStatus(
        signatures=sigs,
        awaiting_retry=tuple(sorted(c for c, v in verdicts.items()
                                    if v.state == "awaiting-retry")),
        flaky=tuple(sorted((c, v.flake_rate) for c, v in verdicts.items() if v.flaky_runs)),
        environment=env, results=results)


def load_status(store: Store, owners: Mapping[str, str]) -> CiStatus:
    with store.session() as s:
        results = ci_rows.all_results(s)
        rows = ci_rows.signatures(s)
    latest: dict[str, CellResult] = {}
    for r in results:
        latest[r.cell] = r
    return build_status(rows, judge_all(results), latest, owners, len(results))


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
    if status.awaiting_retry:
        lines.append("awaiting retry: " + ", ".join(status.awaiting_retry))
    for cell, rate in status.flaky:
        lines.append(f"flaky: {cell} (flake rate {rate:.0%})")
    for worker, owner, cell, reason in status.environment:
        lines.append(f"environment: worker {worker or '?'} (owner {owner or 'unknown'}): "
                     f"{cell}: {reason}")
    return "\n".join(lines)
