"""LocalRunner.cancel: a running step is stopped only outside make, and the driver drops it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from farm.matrix import load_matrix
from tests.bisect.test_algorithm import line
from triage.ci.bisect.driver import SlotSpan, run_bisection
from triage.ci.bisect.model import CAUSE, FOUND, BisectRequest, StepRun
from triage.ci.bisect.runners import LocalRunner, last_phase
from triage.config import BisectSettings
from workers.cell import PHASE_MARKER
from workers.failure import BOOT_FAILED, PASSED

MATRIX = Path(__file__).resolve().parents[2] / "ci" / "matrix.toml"


def _log(path: Path, *phases: str) -> Path:
    path.write_text("".join(f"{PHASE_MARKER}{p}: detail\nsome output\n" for p in phases))
    return path


def test_last_phase_reads_the_newest_marker(tmp_path: Path) -> None:
    assert last_phase(tmp_path / "missing.log") == ""
    assert last_phase(_log(tmp_path / "a.log")) == ""
    assert last_phase(_log(tmp_path / "b.log", "configure", "build")) == "build"
    big = _log(tmp_path / "c.log", "configure", "boot")
    with big.open("a") as fh:  # a long console after the marker: still found in the tail
        fh.write("x" * 1000 + "\n")
    assert last_phase(big) == "boot"


def test_cancel_never_during_make_and_stops_a_boot(tmp_path: Path) -> None:
    runner = LocalRunner(load_matrix(MATRIX), tmp_path / "work", slots=2)
    assert runner.cancel(0) is False  # nothing running
    log = _log(tmp_path / "step.log", "configure", "build")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner._steps[0] = (proc, log)
        assert runner.cancel(0) is False and proc.poll() is None  # make: left alone
        _log(log, "configure", "build", "boot")
        assert runner.cancel(0) is True
        assert proc.wait(timeout=10) != 0
        assert runner.cancel(0) is False  # already ended
    finally:
        proc.kill()
        proc.wait()


class _SlowOnBadRuns:
    """A runner whose failing steps take long and can be stopped; passing ones are quick."""

    def __init__(self, first_bad: int) -> None:
        self.first_bad, self.stops = first_bad, threading.Event()
        self.cancelled: list[int] = []
        self._lock = threading.Lock()
        self._running: dict[int, threading.Event] = {}

    @property
    def slots(self) -> int:
        return 2

    def _start(self, slot: int) -> threading.Event:
        """The event that stops the step now starting on ``slot``."""
        stop = threading.Event()
        with self._lock:
            self._running[slot] = stop
        return stop

    def _stoppable(self, slot: int) -> threading.Event | None:
        with self._lock:
            stop = self._running.get(slot)
        return None if stop is None or stop.is_set() else stop

    def run(self, cell: str, commit: str, slot: int) -> StepRun:
        pos = int(commit[1:])
        stop = self._start(slot)
        if pos >= self.first_bad:
            stop.wait(0.4 if pos < 40 else 0.05)
            return StepRun(commit, BOOT_FAILED, signature="S", worker=f"fake/{slot}")
        time.sleep(0.02)
        return StepRun(commit, PASSED, worker=f"fake/{slot}")

    def cancel(self, slot: int) -> bool:
        stop = self._stoppable(slot)
        if stop is None:
            return False
        stop.set()
        self.cancelled.append(slot)
        return True


class _Log:
    def __init__(self, n: int) -> None:
        self.commits = line(n)

    def commit(self, rev: str) -> object:
        return next(c for c in self.commits if c.id == rev)

    def between(self, old: str, new: str) -> list[object]:
        return list(self.commits[1:])


def test_the_pipeline_drops_cancelled_steps_and_agrees() -> None:
    runner = _SlowOnBadRuns(first_bad=7)
    settings = BisectSettings(max_builds=30, workers=2, pipeline=True)
    request = BisectRequest(CAUSE, "cell", "c000", "c040", "S")
    trace: list[SlotSpan] = []
    out = run_bisection(request, _Log(40), runner, settings, trace=trace)  # type: ignore[arg-type]
    assert out.status == FOUND and out.first_new is not None and out.first_new.id == "c007"
    dropped = [s for s in trace if s.cancelled]
    assert dropped, "no step was stopped: the scenario no longer tests cancelling"
    assert len(dropped) == len(runner.cancelled)
    # a dropped step is no build and no verdict
    assert out.builds == len(trace) - len(dropped) == sum(len(s.runs) for s in out.steps)
    assert out.rounds == max(sum(1 for s in trace if s.slot == k and not s.cancelled)
                             for k in (0, 1))


class _RefusesFirst(_SlowOnBadRuns):
    """Every step lasts 1.5 s unless stopped, but the new end (c040) 0.05 s and c020 0.5 s; the
    first ask to stop a step is refused (as the local runner refuses while make runs). So c010,
    started when the new end came back, is useless once c020 passes at 0.5 s, and no other step
    ends before its own end at 1.55 s: only the driver asking again stops it early."""

    def __init__(self, first_bad: int) -> None:
        super().__init__(first_bad)
        self.refused = 0

    def run(self, cell: str, commit: str, slot: int) -> StepRun:
        pos = int(commit[1:])
        stop = self._start(slot)
        stop.wait({40: 0.05, 20: 0.5}.get(pos, 1.5))
        if pos >= self.first_bad:
            return StepRun(commit, BOOT_FAILED, signature="S", worker=f"fake/{slot}")
        return StepRun(commit, PASSED, worker=f"fake/{slot}")

    def cancel(self, slot: int) -> bool:
        if self._stoppable(slot) is None:
            return False
        if self.refused < 1:
            self.refused += 1
            return False
        return super().cancel(slot)


def test_a_step_that_could_not_be_stopped_is_asked_again() -> None:
    runner = _RefusesFirst(first_bad=30)
    trace: list[SlotSpan] = []
    out = run_bisection(BisectRequest(CAUSE, "cell", "c000", "c040", "S"),
                        _Log(40), runner,  # type: ignore[arg-type]
                        BisectSettings(max_builds=30, workers=2, pipeline=True), trace=trace)
    assert out.status == FOUND and out.first_new is not None and out.first_new.id == "c030"
    assert runner.refused == 1
    stopped = [s for s in trace if s.cancelled]
    assert stopped and stopped[0].commit == "c010"
    assert stopped[0].ended - stopped[0].started < 1.2  # asked again after the refusal
