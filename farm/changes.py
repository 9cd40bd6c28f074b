"""Which cells a change affects: only those whose libraries (or app) it touches.

A file under a library's paths affects the cells that include that library; a file under the
app's path affects every cell of that app; a file in an ignored path (documentation, say)
affects none; any other file of the tree is core code and affects every cell of the tree.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from farm.matrix import Cell


def _matches(path: str, pattern: str) -> bool:
    # "lib/foo/" means the directory and everything below it; otherwise fnmatch semantics.
    pattern = pattern.removeprefix("./")
    if pattern.endswith("/"):
        return path.startswith(pattern) or path == pattern.rstrip("/")
    return fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern.rstrip("/") + "/")


@dataclass(frozen=True)
class ChangeImpact:
    cells: tuple[Cell, ...]
    why: str


def affected_cells(files: Sequence[str], cells: Iterable[Cell], tree: str | None = None) -> \
        ChangeImpact:
    """The cells to rebuild for a change to ``files`` (paths relative to the tree root)."""
    cells = [c for c in cells if tree is None or c.tree.name == tree]
    if not cells:
        return ChangeImpact((), "no cells for this tree")
    files = [f.lstrip("/") for f in files]
    if not files:
        # A change without a file list (e.g. a forced rebuild of a revision): be safe.
        return ChangeImpact(tuple(cells), "change lists no files: all cells")
    sample = cells[0]
    libraries = {lib.name: lib for c in cells for lib in (c.enabled or c.libraries)}
    apps = {c.app.name: c.app for c in cells}
    touched_libs: set[str] = set()
    touched_apps: set[str] = set()
    for path in files:
        if any(_matches(path, p) for p in sample.tree.ignore_paths):
            continue
        libs = {n for n, lib in libraries.items() if any(_matches(path, p) for p in lib.paths)}
        app_hits = {n for n, a in apps.items() if _matches(path, a.path.rstrip("/") + "/")}
        if libs or app_hits:
            touched_libs |= libs
            touched_apps |= app_hits
            continue
        return ChangeImpact(tuple(cells), f"{path} is core code: all cells")
    chosen = tuple(
        c for c in cells
        if c.app.name in touched_apps
        or any(lib.name in touched_libs for lib in (c.enabled or c.libraries))
    )
    parts = [f"library {n}" for n in sorted(touched_libs)]
    parts += [f"app {n}" for n in sorted(touched_apps)]
    return ChangeImpact(chosen, "touches " + ", ".join(parts) if parts else "only ignored paths")
