"""What the triage host and the master agree on for bisection steps (pure: no Buildbot import).

A bisection step is a build of one cell at one commit on a *bisection builder*: one per real
builder (``bisect-<platform>-<arch>``), with the same workers, fed only by the force scheduler
named here. The triage side (``triage.ci.bisect.buildbot_runner``) submits steps through that
scheduler and reads their verdicts; the master side (``farm.bisect_builder``) builds them; the
push reporter and the sweep leave builds marked with :data:`BISECTION` out of the cell history
(a step of a bisection says nothing about the cell's branch head).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from farm.matrix import Cell

SCHEDULER = "bisect-steps"
BUILDER_PREFIX = "bisect-"
TAG = "bisect"

# Build properties a step carries (set by the force request; read back with the verdict).
CELL = "cell"  # the same property a farm build has: farm.steps.RunCell reads it
BISECTION = "bisection"  # the bisection's id: what marks the build as not a cell result
STEP = "bisect_step"  # the step's index in its bisection (1, 2, ...)
REPEAT = "bisect_repeat"  # the run's index among the runs of the same commit (flaky cells)
APP_COMMIT = "bisect_app_commit"  # the app's commit paired with the tree's ("": none)
WORKER = "bisect_worker"  # the worker this step must run on (its slot)
# The tree's commit goes in the request's source stamp (the force form's "revision"), so
# Buildbot's own Git step checks it out and the build's ``revision`` property names it.


def builder_name(real_builder: str) -> str:
    """The bisection builder beside a real builder (``kvm-x86_64`` -> ``bisect-kvm-x86_64``)."""
    return BUILDER_PREFIX + real_builder


def is_bisection_build(properties: Mapping[str, Any] | None) -> bool:
    """True for a bisection step's build. ``properties``: Buildbot's ``{name: [value, source]}``
    (the REST API's and a reporter's shape) or plain ``{name: value}``."""
    value = (properties or {}).get(BISECTION)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return bool(value)


def tree_repository(cell: Cell) -> str:
    """Where a worker fetches the tree from: the matrix's ``url``, else its local ``path``."""
    return cell.tree.url or (str(cell.tree.path) if cell.tree.path is not None else "")


def app_repository(cell: Cell) -> str | None:
    """The app's own git repository (an absolute path outside the tree), else None: the
    local runner's rule (triage.ci.bisect.runners.LocalRunner.app_repository)."""
    app = Path(cell.app.path)
    if not app.is_absolute():
        return None
    if cell.tree.path is not None:
        try:
            app.resolve().relative_to(Path(cell.tree.path).resolve())
            return None
        except ValueError:
            pass
    return str(app.resolve()) if (app / ".git").exists() else None
