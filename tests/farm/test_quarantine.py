"""farm.quarantine.FarmWorker against the Buildbot surface it relies on.

The worker overrides ``putInQuarantine``, which Buildbot's ``Build`` calls on the worker after
every build that ends in EXCEPTION; if Buildbot renamed the hook or stopped calling it there,
the override would silently do nothing (or the farm would quarantine every environment
verdict again). These tests fail then, like the python-bugzilla shim's guard.
"""

from __future__ import annotations

import inspect
from typing import Any

from buildbot.process import build as buildbot_build
from buildbot.worker import base as worker_base

from farm.quarantine import ENVIRONMENT_STREAK, FarmWorker
from workers.cell import BOOT_FAILED, ENVIRONMENT


def test_buildbot_still_quarantines_through_the_hook_the_farm_overrides() -> None:
    assert callable(getattr(worker_base.AbstractWorker, "putInQuarantine", None))
    source = inspect.getsource(buildbot_build.Build.buildFinished)
    assert "results == EXCEPTION" in source and "worker.putInQuarantine()" in source


class _Counted(FarmWorker):
    """Buildbot's own quarantine counted instead of run (it needs a running master)."""

    def __init__(self) -> None:  # no Buildbot worker set-up: only the farm's counting
        self.quarantined = 0

    def _buildbot_quarantine(self) -> Any:
        self.quarantined += 1


def test_environment_verdicts_skip_the_quarantine_until_a_streak() -> None:
    w = _Counted()
    # Buildbot's method, as FarmWorker's super() would call it, counted.
    parent = worker_base.AbstractWorker.putInQuarantine
    try:
        worker_base.AbstractWorker.putInQuarantine = _Counted._buildbot_quarantine  # type: ignore[method-assign]
        for _ in range(ENVIRONMENT_STREAK - 1):  # one cell's host tool missing: no quarantine
            w.note_verdict(ENVIRONMENT, exception=True)
            w.putInQuarantine()
        assert w.quarantined == 0
        w.note_verdict(ENVIRONMENT, exception=True)  # the streak: a broken worker
        w.putInQuarantine()
        assert w.quarantined == 1
        w.note_verdict(BOOT_FAILED, exception=False)  # another verdict ends the streak
        w.note_verdict(None, exception=True)  # an exception without a verdict: quarantined
        w.putInQuarantine()
        assert w.quarantined == 2 and w.environment_streak == 0
    finally:
        worker_base.AbstractWorker.putInQuarantine = parent  # type: ignore[method-assign]
