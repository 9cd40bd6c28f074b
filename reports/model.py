"""The weekly digest's data model: one value that the text mail, the HTML mail and the wiki page
all render (pure data, no I/O). :func:`model_to_dict` / :func:`model_from_dict` store it, so the
next digest diffs against what readers of the last one actually saw.

User-controlled strings (summaries, names) are kept as they are here; each renderer makes them
inert for its own output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from triage.model import format_bz_time, parse_bz_time

# Section ids in the order they are shown, with their titles.
SECTIONS: dict[str, str] = {
    "needs-developer": "needs a developer",
    "claimed": "claimed",
    "new": "new this week",
    "fixed": "fixed this week",
    "waiting": "waiting on reporters",
    "in-review": "in review",
    "ci-failures": "CI failures",
}
# Sections whose bugs are in exactly one "place" (an entry moving between them is [MOVED]).
PLACES = ("needs-developer", "claimed", "waiting", "in-review", "ci-failures", "fixed")


@dataclass(frozen=True)
class Entry:
    """One bug in one section. ``mark`` is what changed since the last sent digest: ``NEW``,
    ``CLAIMED``, ``FIXED``, ``MOVED: a -> b`` or ``""``."""

    bug_id: int
    summary: str
    product: str
    component: str
    status: str
    age_days: int  # since the bug was filed
    mark: str = ""
    owner: str = ""  # claimed: the claimant
    claim_age_days: int | None = None
    stale: bool = False
    fix_reference: str = ""
    waiting_days: int | None = None  # waiting: since the needinfo / follow-up
    due: str = ""  # waiting: "reminder due 2026-12-03" / "expiry due ..."
    review_days: int | None = None
    cells: tuple[str, ...] = ()  # CI failures
    bisection: str = ""  # CI failures: the latest bisection (first bad commit, or its state)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    entries: tuple[Entry, ...] = ()

    @property
    def total(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Count:
    value: int
    added: int | None = None  # None: no previous digest to compare with
    removed: int | None = None


@dataclass(frozen=True)
class ExcludedCount:
    rule: str
    label: str  # the class the decision recorded: corporate, project, ...
    organisation: str
    count: int


@dataclass(frozen=True)
class Counts:
    open: Count
    new: Count
    fixed: Count
    claimed: Count
    excluded: tuple[ExcludedCount, ...] = ()

    @property
    def excluded_total(self) -> int:
        return sum(e.count for e in self.excluded)


@dataclass(frozen=True)
class ResponseTime:
    """Community bugs and the first human answer to them (the problem the process exists for)."""

    unanswered: int
    oldest_unanswered_id: int | None
    oldest_unanswered_days: int | None
    median_hours_this_week: float | None
    responses_this_week: int
    median_hours_before: float | None  # the 8 weeks before this one
    responses_before: int


@dataclass(frozen=True)
class TrendPoint:
    week: str
    open: int
    new: int
    fixed: int


@dataclass(frozen=True)
class PreviousDigest:
    week: str
    message_id: str
    url: str = ""


@dataclass(frozen=True)
class DigestModel:
    week: str  # ISO week, "2026-W49"
    as_of: datetime
    period_start: datetime
    sections: tuple[Section, ...]
    counts: Counts
    response: ResponseTime
    trend: tuple[TrendPoint, ...]
    bug_url: str  # prefix; the bug id is appended
    previous: PreviousDigest | None = None
    preface: str = ""
    changed: bool = True  # anything different from the previous sent digest
    open_ids: tuple[int, ...] = ()  # for the next digest's count deltas
    claimed_by: dict[int, str] = field(default_factory=dict)

    def section(self, section_id: str) -> Section:
        return next(s for s in self.sections if s.id == section_id)

    def link(self, bug_id: int) -> str:
        return f"{self.bug_url}{bug_id}"

    def marks(self) -> dict[str, int]:
        """How many entries carry each kind of mark (for subjects and edit summaries)."""
        out: dict[str, int] = {}
        for s in self.sections:
            for e in s.entries:
                if e.mark:
                    kind = e.mark.split(":")[0]
                    out[kind] = out.get(kind, 0) + 1
        return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_bz_time(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def model_to_dict(model: DigestModel) -> dict[str, Any]:
    return dict(_jsonable(model))


def _time(value: Any) -> datetime:
    parsed = parse_bz_time(value)
    assert parsed is not None
    return parsed


def model_from_dict(data: dict[str, Any]) -> DigestModel:
    """Inverse of :func:`model_to_dict` (for the stored model of a sent digest)."""
    sections = tuple(
        Section(s["id"], s["title"], tuple(
            Entry(**{**e, "cells": tuple(e.get("cells", ()))}) for e in s["entries"]))
        for s in data["sections"])
    c = data["counts"]
    counts = Counts(open=Count(**c["open"]), new=Count(**c["new"]), fixed=Count(**c["fixed"]),
                    claimed=Count(**c["claimed"]),
                    excluded=tuple(ExcludedCount(**e) for e in c["excluded"]))
    prev = data.get("previous")
    return DigestModel(
        week=data["week"], as_of=_time(data["as_of"]), period_start=_time(data["period_start"]),
        sections=sections, counts=counts, response=ResponseTime(**data["response"]),
        trend=tuple(TrendPoint(**t) for t in data["trend"]), bug_url=data["bug_url"],
        previous=PreviousDigest(**prev) if prev else None, preface=data.get("preface", ""),
        changed=data.get("changed", True), open_ids=tuple(data.get("open_ids", ())),
        claimed_by={int(k): v for k, v in data.get("claimed_by", {}).items()},
    )
