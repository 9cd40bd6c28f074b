"""The matrix result table: one row per cell, from finished builds' properties."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from farm.bisect_protocol import is_bisection_build

# Buildbot result codes (buildbot.process.results) without importing Buildbot here.
_RESULT_NAMES = {0: "success", 1: "warnings", 2: "failure", 3: "skipped", 4: "exception",
                 5: "retry", 6: "cancelled"}


@dataclass(frozen=True)
class CellRow:
    cell: str
    result: str  # passed | build-failed | boot-failed | timeout | unsupported | boot-skipped | ...
    reason: str
    image_size: int | None
    build_seconds: float | None
    boot_seconds: float | None
    worker: str
    buildbot_result: str
    buildid: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rows_from_builds(builds: Iterable[Mapping[str, Any]]) -> list[CellRow]:
    """The latest finished build per cell (builds carry flattened ``props``); a bisection
    step's build is a commit of a range, not the cell's result."""
    latest: dict[str, Mapping[str, Any]] = {}
    for b in builds:
        cell = b["props"].get("cell")
        if not cell or not b.get("complete") or is_bisection_build(b["props"]):
            continue
        if cell not in latest or b["buildid"] > latest[cell]["buildid"]:
            latest[cell] = b
    rows = []
    for cell, b in sorted(latest.items()):
        p = b["props"]
        raw = b.get("results")
        code = int(raw) if raw is not None else -1
        rows.append(CellRow(
            cell=cell,
            result=str(p.get("cell_result") or _RESULT_NAMES.get(code, "unknown")),
            reason=str(p.get("result_reason") or b.get("state_string") or ""),
            image_size=p.get("image_size"),
            build_seconds=p.get("build_seconds"),
            boot_seconds=p.get("boot_seconds"),
            worker=str(p.get("workername") or ""),
            buildbot_result=_RESULT_NAMES.get(code, str(code)),
            buildid=int(b["buildid"]),
        ))
    return rows


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def render_table(rows: Sequence[CellRow], reason_width: int = 60) -> str:
    headers = HEADERS
    body = [
        (r.cell, r.result, _clip(r.reason, reason_width), _fmt(r.image_size),
         _fmt(r.build_seconds, "s"), _fmt(r.boot_seconds, "s"), r.worker)
        for r in rows
    ]
    widths = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in body]
    lines.append("")
    lines.append(summary_line(rows))
    return "\n".join(lines)


def summary_line(rows: Sequence[CellRow]) -> str:
    """``3 cells: 1 build-failed, 2 passed``."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.result] = counts.get(r.result, 0) + 1
    return f"{len(rows)} cells: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def columns(row: CellRow) -> tuple[str, str, str, str, str, str, str]:
    """A row's cells as text, in the order of :data:`HEADERS` (the reason whole, one line)."""
    return (row.cell, row.result, " ".join(row.reason.split()), _fmt(row.image_size),
            _fmt(row.build_seconds, "s"), _fmt(row.boot_seconds, "s"), row.worker)


HEADERS = ("cell", "result", "reason", "image", "build", "boot", "worker")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
