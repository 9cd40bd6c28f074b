"""The farm's worker: Buildbot's quarantine kept for a broken worker, not for one cell.

Buildbot puts a worker in quarantine for 10 s (doubling on each further exception, up to an
hour) after every build that ends in EXCEPTION, "to make sure we try next build with another
worker". The farm words a cell's environment verdict as EXCEPTION (infrastructure colour,
farm.steps): one cell that needs a host tool the worker lacks then stopped the worker's every
slot for 10 s of every full-matrix run while requests waited (bench/bench_farm.py's timeline:
a stretch with nothing building at all; docs/BENCHMARKS.md). A worker that answered with a
verdict is alive; it is a broken worker only when that keeps happening.

So an environment verdict from the worker skips Buildbot's quarantine until
``ENVIRONMENT_STREAK`` of them come in a row on that worker (any other verdict resets the
streak); exceptions without a verdict (the runner died, the worker was lost) go to
quarantine as Buildbot always does. The policy (:func:`skips_quarantine`) is pure; the worker
subclass only counts.
"""

from __future__ import annotations

from typing import Any

from buildbot.plugins import worker

from workers.cell import ENVIRONMENT

# A worker whose cells fail for its environment this many times in a row is treated as broken:
# Buildbot's quarantine lets the other workers take the queue instead of it eating it.
ENVIRONMENT_STREAK = 3


def next_streak(streak: int, outcome: str | None) -> int:
    """The worker's run of environment verdicts after a build whose verdict was ``outcome``
    (None: the worker gave none, which neither extends nor ends the run)."""
    if outcome is None:
        return streak
    return streak + 1 if outcome == ENVIRONMENT else 0


def skips_quarantine(streak: int, outcome: str | None, limit: int = ENVIRONMENT_STREAK) -> bool:
    """True if a build that ended in EXCEPTION with the worker's verdict ``outcome`` (and
    ``streak`` environment verdicts in a row, this one included) should not quarantine it;
    ``limit`` 1: every one does (Buildbot's own behaviour)."""
    return outcome == ENVIRONMENT and 0 < streak < limit


class FarmWorker(worker.Worker):  # type: ignore[misc]
    environment_streak = 0
    # farm.json ``environment_quarantine = "always"`` (the benchmark's baseline) sets it to 1.
    environment_streak_limit = ENVIRONMENT_STREAK
    # Quarantines to skip: one per build that finished with a verdict that skips it. Buildbot
    # calls putInQuarantine() without saying which build; builds finishing at once each add
    # and take one, so the count stays right.
    skip_quarantines = 0

    def note_verdict(self, outcome: str | None, exception: bool) -> None:
        """Called by the cell build just before Buildbot finishes it."""
        self.environment_streak = next_streak(self.environment_streak, outcome)
        if exception and skips_quarantine(self.environment_streak, outcome,
                                        self.environment_streak_limit):
            self.skip_quarantines += 1

    def putInQuarantine(self) -> Any:
        if self.skip_quarantines > 0:
            self.skip_quarantines -= 1
            return None
        return super().putInQuarantine()
