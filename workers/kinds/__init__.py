"""Tree kinds: how a cell of one kind of unikernel tree is configured, built, booted and judged.

``workers.cell`` owns what every kind shares (the spec, the verdict line, phase markers, exit
codes); a kind only turns its part of the spec into phases and a verdict. The master side
(``farm.kinds``) expands each kind's cells and renders their specs, so the farm, the failure
classes and the status view handle every kind the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from workers import failure
    from workers.cell import CellResult, CellSpec

UNIKRAFT, RUMPRUN = "unikraft", "rumprun"
KINDS = (UNIKRAFT, RUMPRUN)


class TreeKind(Protocol):
    name: str

    def run(self, spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
            clf: failure.LogClassifier) -> None:
        """Run the cell's phases, writing their output to ``out``; finish ``res``."""


def kind_for(name: str) -> TreeKind:
    if name == UNIKRAFT:
        from workers.kinds.unikraft import UnikraftKind
        return UnikraftKind()
    if name == RUMPRUN:
        from workers.kinds.rumprun import RumprunKind
        return RumprunKind()
    raise ValueError(f"unknown tree kind {name!r} (known: {', '.join(KINDS)})")
