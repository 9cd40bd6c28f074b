"""A bisection's outcome as text for a terminal and as JSON (pure).

The text names what a developer acts on first: the first bad (or fixed) commit's id, subject,
author, link; the last good / first bad pair; the confidence; then every step with its verdict
and runs, the builds and rounds used and the command that reproduces a step.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from triage.ci.bisect.model import (
    BAD,
    CAUSE,
    FIX,
    FOUND,
    GOOD,
    SKIP,
    BisectOutcome,
    Commit,
    StepVerdict,
)


def _short(commit_id: str) -> str:
    return commit_id[:12]


def words(kind: str) -> tuple[str, str]:
    """(old, new) in the words of a bisection's kind: cause = good/bad, fix = failing/fixed."""
    return ("last good", "first bad") if kind == CAUSE else ("last failing", "first fixed")


def _commit_lines(label: str, commit: Commit) -> list[str]:
    lines = [f"  {label + ':':<13} {commit.id}  {commit.subject}"]
    if commit.author or commit.date:
        lines.append(f"  {'':<13} {commit.author}, {commit.date}".rstrip(", "))
    if commit.url:
        lines.append(f"  {'':<13} {commit.url}")
    return lines


# A step's verdict in the words of its kind (the JSON keeps git's good/bad/skip).
_VERDICT_WORDS = {CAUSE: {GOOD: "good", BAD: "bad", SKIP: "skip"},
                  FIX: {GOOD: "fails", BAD: "fixed", SKIP: "skip"}}


def _step_line(kind: str, step: StepVerdict) -> str:
    runs = ", ".join(r.result + (f" {r.signature}" if r.signature and r.result != "passed"
                                  else "") for r in step.runs)
    reason = f"  ({step.reason})" if step.reason else ""
    word = _VERDICT_WORDS.get(kind, {}).get(step.verdict, step.verdict)
    return f"    {_short(step.commit.id)}  {word:<5}  {runs}{reason}"


def render(outcome: BisectOutcome) -> str:
    req = outcome.request
    old_word, new_word = words(req.kind)
    lines = [f"{req.kind} bisection of {req.cell} ({req.old[:12]}..{req.new[:12]}, "
             f"signature {req.signature}): {outcome.status}"]
    if outcome.status == FOUND and outcome.first_new and outcome.last_old:
        lines += _commit_lines(new_word, outcome.first_new)
        lines += _commit_lines(old_word, outcome.last_old)
        lines.append(f"  {'confidence:':<13} {outcome.confidence:.3f} (flake rate "
                     f"{req.flake_rate:.2f}, {outcome.repeats} agreeing run(s) per verdict)")
    else:
        lines.append(f"  {'inconclusive:':<13} {outcome.reason}")
        if outcome.candidates:
            lines.append(f"  {'candidates:':<13} {len(outcome.candidates)} commits")
            lines += [f"    {_short(c.id)}  {c.subject}" for c in outcome.candidates[:20]]
            if len(outcome.candidates) > 20:
                lines.append(f"    ... and {len(outcome.candidates) - 20} more")
    lines.append(f"  {'builds:':<13} {outcome.builds}, rounds {outcome.rounds}")
    if outcome.app_pairing:
        lines.append(f"  {'app:':<13} {outcome.app_pairing}")
    lines.append("  steps (in the order tested):")
    lines += [_step_line(req.kind, s) for s in outcome.steps]
    if outcome.reproduce:
        lines.append(f"  {'reproduce:':<13} {outcome.reproduce}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def to_json(outcome: BisectOutcome) -> dict[str, Any]:
    doc: dict[str, Any] = _plain(dataclasses.asdict(outcome))
    return doc


def from_json(doc: dict[str, Any]) -> BisectOutcome:
    """The inverse of :func:`to_json` (the store keeps outcomes as JSON)."""
    from triage.ci.bisect.model import BisectRequest, StepRun

    def commit(d: dict[str, Any] | None) -> Commit | None:
        return Commit(**d) if d else None

    steps = tuple(StepVerdict(Commit(**s["commit"]), s["verdict"],
                              tuple(StepRun(**r) for r in s["runs"]), s.get("reason", ""))
                  for s in doc["steps"])
    finished = doc.get("finished_at")
    return BisectOutcome(
        request=BisectRequest(**doc["request"]), status=doc["status"],
        first_new=commit(doc.get("first_new")), last_old=commit(doc.get("last_old")),
        steps=steps, builds=doc["builds"], rounds=doc["rounds"], repeats=doc["repeats"],
        confidence=doc["confidence"], reason=doc.get("reason", ""),
        candidates=tuple(Commit(**c) for c in doc.get("candidates", ())),
        app_pairing=doc.get("app_pairing", ""), reproduce=doc.get("reproduce", ""),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        details=dict(doc.get("details") or {}))
