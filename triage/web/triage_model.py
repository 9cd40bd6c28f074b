"""The triage page's model: the open-for-developers list in the weekly digest's sections, and
the weekly trend. Pure: it takes the store's rows (:mod:`triage.store.open_bugs`) and ``now``.

Sections as the digest names them: needs a developer, claimed (with the claim's age; stale when
nudged or quiet past the stale-claim rule's ``nudge_days``), in review, waiting on reporters.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triage.store.open_bugs import BugDates, OpenBugRow

SECTIONS = (
    ("needs-developer", "Needs a developer", ("open-for-dev",)),
    ("claimed", "Claimed", ("claimed", "nudged")),
    ("in-review", "In review", ("in-review", "complete")),
    ("waiting-reporter", "Waiting on reporters", ("needs-info", "reminded")),
)
SECTION_OF = {state: key for key, _, states in SECTIONS for state in states}


@dataclass(frozen=True)
class TriageFilters:
    section: frozenset[str] = frozenset()
    product: frozenset[str] = frozenset()
    component: frozenset[str] = frozenset()
    claimer: frozenset[str] = frozenset()
    stale: bool = False

    def keeps(self, row: OpenBugRow, stale: bool) -> bool:
        return ((not self.section or SECTION_OF.get(row.state, "") in self.section)
                and (not self.product or row.product in self.product)
                and (not self.component or row.component in self.component)
                and (not self.claimer or row.claimed_by in self.claimer)
                and (not self.stale or stale))

    def as_query(self) -> list[tuple[str, str]]:
        out = [(k, v) for k in ("section", "product", "component", "claimer")
               for v in sorted(getattr(self, k))]
        return out + ([("stale", "1")] if self.stale else [])


@dataclass(frozen=True)
class OpenBug:
    row: OpenBugRow
    days_in_state: int
    claim_days: int | None
    stale: bool


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    bugs: tuple[OpenBug, ...]


@dataclass(frozen=True)
class Week:
    label: str  # ISO week, e.g. 2026-W48
    opened: int  # open at the end of the week
    new: int
    fixed: int


@dataclass(frozen=True)
class TriageView:
    sections: tuple[Section, ...]
    shown: int
    total: int
    weeks: tuple[Week, ...]
    options: dict[str, tuple[str, ...]]
    filters: TriageFilters
    generated: datetime
    queries: int
    stale_days: int


def open_bug(row: OpenBugRow, now: datetime, stale_days: int) -> OpenBug:
    claim_from = row.claimed_at or (row.since if row.state in ("claimed", "nudged") else None)
    claim_days = (now - claim_from).days if claim_from else None
    quiet = (now - row.last_change_time).days
    stale = row.state == "nudged" or (claim_days is not None and quiet >= stale_days)
    return OpenBug(row, (now - row.since).days, claim_days, stale)


def weekly_trend(dates: Iterable[BugDates], now: datetime, weeks: int = 12) -> list[Week]:
    """Per ISO week, the last ``weeks`` up to ``now``: bugs open at its end, new, fixed."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    starts = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    ends = [s + timedelta(weeks=1) for s in starts]
    out = [[0, 0, 0] for _ in starts]
    first, last = starts[0], ends[-1]
    span = timedelta(weeks=1)
    delta = [0] * (weeks + 1)
    for d in dates:
        if first <= d.created < last:
            out[int((d.created - first) / span)][1] += 1
        if d.closed_at is not None and d.fixed and first <= d.closed_at < last:
            out[int((d.closed_at - first) / span)][2] += 1
        # Open at the end of week i: created before ends[i], not closed by then. A difference
        # array keeps this linear in the number of bugs.
        lo = bisect.bisect_right(ends, d.created)
        hi = weeks if d.closed_at is None else bisect.bisect_right(ends, d.closed_at)
        if lo < hi:
            delta[lo] += 1
            delta[hi] -= 1
    running = 0
    for i in range(weeks):
        running += delta[i]
        out[i][0] = running
    return [Week(f"{s.isocalendar().year}-W{s.isocalendar().week:02d}", *v)
            for s, v in zip(starts, out, strict=True)]


def build_triage(rows: Sequence[OpenBugRow], dates: Iterable[BugDates], filters: TriageFilters,
                 now: datetime, stale_days: int, queries: int, weeks: int = 12) -> TriageView:
    bugs = [open_bug(r, now, stale_days) for r in rows]
    kept = [b for b in bugs if filters.keeps(b.row, b.stale)]
    sections = tuple(
        Section(key, title, tuple(b for b in kept if SECTION_OF.get(b.row.state) == key))
        for key, title, _ in SECTIONS)
    options = {
        "section": tuple(k for k, _, _ in SECTIONS),
        "product": tuple(sorted({r.product for r in rows})),
        "component": tuple(sorted({r.component for r in rows})),
        "claimer": tuple(sorted({r.claimed_by for r in rows if r.claimed_by})),
    }
    return TriageView(sections, len(kept), len(rows), tuple(weekly_trend(dates, now, weeks)),
                      options, filters, now, queries, stale_days)
