"""The Unikraft kind: Kconfig fragment, ``defconfig``, ``.config`` check, ``make``, boot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from workers import failure
from workers.cell import CellResult, CellSpec, unikraft_phases


class UnikraftKind:
    name = "unikraft"

    def run(self, spec: CellSpec, res: CellResult, out: TextIO, env: Mapping[str, str],
            clf: failure.LogClassifier) -> None:
        unikraft_phases(spec, res, out, env, clf)
