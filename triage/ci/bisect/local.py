"""A bisection run from this machine, as `xentriage ci bisect` and `ci bisect-step` run it.

Puts the pieces together from ``[bisect]`` and the command line: the farm's matrix, the tree's
repository, the step runner (``bisect.runner``: a
:class:`~triage.ci.bisect.runners.LocalRunner` with one slot per worker, or a
:class:`~triage.ci.bisect.buildbot_runner.BuildbotRunner` whose slots are the farm's connected
workers of the cell's capability), and the signature S. Without ``--signature``, S is read off
the end that shows the failure (a cause bisection's bad end, a fix bisection's failing end):
that run is the bisection's first step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from farm.matrix import load_matrix
from triage.ci.bisect.commits import CommitLog
from triage.ci.bisect.driver import StepHook, run_bisection
from triage.ci.bisect.model import CAUSE, BisectOutcome, BisectRequest, StepRun
from triage.ci.bisect.runners import LocalRunner, RunnerError

if TYPE_CHECKING:
    from triage.ci.bisect.buildbot_runner import BuildbotRunner
from triage.config import BisectSettings
from workers.failure import BOOT_FAILED, BOOT_TIMEOUT, BUILD_FAILED

DEFAULT_MATRIX = Path(__file__).resolve().parents[3] / "ci" / "matrix.toml"


class BisectError(Exception):
    """The bisection cannot start: unknown cell, bad revisions, an end that does not fail."""


@dataclass(frozen=True)
class LocalSetup:
    runner: LocalRunner | BuildbotRunner
    log: CommitLog


def local_slots(jobs: int) -> int:
    """Slots for ``workers = 0`` on this machine: one per ``farm.jobs`` cores (each step runs
    make -j<jobs>), so parallel steps do not fight over the cores."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def local_setup(settings: BisectSettings, cell: str, *, slots: int,
                matrix: Path | None = None, tree: Path | None = None,
                bisection: str = "") -> LocalSetup:
    """``bisection``: the id a Buildbot runner marks its step builds with."""
    path = matrix or settings.matrix or DEFAULT_MATRIX
    try:
        loaded = load_matrix(path)
    except Exception as exc:  # MatrixError, OSError: said plainly, with the file
        raise BisectError(f"matrix {path}: {exc}") from None
    runner: LocalRunner | BuildbotRunner
    try:
        if settings.runner == "buildbot":
            from triage.ci.bisect.buildbot_runner import BuildbotRunner

            runner = BuildbotRunner(loaded, settings.buildbot_url, cell,
                                    repository=tree or settings.repository,
                                    bisection=bisection,
                                    outage_seconds=settings.buildbot_outage_seconds)
        else:
            runner = LocalRunner(loaded, settings.workdir,
                                 slots=slots or local_slots(loaded.farm.jobs),
                                 repository=tree or settings.repository)
        repo = runner.repository(runner.cell(cell))
    except RunnerError as exc:
        raise BisectError(str(exc)) from None
    return LocalSetup(runner, CommitLog(repo, settings.commit_url))


def read_signature(setup: LocalSetup, cell: str, commit: str) -> StepRun:
    """Run ``commit`` once; its failure's signature is S (BisectError when it does not fail)."""
    run = setup.runner.run(cell, commit, 0)
    if run.result not in (BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT) or not run.signature:
        raise BisectError(f"{commit[:12]} does not fail on this runner ({run.result}: "
                          f"{run.title}): give --signature or another revision")
    return run


def bisect_locally(settings: BisectSettings, cell: str, old: str, new: str, *, kind: str,
                   signature: str = "", flake_rate: float = 0.0, slots: int = 0,
                   matrix: Path | None = None, tree: Path | None = None,
                   on_step: StepHook | None = None,
                   now: datetime | None = None) -> BisectOutcome:
    wanted = slots or settings.workers
    setup = local_setup(settings, cell, slots=wanted, matrix=matrix, tree=tree,
                        bisection=f"{kind}:{cell}:{old[:12]}..{new[:12]}")
    try:
        # A Buildbot runner's slots are the connected workers: never more steps at once.
        width = min(wanted, setup.runner.slots) if wanted else setup.runner.slots
        settings = dataclasses.replace(settings, workers=width)
        old_id, new_id = setup.log.resolve(old), setup.log.resolve(new)
        setup.log.between(old_id, new_id)  # a range that is not one fails before any build
    except Exception as exc:
        raise BisectError(str(exc)) from None
    try:
        prior: Sequence[StepRun] = ()
        if not signature:
            run = read_signature(setup, cell, new_id if kind == CAUSE else old_id)
            signature, prior = run.signature, (run,)
            if on_step is not None:
                on_step(1, run)
        request = BisectRequest(kind, cell, old_id, new_id, signature, flake_rate=flake_rate)
        return run_bisection(request, setup.log, setup.runner, settings,
                             now=now or datetime.now(UTC), on_step=on_step, prior=prior)
    except RunnerError as exc:  # the farm's master went away: no commit, a clear error
        raise BisectError(f"runner: {exc}") from None
