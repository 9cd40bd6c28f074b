"""A bisection's outcome as JSON and back (pure): the store keeps it, ``ci status --json``
prints it, the CI bug comment and the digest read it back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from triage.ci.bisect.model import BisectOutcome, BisectRequest, Commit, StepRun, StepVerdict


def request_to_json(req: BisectRequest) -> dict[str, Any]:
    return asdict(req)


def request_from_json(doc: dict[str, Any]) -> BisectRequest:
    return BisectRequest(
        kind=str(doc["kind"]), cell=str(doc["cell"]), old=str(doc["old"]), new=str(doc["new"]),
        signature=str(doc.get("signature", "")), flake_rate=float(doc.get("flake_rate", 0.0)),
        origin_bug=int(doc["origin_bug"]) if doc.get("origin_bug") is not None else None)


def _commit(doc: dict[str, Any] | None) -> Commit | None:
    if not doc:
        return None
    return Commit(id=str(doc["id"]), subject=str(doc.get("subject", "")),
                  author=str(doc.get("author", "")), date=str(doc.get("date", "")),
                  url=str(doc.get("url", "")))


def _run(doc: dict[str, Any]) -> StepRun:
    return StepRun(commit=str(doc["commit"]), result=str(doc["result"]),
                   signature=str(doc.get("signature", "")), title=str(doc.get("title", "")),
                   build_url=str(doc.get("build_url", "")), worker=str(doc.get("worker", "")),
                   seconds=float(doc.get("seconds", 0.0)),
                   app_commit=str(doc.get("app_commit", "")))


def step_to_json(step: StepVerdict) -> dict[str, Any]:
    return asdict(step)


def step_from_json(doc: dict[str, Any]) -> StepVerdict:
    commit = _commit(doc["commit"])
    assert commit is not None
    return StepVerdict(commit=commit, verdict=str(doc["verdict"]),
                       runs=tuple(_run(r) for r in doc.get("runs", ())),
                       reason=str(doc.get("reason", "")))


def outcome_to_json(out: BisectOutcome) -> dict[str, Any]:
    doc = asdict(out)
    doc["finished_at"] = out.finished_at.isoformat() if out.finished_at else None
    return doc


def outcome_from_json(doc: dict[str, Any]) -> BisectOutcome:
    finished = doc.get("finished_at")
    return BisectOutcome(
        request=request_from_json(doc["request"]), status=str(doc["status"]),
        first_new=_commit(doc.get("first_new")), last_old=_commit(doc.get("last_old")),
        steps=tuple(step_from_json(s) for s in doc.get("steps", ())),
        builds=int(doc.get("builds", 0)), rounds=int(doc.get("rounds", 0)),
        repeats=int(doc.get("repeats", 1)), confidence=float(doc.get("confidence", 0.0)),
        reason=str(doc.get("reason", "")),
        candidates=tuple(c for c in (_commit(d) for d in doc.get("candidates", ())) if c),
        app_pairing=str(doc.get("app_pairing", "")), reproduce=str(doc.get("reproduce", "")),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        details=dict(doc.get("details") or {}))
