"""The CI bug planner (pure): signature groups + what the store and Bugzilla know → Changes.

Per signature, one bug, found by its whiteboard tag ``[ci:<signature>]``:

* failing, no bug: file one (product/component from ``ci.components`` by library);
* failing, bug open: comment with the cells not reported yet, at most once per
  ``ci.comment_interval_hours``;
* failing, bug resolved (not INVALID/DUPLICATE): reopen with the new evidence;
* no longer failing, every affected cell passing: comment with the fixing revision and, with
  ``ci.resolve_on_pass``, resolve FIXED;
* INVALID: never filed again; DUPLICATE: folded into the target bug (the linker resolves it);
* titles that disagree: flagged, nothing filed.

Keys are stable across runs (signature, bug, the cells or revision concerned), so a second run
plans the same keys and the Writer's ledger and markers make it write nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from triage.ci.bisect.report import FixNote
from triage.ci.grouping import SignatureGroup
from triage.ci.history import CellVerdict
from triage.config import CiSettings, WorkflowSettings
from triage.model import Bug, BugUpdate, Change, NewBug
from triage.store.ci import SignatureRow

RULE = "ci-link"
FAILING, PASSING, FLAGGED, INVALID = "failing", "passing", "flagged", "invalid"


def whiteboard_tag(signature: str) -> str:
    return f"ci:{signature}"


@dataclass
class SignaturePlan:
    signature: str
    state: str
    group: SignatureGroup | None
    change: Change | None = None
    bug_id: int | None = None
    why: str = ""
    # What the store keeps once the change is applied (or at once when there is none).
    details: dict[str, Any] = field(default_factory=dict)
    commented: bool = False
    bisection_id: int | None = None  # the fix bisection its "resolved" comment carries


def _hash(items: Any) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:10]


def _component(group: SignatureGroup, ci: CiSettings) -> tuple[str, str]:
    libs = {lib for r in group.results for lib in r.axes.get("libset", "").split("+")}
    common = set.intersection(*(set(r.axes.get("libset", "").split("+"))
                                for r in group.results)) if group.results else set()
    for lib in sorted(common) + sorted(libs):
        if lib in ci.components:
            product, _, component = ci.components[lib].partition("/")
            return product, component or ci.default_component
    return ci.default_product, ci.default_component


def _cells_text(group: SignatureGroup) -> str:
    lines = []
    for r in group.results:
        kind = group.kinds.get(r.cell, "")
        lines.append(f"  {r.cell}  [{kind}] revision {r.revision or '?'}  worker {r.worker or '?'}"
                     f"\n    build: {r.build_url or '(no link)'}")
    return "\n".join(lines)


def describe_failure(group: SignatureGroup) -> str:
    first = group.results[0]
    regression = (f"Last good revision: {group.last_good}\nFirst bad revision: {group.first_bad}"
                  if group.last_good else
                  f"Never passed on these cells (first seen failing at {group.first_bad or '?'})")
    evidence = "\n".join(f"  > {line}" for line in first.evidence[:12]) or "  (no excerpt)"
    passing = ", ".join(group.comparable_passing) or "none"
    return (
        f"The CI farm sees one cause failing {len(group.cells)} cell(s).\n\n"
        f"Class: {group.cls}\nSignature: {group.signature}\n"
        f"Affected: {group.description}\n{regression}\n\n"
        f"Evidence ({first.cell}):\n{evidence}\n\n"
        f"Cells:\n{_cells_text(group)}\n\n"
        f"Comparable cells passing at the same revision: {passing}\n\n"
        f"How to reproduce by hand: the first lines of a build's stdio log are the exact\n"
        f"command the worker ran (python3 -m workers.cell --spec-json ...); run it in a tree\n"
        f"checked out at revision {first.revision or '(see the build)'}. On the farm:\n"
        f"  xentriage farm run --cells {first.cell}\n"
    )


def _dupe_target(bug: Bug) -> int | None:
    import re

    for c in reversed(bug.comments):
        m = re.search(r"duplicate of bug (\d+)", c.text)
        if m:
            return int(m.group(1))
    return None


def plan_signatures(groups: list[SignatureGroup], verdicts: Mapping[str, CellVerdict],
                    rows: Mapping[str, SignatureRow], bugs: Mapping[int, Bug],
                    found: Mapping[str, int], ci: CiSettings, workflow: WorkflowSettings,
                    now: datetime, fix_notes: Mapping[str, FixNote] | None = None
                    ) -> list[SignaturePlan]:
    """``bugs``: the current Bugzilla state of every linked bug (and duplicate targets);
    ``found``: signatures without a stored bug whose whiteboard tag found one;
    ``fix_notes``: what each signature's fix bisection adds to its "resolved" comment."""
    plans: list[SignaturePlan] = []
    failing = {g.signature: g for g in groups}
    closed = set(workflow.closed_statuses)

    def link_of(sig: str) -> tuple[int | None, Bug | None, bool]:
        row = rows.get(sig)
        bug_id = (row.details.get("dupe_of") or row.bug_id) if row else None
        bug_id = bug_id or found.get(sig)
        seen: set[int] = set()
        while bug_id is not None and bug_id in bugs and bug_id not in seen:
            seen.add(bug_id)
            bug = bugs[bug_id]
            if bug.resolution == "DUPLICATE" and _dupe_target(bug) is not None:
                bug_id = _dupe_target(bug)
                continue
            return bug_id, bug, bug.resolution == "INVALID"
        return bug_id, None, False

    for sig, group in failing.items():
        row = rows.get(sig)
        details = {"description": group.description, "kinds": dict(group.kinds),
                   "last_good": group.last_good, "first_bad": group.first_bad,
                   "comparable_passing": list(group.comparable_passing),
                   "reported_cells": list(row.details.get("reported_cells", [])) if row else [],
                   "filings": int(row.details.get("filings", 0)) if row else 0}
        bug_id, bug, invalid = link_of(sig)
        if row and row.details.get("dupe_of"):
            details["dupe_of"] = row.details["dupe_of"]
        if bug_id is not None and row is not None and bug_id != row.bug_id:
            details["dupe_of"] = bug_id
        plan = SignaturePlan(sig, FAILING, group, bug_id=bug_id, details=details)
        plans.append(plan)
        if group.mixed_titles:
            plan.state, plan.why = FLAGGED, "titles disagree: " + " | ".join(group.titles)[:300]
            continue
        if invalid or (row is not None and row.state == INVALID):
            plan.state, plan.why = INVALID, f"bug {bug_id} is INVALID: not filed again"
            continue
        if bug_id is None:
            product, component = _component(group, ci)
            plan.change = Change(
                key=f"ci:file:{sig}:{details['filings']}", rule=RULE,
                reason=f"CI: {group.cls} in {len(group.cells)} cell(s): {group.description}",
                create=NewBug(product=product, component=component, version=ci.version,
                              summary=group.title[:255] or f"CI {group.cls} {sig}",
                              description=describe_failure(group), keywords=(),
                              whiteboard=f"[{whiteboard_tag(sig)}]"))
            plan.why = "new cause"
            continue
        if bug is None:
            plan.why = f"bug {bug_id} not readable now"
            continue
        if bug.status in closed:
            first = group.results[0]
            plan.change = Change(
                key=f"ci:reopen:{sig}:{bug_id}:{min(r.build_id for r in group.results)}",
                rule=RULE, reason="CI: a resolved cause fails again", bug_id=bug_id,
                update=BugUpdate(
                    status=workflow.reopened or workflow.confirmed,
                    comment=(f"The CI farm sees this failure again ({len(group.cells)} cell(s), "
                             f"revision {first.revision or '?'}): reopening.\n\n"
                             + describe_failure(group))))
            plan.why = "came back"
            continue
        reported = set(row.details.get("reported_cells", [])) if row else set()
        new = [c for c in group.cells if c not in reported]
        due = (row is None or row.last_commented is None or
               now - row.last_commented >= timedelta(hours=ci.comment_interval_hours))
        if new and due:
            plan.change = Change(
                key=f"ci:cells:{sig}:{bug_id}:{_hash(sorted(new))}", rule=RULE,
                reason=f"CI: {len(new)} more cell(s) fail the same way", bug_id=bug_id,
                update=BugUpdate(comment=(
                    f"The same failure in {len(new)} more cell(s); affected now: "
                    f"{group.description}.\n\n" + _cells_text(_subset(group, new)))))
            plan.why, plan.commented = "new cells", True
        elif new:
            plan.why = "new cells; commented less than the interval ago"
    # Signatures that failed before and fail no more.
    for sig, row in rows.items():
        if sig in failing or row.state != FAILING:
            continue
        cells = [c for c in row.cells if c in verdicts]
        # Every affected cell passes (a cell awaiting its retry is not passing yet).
        if not cells or not all(verdicts[c].state == "passing" for c in cells):
            continue
        fixes = sorted({verdicts[c].fixed_at or verdicts[c].latest.revision for c in cells})
        details = dict(row.details, fixed_at=fixes)
        plan = SignaturePlan(sig, PASSING, None, details=details)
        plans.append(plan)
        bug_id, bug, _ = link_of(sig)
        plan.bug_id = bug_id
        if bug is None or bug.status in closed:
            continue
        note = (fix_notes or {}).get(sig)
        if note is not None and note.wait:
            # The fix bisection will name the first fixed commit: resolve once it has (or
            # once bisect.fix_wait_hours have passed); until then the signature stays failing.
            plan.state, plan.why = FAILING, "passes again; waiting for its fix bisection"
            continue
        fix = ", ".join(fixes)
        update = BugUpdate(comment=(f"Every affected cell passes again ({', '.join(cells)}); "
                                    f"fixed at revision {fix}."
                                    + (f"\n\n{note.text}" if note is not None else "")))
        plan.bisection_id = note.bisection_id if note is not None else None
        if ci.resolve_on_pass:
            update = BugUpdate(comment=update.comment, status=workflow.resolved,
                               resolution=workflow.fixed_resolution)
        plan.change = Change(key=f"ci:fixed:{sig}:{bug_id}:{_hash(fixes)}", rule=RULE,
                             reason=f"CI: passes again at {fix}", bug_id=bug_id, update=update)
        plan.why = "passes again"
    return plans


def _subset(group: SignatureGroup, cells: list[str]) -> SignatureGroup:
    from dataclasses import replace

    return replace(group, results=tuple(r for r in group.results if r.cell in cells))
