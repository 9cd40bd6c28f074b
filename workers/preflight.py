"""Host tools a cell needs before it is built, checked before ``make`` runs (pure but ``which``).

A missing tool fails a build minutes in, with a line buried above make's generic error
(``lex: not found`` above ``lexer.lex.c] Error 127``). Checking first turns it into one clear
*environment* verdict, the worker's problem, never a code defect: ``make``, the (cross)
compiler, and ``flex``/``bison`` when the tree's Kconfig is built from ``lexer.l``/``parser.y``
(Unikraft's ``support/kconfig``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from workers.host import which

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def _cross_compile(argv: Sequence[str]) -> str:
    return next((a.split("=", 1)[1] for a in argv if a.startswith("CROSS_COMPILE=")), "")


def needed_tools(tree_root: Path, build_argv: Sequence[str]) -> dict[str, str]:
    """Tool name -> why the cell needs it."""
    tools = {"make": "runs the build", _cross_compile(build_argv) + "gcc": "the compiler"}
    kconfig = tree_root / "support" / "kconfig"
    if (kconfig / "lexer.l").is_file():
        tools["flex"] = "the tree's Kconfig is built from lexer.l"
    if (kconfig / "parser.y").is_file():
        tools["bison"] = "the tree's Kconfig is built from parser.y"
    return tools


def missing_tools(tree_root: Path, build_argv: Sequence[str],
                  path: str | None = None) -> list[str]:
    """``["flex (the tree's Kconfig is built from lexer.l)", ...]``; empty when all are there."""
    out = []
    for tool, why in needed_tools(tree_root, build_argv).items():
        if not which(tool, path):
            out.append(f"{tool} ({why})")
    return out


def gcc_version(compiler: str = "gcc") -> str | None:
    """``12.2.0``: Unikraft libraries refuse compilers too old (lib/ukgcov needs 13)."""
    if not which(compiler):
        return None
    try:
        out = subprocess.run([compiler, "-dumpfullversion", "-dumpversion"], capture_output=True,
                             text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = _VERSION_RE.search(out)
    return m.group(0) if m else None
