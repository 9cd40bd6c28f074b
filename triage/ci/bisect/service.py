"""Bisection inside the service: the local bisector the queue runs, and the ``bisect`` job of
``xentriage serve`` (run the queue within the day's budget, then one CI linking pass so what
the bisections found reaches the bug: dry run unless ``safety.production``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from triage.adapters.tracker import TrackerError
from triage.ci.bisect.model import BisectOutcome, BisectRequest
from triage.ci.bisect.queue import Bisector, QueueReport, queue_lock, run_queue
from triage.config import Settings
from triage.store import Store

if TYPE_CHECKING:
    from triage.ci.linker import CiLinker, LinkReport

log = logging.getLogger(__name__)

def local_bisector(settings: Settings) -> Bisector:
    """Bisect as ``xentriage ci bisect`` does (triage.ci.bisect.local): the farm's matrix
    (``bisect.matrix``), the tree's repository (``bisect.repository``, else the matrix tree's
    path), ``bisect.workers`` slots (at least one), each with its worktree and persistent
    build directory under ``bisect.workdir``, or with ``bisect.runner = "buildbot"`` the
    farm's connected capable workers (at most ``bisect.workers`` when set); S is the
    request's signature."""
    from farm.matrix import load_matrix
    from triage.ci.bisect.local import DEFAULT_MATRIX, bisect_locally
    from triage.ci.bisect.queue import BisectionError

    b = settings.bisect
    path = b.matrix or DEFAULT_MATRIX
    try:  # a matrix that does not load stops the run before it takes a request
        load_matrix(path)
    except Exception as exc:  # MatrixError, OSError: said plainly, with the file
        raise BisectionError(f"bisect.matrix {path}: {exc}") from None

    # The Buildbot runner's 0 is every connected capable worker; the local one's, one slot.
    slots = b.workers if b.runner == "buildbot" else max(1, b.workers)

    def bisect(request: BisectRequest) -> BisectOutcome:
        outcome = bisect_locally(b, request.cell, request.old, request.new, kind=request.kind,
                                 signature=request.signature, flake_rate=request.flake_rate,
                                 slots=slots, now=datetime.now(UTC))
        # The stored request (as CI linking asked it) stays the key; the outcome keeps the
        # bug it is for.
        return dataclasses.replace(outcome, request=dataclasses.replace(
            outcome.request, origin_bug=request.origin_bug))

    return bisect


def bisect_pass(settings: Settings, store: Store, *, production: bool,
                bisector: Bisector | None = None, limit: int | None = None,
                linker: CiLinker | None = None, retry_errors: bool = False,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> tuple[QueueReport, LinkReport | None]:
    """Run the queue, then (when a bisection ran) link so its comment is planned and written.
    ``linker``: the CI linker to use (default: the service's, as ``ci link`` builds it);
    ``retry_errors``: queue the bisections that could not run again first.
    Raises BisectionError when the local bisector cannot be set up (nothing is taken)."""
    from triage.ci.service import make_linker
    from triage.store.bisections import requeue_errors

    bisector = bisector or local_bisector(settings)
    with queue_lock(settings.bisect.workdir):
        if retry_errors:
            with store.session() as s:
                requeue_errors(s)
        queue = run_queue(store, settings, bisector, clock=clock, limit=limit)
    link = None
    if queue.ran:
        try:
            linker = linker or make_linker(settings, store, production=production)
            link = linker.run(production=production)
        except TrackerError as exc:  # the outcomes are stored: the next linking pass writes
            queue.link_error = str(exc)
            log.error("bisect: linking after the run failed: %s", exc)
    return queue, link


def bisect_job(config_path: str | None = None) -> None:
    from triage.ci.bisect.queue import BisectionError, QueueBusy
    from triage.jobs import _scheduled

    with _scheduled(config_path, "bisect") as (settings, store, report):
        if not settings.bisect.enabled:
            return
        try:
            queue, link = bisect_pass(settings, store, production=settings.safety.production)
        except QueueBusy as exc:  # `ci bisect-run` by hand is at it: next time
            report.add("bisect", str(exc))
            return
        except BisectionError as exc:
            report.fail("bisect", str(exc))
            return
        writes = len(link.bisections) if link is not None else 0
        report.add("bisect", f"{queue.summary()}; {writes} bisection comment(s) planned")
        if queue.link_error:
            report.fail("bisect", f"linking after the run: {queue.link_error}")
