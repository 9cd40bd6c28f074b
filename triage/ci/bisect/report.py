"""A bisection's result in words (pure): the one comment in the CI bug, the note the CI
"resolved" comment carries, and which finished bisections still owe their comment.

Keys are built from what the bisection asked (kind, cell, old, new, signature), never from a
store id, so a second bot with an empty store plans the same key and the Writer's marker in
Bugzilla stops the repeat.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.ci.bisect.model import BAD, CAUSE, FOUND, GOOD, BisectOutcome, BisectRequest, Commit
from triage.model import BugUpdate, Change
from triage.store.bisections import DONE, ERROR, BisectionRecord

RULE = "ci-bisect"


def request_hash(req: BisectRequest) -> str:
    raw = "\0".join((req.kind, req.cell, req.old, req.new, req.signature))
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def report_key(req: BisectRequest, signature: str, bug_id: int) -> str:
    return f"ci:bisect:{req.kind}:{signature}:{bug_id}:{request_hash(req)}"


def rerun_command(req: BisectRequest) -> str:
    args = ["xentriage", "ci", "bisect", req.cell, req.old, req.new,
            "--signature", req.signature]
    if req.kind != CAUSE:
        args.append("--fix")
    return shlex.join(args)


def _states(kind: str) -> tuple[str, str]:
    return ("passes", "fails with the signature") if kind == CAUSE else \
        ("fails with the signature", "passes")


def _clean_commit(c: Commit) -> dict[str, object]:
    from triage.rules.base import sanitize

    return {"id": sanitize(c.id, max_length=64),
            "author": sanitize(c.author or "?", max_length=120),
            "date": sanitize(c.date, max_length=40),
            "subject": sanitize(c.subject, max_length=160),
            "url": sanitize(c.url, max_length=300)}


def _step_why(verdict: str, reason: str, runs: Sequence[object]) -> str:
    results = [getattr(r, "result", "") + (f" {sig[:8]}" if (sig := getattr(r, "signature", ""))
                                           else "") for r in runs]
    text = ", ".join(results) if results else ""
    if len(results) > 1:
        text = f"{len(results)} runs: {text}"
    if verdict not in (GOOD, BAD) and reason:
        return reason  # the algorithm's reason already names the runs' result and signature
    return text


def comment_text(outcome: BisectOutcome, signature: str) -> str:
    """The OSSTest-style comment: first new / last old commit (or "inconclusive" with the reason
    and candidates), confidence, builds, every step with its verdict, how to reproduce."""
    from triage.rules.base import render, sanitize, trusted

    req = outcome.request
    old_state, new_state = _states(req.kind)
    found = outcome.status == FOUND and outcome.first_new is not None
    steps = [{"id": sanitize(s.commit.id[:12], max_length=12),
              "verdict": trusted(s.verdict.ljust(4)),
              "why": sanitize(_step_why(s.verdict, s.reason, s.runs), max_length=200)}
             for s in outcome.steps]
    k = max(outcome.repeats, 1)
    repeat_text = (f"each step run {k} times, cell flake rate {req.flake_rate:.0%}" if k > 1
                   else f"each step run once, cell flake rate {req.flake_rate:.0%}")
    return render(
        "ci_bisection.j2", found=found, cause=req.kind == CAUSE,
        cell=sanitize(req.cell, max_length=255), signature=sanitize(signature, max_length=80),
        first=_clean_commit(outcome.first_new) if outcome.first_new else {},
        last=_clean_commit(outcome.last_old) if outcome.last_old else
        {"id": sanitize(req.old, max_length=64)},
        confidence=round(outcome.confidence * 100, 1), repeat_text=trusted(repeat_text),
        kind_text=trusted("cause" if req.kind == CAUSE else "fix"),
        target=trusted("first bad commit" if req.kind == CAUSE else "first fixed commit"),
        reason=sanitize(outcome.reason or "no reason given", max_length=300),
        candidates=[_clean_commit(c) for c in outcome.candidates[:40]],
        range_old=sanitize(req.old, max_length=64), range_new=sanitize(req.new, max_length=64),
        old_state=trusted(old_state), new_state=trusted(new_state),
        builds=outcome.builds, rounds=outcome.rounds,
        app_pairing=sanitize(outcome.app_pairing, max_length=300),
        steps=steps, reproduce=sanitize(outcome.reproduce, max_length=600,
                                        defuse_markers=False),
        rerun=sanitize(rerun_command(req), max_length=600, defuse_markers=False))


def one_line(rec: BisectionRecord) -> str:
    """A bisection in one line, for ``ci status``, the digest and the status view."""
    kind = "cause" if rec.request.kind == CAUSE else "fix"
    if rec.state != DONE:
        return f"{kind} bisection {rec.state} ({rec.request.old[:12]}..{rec.request.new[:12]})"
    if rec.status == ERROR:
        return f"{kind} bisection failed to run: {rec.error[:120]}"
    out = rec.outcome
    if out is None:
        return f"{kind} bisection done"
    if out.status == FOUND and out.first_new is not None:
        word = "first bad" if kind == "cause" else "first fixed"
        return (f"{word} {out.first_new.id[:12]} \"{out.first_new.subject[:60]}\" "
                f"({out.confidence:.0%} confidence, {out.builds} builds)")
    return f"{kind} bisection inconclusive: {out.reason[:100]}"


@dataclass(frozen=True)
class FixNote:
    """What the CI "resolved" comment says about the fix bisection of its signature."""
    wait: bool  # not finished yet and still within bisect.fix_wait_hours: do not resolve now
    text: str  # appended to the resolved comment
    bisection_id: int | None = None  # the bisection the comment reports (marked reported)


def fix_note(records: Sequence[BisectionRecord], now: datetime, wait_hours: float
             ) -> FixNote | None:
    """None: no fix bisection for this signature (resolve as before)."""
    fixes = [r for r in records if r.request.kind != CAUSE]
    if not fixes or fixes[-1].reported_key:
        return None  # none, or the newest was reported already (an earlier fix of S)
    rec = fixes[-1]
    if rec.state != DONE:
        if now - rec.queued_at < timedelta(hours=wait_hours):
            return FixNote(True, "", rec.id)
        return FixNote(False, f"The fix bisection has not finished after {wait_hours:g} hours "
                              f"({rec.state}): resolving without it; its result follows in its "
                              f"own comment.")
    if rec.status == ERROR or rec.outcome is None:
        return FixNote(False, "The fix bisection could not run: resolving without it.", rec.id)
    return FixNote(False, comment_text(rec.outcome, rec.signature), rec.id)


def plan_reports(records: Mapping[str, Sequence[BisectionRecord]], bug_of: Mapping[str, int],
                 resolved: set[str]) -> list[tuple[BisectionRecord, Change]]:
    """One comment per finished bisection not reported yet, in the bug of its signature.
    A fix bisection is carried by the CI "resolved" comment; only when that comment went out
    without it (``resolved``: signatures whose "passes again" write is done) does it get its
    own. ``bug_of``: signature -> its bug (signatures with one only)."""
    out = []
    for sig, recs in records.items():
        bug_id = bug_of.get(sig)
        if bug_id is None:
            continue
        fixes = [r for r in recs if r.request.kind != CAUSE]
        for rec in recs:
            if rec.state != DONE or rec.reported_key or rec.status == ERROR or \
                    rec.outcome is None:
                continue
            # A fix bisection overtaken by a newer one (the failure came back meanwhile) is
            # not news any more.
            if rec.request.kind != CAUSE and (sig not in resolved or rec is not fixes[-1]):
                continue
            text = comment_text(rec.outcome, sig)
            verb = "names" if rec.outcome.status == FOUND else "is inconclusive about"
            target = "the first bad commit" if rec.request.kind == CAUSE else \
                "the first fixed commit"
            out.append((rec, Change(
                key=report_key(rec.request, sig, bug_id), rule=RULE,
                reason=f"CI bisection {verb} {target} of {rec.request.cell}", bug_id=bug_id,
                update=BugUpdate(comment=text))))
    return out
