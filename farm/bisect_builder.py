"""The master's side of bisection steps: one bisection builder per real builder, one scheduler.

A bisection (``triage.ci.bisect``) asks for "cell C at commit X" on a worker of C's capability.
Each real builder (platform, arch) gets a twin, ``bisect-<platform>-<arch>``, routed to the very
same workers (``farm.routing``), fed only by the force scheduler ``farm.bisect_protocol.SCHEDULER``
(never by changes or the nightly run). A step's build:

1. checks the commit (the request's source stamp revision) out with Buildbot's Git step in
   incremental mode, in the worker's own persistent checkout of the tree repository the matrix
   points at (its ``url``, else its local ``path``); only the files that differ from the last
   step get a new mtime, so make rebuilds what changed;
2. when the app has a history of its own, checks the paired app commit out the same way;
3. runs the farm's own cell step (:class:`farm.steps.RunCell`, the spec of
   ``farm.fragments.cell_spec``) with that checkout as the tree root, in the builder's persistent
   cell directory with the worker's ccache: the verdict line, the signature and the published
   properties are exactly a farm build's.

A step is pinned to one worker (the runner's slot) so each slot keeps building in the same
build directory. Its builds carry the ``bisection`` property, which keeps them out of the cell
history (farm.reporter, triage.ci.sweep).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from buildbot.plugins import schedulers, steps, util
from buildbot.process.factory import BuildFactory

from farm import bisect_protocol as proto
from farm import fragments
from farm.matrix import Cell, Matrix, MatrixError
from farm.routing import Route
from farm.steps import CellBuild, RunCell, cell_step

TREE_DIR = "tree"  # the persistent checkouts, relative to the bisection builder's builddir
APP_DIR = "app"


class PinnedGit(steps.Git):
    """Buildbot's Git step at the commit a property names (the app's paired commit), not at
    the source stamp's revision (which is the tree's)."""

    def __init__(self, revision_property: str, **kw: Any) -> None:
        self.revision_property = revision_property
        super().__init__(alwaysUseLatest=True, **kw)

    def run_vc(self, branch, revision, patch):  # type: ignore[no-untyped-def]
        return super().run_vc(branch, self.getProperty(self.revision_property) or None, patch)


class BisectCell(RunCell):
    """The farm's cell step with the bisection checkout as the tree (and app) root."""

    name = "bisect step"

    def spec_for(self, cell: Cell) -> str:
        real = self.getProperty("buildername", "")
        if proto.builder_name(cell.real_builder) != real:
            raise ValueError(f"cell {cell.name} is built on {cell.real_builder}, not on {real}")
        builddir = self.getProperty("builddir")
        app_commit = self.getProperty(proto.APP_COMMIT) or ""
        if app_commit:
            cell = replace(cell, app=replace(cell.app, path=posixpath.join(builddir, APP_DIR)))
        cell_dir = posixpath.join(builddir, self.farm.cells_dir, cell.name)
        spec = fragments.cell_spec(cell, posixpath.join(builddir, TREE_DIR), cell_dir, self.farm,
                                   boot_expected=cell.real_builder in self.boot_expected)
        return spec.to_json()


def bisect_factory(matrix: Matrix, cells: Mapping[str, Cell],
                   boot_expected: frozenset[str]) -> BuildFactory:
    farm = matrix.farm
    f = BuildFactory()
    f.buildClass = CellBuild

    def cell_of(props: Any) -> Cell:
        name = props.getProperty(proto.CELL)
        if name not in cells:
            raise ValueError(f"bisection step for an unknown cell {name!r}")
        return cells[name]

    @util.renderer
    def tree_url(props: Any) -> str:
        return proto.tree_repository(cell_of(props))

    @util.renderer
    def tree_branch(props: Any) -> str:
        # A local tree is built at its checked-out HEAD by the farm; its history is HEAD's.
        cell = cell_of(props)
        return cell.tree.branch if cell.tree.url else "HEAD"

    @util.renderer
    def app_url(props: Any) -> str:
        return proto.app_repository(cell_of(props)) or ""

    def has_app_commit(step: Any) -> bool:
        return bool(step.getProperty(proto.APP_COMMIT))

    f.addStep(steps.Git(name="check out the commit", repourl=tree_url, branch=tree_branch,
                        workdir=TREE_DIR, mode="incremental", haltOnFailure=True))
    # Each step costs Buildbot database writes per build, skipped or not: the app's checkout
    # only when some app has a history of its own.
    if any(proto.app_repository(c) for c in cells.values()):
        f.addStep(PinnedGit(proto.APP_COMMIT, name="check out the app commit",
                            repourl=app_url, branch="HEAD", workdir=APP_DIR,
                            mode="incremental", doStepIf=has_app_commit,
                            hideStepIf=lambda results, s: not has_app_commit(s),
                            haltOnFailure=True))
    f.addStep(cell_step(BisectCell, cells, farm, boot_expected))
    return f


def pinned_worker(builder: Any, worker_for_builder: Any, request: Any) -> bool:
    """``canStartBuild``: a step runs on the worker its request names (its slot), if any."""
    wanted = request.properties.getProperty(proto.WORKER)
    return not wanted or worker_for_builder.worker.workername == wanted


def bisect_builders(matrix: Matrix, cells: Mapping[str, Cell], routes: Mapping[str, Route],
                    boot_expected: frozenset[str], taken: set[str]) -> list[Any]:
    """One bisection builder per real builder in ``routes``, with its workers. ``taken``: the
    builder names already in use (the farm's real and per-cell builders)."""
    factory = bisect_factory(matrix, cells, boot_expected)
    out = []
    for real in sorted(routes):
        name = proto.builder_name(real)
        if name in taken:
            raise MatrixError("builders", f"{name!r} is both a bisection builder and a cell")
        out.append(util.BuilderConfig(
            name=name, workernames=list(routes[real].workers), factory=factory,
            collapseRequests=False, canStartBuild=pinned_worker,
            description=f"bisection steps of {real}: {routes[real].note}",
            tags=[proto.TAG, *real.split("-", 1)]))
    return out


def bisect_scheduler(builder_names: list[str]) -> Any:
    """The one way in: the triage host's force request (REST JSON-RPC ``force``)."""
    return schedulers.ForceScheduler(
        name=proto.SCHEDULER, builderNames=builder_names, buttonName="Run a bisection step",
        label="Bisection step (cell at one commit)",
        properties=[util.StringParameter(name=proto.CELL, label="Cell", required=True),
                    util.StringParameter(name=proto.BISECTION, label="Bisection id",
                                         required=True),
                    util.IntParameter(name=proto.STEP, label="Step", default=0),
                    util.IntParameter(name=proto.REPEAT, label="Repeat", default=0),
                    util.StringParameter(name=proto.APP_COMMIT, label="App commit"),
                    util.StringParameter(name=proto.WORKER, label="Worker")])
