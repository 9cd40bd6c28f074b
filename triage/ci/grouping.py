"""One signature across cells is one cause: group the failing cells and describe the set.

Axis reduction: the affected set is described by the fewest axis values that select exactly it
among the cells with a verified result ("library=posix-timerfd", "platform=xen",
"arch=arm64 library=libX"); when no single conjunction does, by the fewest conjunctions whose
union does (greedy: the largest one that stays inside the set first). ``library`` matches a
cell whose library set contains it, so "all cells with libX" is one value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product

from triage.ci.history import CellVerdict
from triage.ci.model import CellResult

AXIS_ORDER = ("library", "platform", "arch", "app", "tree")


@dataclass(frozen=True)
class SignatureGroup:
    signature: str
    cls: str
    title: str
    cells: tuple[str, ...]  # the confirmed failing cells
    description: str  # the affected set in the fewest axis values
    comparable_passing: tuple[str, ...]  # one axis away from a failing cell, passing
    last_good: str
    first_bad: str
    kinds: Mapping[str, str]  # cell -> regression | like-before | never-passed
    results: tuple[CellResult, ...]  # the latest failing result of each cell
    titles: tuple[str, ...] = ()  # more than one: the signature clusters unrelated titles
    waiting: tuple[str, ...] = field(default=())  # cells failing it, awaiting their retry

    @property
    def mixed_titles(self) -> bool:
        return len(self.titles) > 1


def _values(result: CellResult) -> dict[str, set[str]]:
    axes = result.axes
    libs = set(axes.get("libset", "").split("+")) - {""}
    return {"library": libs or {"base"}, "platform": {axes.get("platform", "")},
            "arch": {axes.get("arch", "")}, "app": {axes.get("app", "")},
            "tree": {axes.get("tree", "")}}


def _matches(values: dict[str, set[str]], conj: tuple[tuple[str, str], ...]) -> bool:
    return all(v in values[a] for a, v in conj)


def _say(conj: tuple[tuple[str, str], ...]) -> str:
    return " ".join(f"{a}={v}" for a, v in conj) if conj else "every cell"


def describe(failing: Sequence[str], universe: Mapping[str, CellResult]) -> str:
    """The failing cells in the fewest axis values, among ``universe`` (cell -> a result)."""
    target = set(failing)
    values = {c: _values(r) for c, r in universe.items()}
    for c in target - set(values):
        values[c] = {a: set() for a in AXIS_ORDER}

    def selected(conj: tuple[tuple[str, str], ...]) -> set[str]:
        return {c for c, v in values.items() if _matches(v, conj)}

    if target == set(values):
        return "every cell"
    # Candidate conjunctions: built from values shared by at least one failing cell.
    candidates: list[tuple[tuple[str, str], ...]] = []
    for size in (1, 2, 3):
        for axes in combinations(AXIS_ORDER, size):
            pools = [sorted({x for c in target for x in values[c][a]}) for a in axes]
            for combo in product(*pools):
                conj = tuple(zip(axes, combo, strict=True))
                chosen = selected(conj)
                if chosen == target:
                    return _say(conj)
                if chosen and chosen <= target:
                    candidates.append(conj)
    # No single conjunction: cover greedily with ones inside the set, then name the rest.
    left, parts = set(target), []
    while left:
        best = max(candidates, key=lambda cj: (len(selected(cj) & left), -len(cj)),
                   default=None)
        if best is None or not selected(best) & left:
            break
        parts.append(_say(best))
        left -= selected(best)
    parts.extend(sorted(left))
    return " or ".join(parts)


def comparable_passing(failing: Sequence[str], verdicts: Mapping[str, CellVerdict]
                       ) -> tuple[str, ...]:
    """Cells passing at a failing cell's revision that differ from it in exactly one axis."""
    out = set()
    for name in failing:
        bad = verdicts[name].latest
        for other, v in verdicts.items():
            if v.failing or other in failing or v.latest.revision != bad.revision:
                continue
            diff = sum(bad.axes.get(a) != v.latest.axes.get(a)
                       for a in ("tree", "app", "libset", "platform", "arch"))
            if diff == 1:
                out.add(other)
    return tuple(sorted(out))


def _norm_title(title: str) -> str:
    return " ".join(title.lower().split())


def group(verdicts: Mapping[str, CellVerdict]) -> list[SignatureGroup]:
    """Failing cells by signature (cells awaiting their retry are listed, not counted)."""
    by_sig: dict[str, list[CellVerdict]] = {}
    waiting: dict[str, list[str]] = {}
    for v in verdicts.values():
        if v.failing:
            by_sig.setdefault(v.latest.signature, []).append(v)
        elif v.state == "awaiting-retry":
            waiting.setdefault(v.latest.signature, []).append(v.cell)
    universe = {c: v.latest for c, v in verdicts.items()}
    groups = []
    for sig, members in sorted(by_sig.items()):
        members.sort(key=lambda v: v.cell)
        cells = tuple(v.cell for v in members)
        titles = tuple(sorted({_norm_title(v.latest.title) for v in members if v.latest.title}))
        regressions = [v for v in members if v.last_good]
        first = min(regressions or members, key=lambda v: v.first_bad_build)
        groups.append(SignatureGroup(
            signature=sig, cls=members[0].latest.result, title=members[0].latest.title,
            cells=cells, description=describe(cells, universe),
            comparable_passing=comparable_passing(cells, verdicts),
            last_good=first.last_good, first_bad=first.first_bad,
            kinds={v.cell: v.state for v in members},
            results=tuple(v.latest for v in members), titles=titles,
            waiting=tuple(sorted(waiting.get(sig, ())))))
    return groups
