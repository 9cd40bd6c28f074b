"""Schedulers that fan a request out into one build request per cell.

All of Buildbot's schedulers end in ``addBuildsetForSourceStamps``; the mixin replaces that one
call by one buildset per selected cell, each on the cell's real builder with the properties
``cell`` and ``virtual_builder_name`` (so the UI and history show one builder per cell). Which
cells: for a change, only those whose libraries it touches (:mod:`farm.changes`); for a forced
run, those matching the ``cells`` pattern; for the nightly run, all of them.

Cells are a class attribute of a subclass made per configuration (:func:`cell_scheduler`), which
keeps Buildbot's own constructor/reconfigure signatures untouched.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from buildbot.process.properties import Properties
from twisted.internet import defer, threads
from twisted.python import log  # the master's twistd.log (stdlib logging goes nowhere there)

from farm.changes import affected_cells
from farm.matrix import Cell, Tree
from farm.revisions import tree_revision

SOURCE = "xentriage-farm"
# Changes the farm records itself for forced/nightly runs; never a reason to build.
SNAPSHOT_CATEGORY = "xentriage-snapshot"


def has_revision(sourcestamps: Sequence[Any] | None) -> bool:
    """True if the run already names code: a change's source stamp (an id) or a revision."""
    for ss in sourcestamps or []:
        if isinstance(ss, int) or (isinstance(ss, dict) and ss.get("revision")):
            return True
    return False


def cell_properties(cell: Cell) -> dict[str, Any]:
    return {
        "cell": cell.name,
        "virtual_builder_name": cell.name,
        "virtual_builder_description": (
            f"{cell.app.name} with {cell.libset} on {cell.platform.name}/{cell.arch.name}"),
        "virtual_builder_tags": [cell.app.name, cell.libset, cell.platform.name, cell.arch.name],
    }


class CellFanOutMixin:
    cells: Sequence[Cell] = ()
    # True: select cells from the changes in the source stamps (the on-change scheduler).
    select_by_change = False
    # Benchmark comparison: each cell is its own real builder (no virtual builder names).
    per_cell_builders = False
    # farm.longest_first.LongestFirst: the pending requests it orders builders by.
    longest_first: Any = None

    def builder_of(self, cell: Cell) -> str:
        return cell.name if self.per_cell_builders else cell.real_builder

    @defer.inlineCallbacks
    def select_cells(self, sourcestamps, properties, builder_names):  # type: ignore[no-untyped-def]
        candidates = [c for c in self.cells
                      if not builder_names or self.builder_of(c) in builder_names]
        pattern = properties.getProperty("cells") if properties is not None else None
        if pattern:
            pats = [p.strip() for p in str(pattern).split(",") if p.strip()]
            candidates = [c for c in candidates if any(fnmatch.fnmatchcase(c.name, p)
                                                       for p in pats)]
        if not self.select_by_change:
            return candidates
        files: list[str] = []
        projects: set[str] = set()
        for ss in sourcestamps or []:
            if not isinstance(ss, int):
                continue
            changes = yield self.master.data.get(("sourcestamps", ss, "changes"))  # type: ignore[attr-defined]
            for ch in changes or []:
                files.extend(ch.get("files") or [])
                if ch.get("project"):
                    projects.add(ch["project"])
        trees = {c.tree.name for c in candidates}
        tree = next(iter(projects & trees)) if len(projects & trees) == 1 else None
        impact = affected_cells(files, candidates, tree)
        log.msg(f"change to {len(files)} file(s): {impact.why} -> {len(impact.cells)} cell(s)")
        return list(impact.cells)

    @defer.inlineCallbacks
    def tree_sourcestamp(self, tree: Tree):  # type: ignore[no-untyped-def]
        """The source stamp id of ``tree`` at its current revision, with the change that makes
        Buildbot's grid and console show it (added once per revision); None if unknown."""
        revision = yield threads.deferToThread(tree_revision, tree)
        if not revision:
            log.msg(f"tree {tree.name}: revision unknown; the run is not stamped")
            return None
        master = self.master  # type: ignore[attr-defined]
        stamp = {"branch": tree.branch, "revision": revision, "repository": tree.url or "",
                 "codebase": "", "project": tree.name}
        ssid = yield master.db.sourcestamps.findSourceStampId(**stamp)
        change = yield master.db.changes.getChangeFromSSid(ssid)
        if change is None:
            yield master.data.updates.addChange(
                files=[], comments=f"{tree.name} at {revision} (forced or nightly run)",
                author="xentriage farm <farm@localhost>", category=SNAPSHOT_CATEGORY,
                src="xentriage", **stamp)
        return ssid

    @defer.inlineCallbacks
    def addBuildsetForSourceStamps(  # type: ignore[no-untyped-def]
        self, waited_for=False, sourcestamps=None, reason="", external_idstring=None,
        properties=None, builderNames=None, priority=None, **kw,
    ):
        base = properties if properties is not None else Properties()
        cells = yield self.select_cells(sourcestamps, base, builderNames)
        bsids: list[Any] = []
        brids: dict[Any, Any] = {}
        stamps: dict[str, Any] = {}
        if not has_revision(sourcestamps):
            for tree in {c.tree.name: c.tree for c in cells}.values():
                ssid = yield self.tree_sourcestamp(tree)
                stamps[tree.name] = [ssid] if ssid is not None else None
        # The forced pattern chose the cells; on each cell's build it would only be one more
        # property written to the database.
        shared = {k: v for k, v in base.asDict().items() if k != "cells"}
        if self.longest_first is not None:
            yield self.longest_first.ensure_history(self.master)  # type: ignore[attr-defined]
            cells = self.longest_first.submission_order(cells)
        for cell in cells:
            props = Properties.fromDict(shared)
            for name, value in cell_properties(cell).items():
                if not (self.per_cell_builders and name.startswith("virtual_builder")):
                    props.setProperty(name, value, SOURCE)
            bsid, ids = yield super().addBuildsetForSourceStamps(  # type: ignore[misc]
                waited_for=waited_for,
                sourcestamps=stamps.get(cell.tree.name) or list(sourcestamps or []), reason=reason,
                external_idstring=external_idstring, properties=props,
                builderNames=[self.builder_of(cell)], priority=(
                    priority if self.longest_first is None
                    else self.longest_first.priority(cell.name, priority)), **kw)
            bsids.append(bsid)
            brids.update(ids)
            if self.longest_first is not None:
                self.longest_first.note_requested(self.builder_of(cell),
                                                  [(brid, cell.name) for brid in ids.values()])
        # Callers (force, the REST API) expect one (bsid, {builderid: brid}) pair; the first
        # buildset stands for the run, and every cell's request is in the id map.
        return (bsids[0] if bsids else None), brids


def cell_scheduler(base: type, cells: Sequence[Cell], by_change: bool = False,
                   per_cell: bool = False, order: Any = None) -> type:
    """``order``: a farm.longest_first.LongestFirst told of every request made."""
    return type(f"Cell{base.__name__}", (CellFanOutMixin, base),
                {"cells": tuple(cells), "select_by_change": by_change,
                 "per_cell_builders": per_cell, "longest_first": order})
