"""Bisection inside the service: the local bisector the queue runs, and the ``bisect`` job of
``xentriage serve`` (run the queue within the day's budget, then one CI linking pass so what
the bisections found reaches the bug: dry run unless ``safety.production``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from triage.ci.bisect.model import BisectOutcome, BisectRequest
from triage.ci.bisect.queue import Bisector, QueueReport, run_queue
from triage.config import Settings
from triage.store import Store

if TYPE_CHECKING:
    from triage.ci.linker import CiLinker, LinkReport

log = logging.getLogger(__name__)

CHECKOUT_MATRIX = Path(__file__).resolve().parents[3] / "ci" / "matrix.toml"


def local_bisector(settings: Settings) -> Bisector:
    """Bisect on this machine: the farm's matrix (``bisect.matrix``, else the checkout's), the
    tree's repository (``bisect.repository``, else the matrix tree's path), one worktree and
    persistent build directory per slot under ``bisect.workdir``."""
    from farm.matrix import load_matrix
    from triage.ci.bisect.commits import CommitLog
    from triage.ci.bisect.driver import run_bisection
    from triage.ci.bisect.runners import LocalRunner

    b = settings.bisect
    matrix = load_matrix(b.matrix or CHECKOUT_MATRIX)
    runner = LocalRunner(matrix, b.workdir, slots=max(1, b.workers),
                         repository=b.repository)

    def bisect(request: BisectRequest) -> BisectOutcome:
        repo = runner.repository(runner.cell(request.cell))
        return run_bisection(request, CommitLog(repo, b.commit_url), runner, b,
                             now=datetime.now(UTC))

    return bisect


def bisect_pass(settings: Settings, store: Store, *, production: bool,
                bisector: Bisector | None = None, limit: int | None = None,
                linker: CiLinker | None = None,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> tuple[QueueReport, LinkReport | None]:
    """Run the queue, then (when a bisection ran) link so its comment is planned and written.
    ``linker``: the CI linker to use (default: the service's, as ``ci link`` builds it)."""
    from triage.ci.service import make_linker

    queue = run_queue(store, settings, bisector or local_bisector(settings), clock=clock,
                      limit=limit)
    link = None
    if queue.ran:
        linker = linker or make_linker(settings, store, production=production)
        link = linker.run(production=production)
    return queue, link


def bisect_job(config_path: str | None = None) -> None:
    from triage.jobs import _scheduled

    with _scheduled(config_path, "bisect") as (settings, store, report):
        if not settings.bisect.enabled:
            return
        queue, link = bisect_pass(settings, store, production=settings.safety.production)
        writes = len(link.bisections) if link is not None else 0
        report.add("bisect", f"{queue.summary()}; {writes} bisection comment(s) planned")
