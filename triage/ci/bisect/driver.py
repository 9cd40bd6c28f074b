"""One bisection end to end: the algorithm chooses, the runner builds, W slots at once.

``run_bisection`` loops :class:`~triage.ci.bisect.algorithm.Bisection` and a
:class:`~triage.ci.bisect.model.StepRunner`: each round the algorithm names up to W commits
(W = ``bisect.workers``, or every slot the runner has), the runner builds and boots them in
parallel, one slot each, and every result goes back to the algorithm. A round's wall time is
its slowest step, so W slots cut the rounds from log2 to log base W+1 of the range. Pipelined
(``bisect.pipeline``, with a runner that can stop a step: ``cancel``), there are no rounds: a
slot that finishes starts the next step at once, and a step the others' verdicts made useless is
stopped (docs/bisection.md). Rounds are the default: on the quiet machine the pipeline
measured no faster than rounds, and it stops steps (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from triage.ci.bisect.algorithm import Bisection, Policy
from triage.ci.bisect.commits import CommitLog
from triage.ci.bisect.model import BisectOutcome, BisectRequest, StepRun, StepRunner
from triage.ci.bisect.runners import RunnerUnavailable
from triage.config import BisectSettings
from workers.failure import ENVIRONMENT

# (round, run): progress, e.g. the CLI's lines; pipelined, "round" is the slot's step number
StepHook = Callable[[int, StepRun], None]


@dataclass(frozen=True)
class SlotSpan:
    """When one step ran on its slot (seconds since the bisection's first step started): what
    the bench reads to tell the steps' time from a slot's idle time between them."""

    round: int
    slot: int
    commit: str
    started: float
    ended: float
    cancelled: bool = False  # stopped once useless: not a build, its result unused


RETRY_CANCEL = 0.25  # seconds between asks to stop a step the runner could not stop yet


def policy_of(settings: BisectSettings) -> Policy:
    return Policy(max_builds=settings.max_builds, confidence=settings.confidence,
                  flake_threshold=settings.flake_threshold, max_repeats=settings.max_repeats)


def width(settings: BisectSettings, runner: StepRunner) -> int:
    """Steps at once: ``bisect.workers`` (0: all of the runner's slots), never more slots than
    the runner has."""
    return max(1, min(settings.workers or runner.slots, runner.slots))


def assign_slots(positions: Sequence[int], last: Sequence[int]) -> list[tuple[int, int]]:
    """(slot, position) pairs: the lowest commits to the slots that built the lowest ones
    last, so each slot's next checkout differs least from its build directory's state."""
    slots = sorted(range(len(last)), key=lambda s: (last[s], s))[:len(positions)]
    return list(zip(sorted(slots, key=lambda s: (last[s], s)), sorted(positions), strict=True))


def _run_one(runner: StepRunner, cell: str, commit: str, slot: int
             ) -> tuple[StepRun, float, float]:
    """The step's run and when it started and ended (monotonic clock)."""
    started = time.monotonic()
    try:
        run = runner.run(cell, commit, slot)
    except RunnerUnavailable:  # no step can run: the bisection is an error, not all skips
        raise
    except Exception as exc:  # one broken step is a skip, not a lost bisection
        run = StepRun(commit, ENVIRONMENT, title=f"runner failed: {type(exc).__name__}: {exc}",
                      worker=f"slot {slot}")
    return run, started, time.monotonic()


def run_bisection(request: BisectRequest, log: CommitLog, runner: StepRunner,
                  settings: BisectSettings, now: datetime | None = None,
                  on_step: StepHook | None = None,
                  prior: Sequence[StepRun] = (),
                  trace: list[SlotSpan] | None = None,
                  pipeline: bool | None = None) -> BisectOutcome:
    """Run one bisection to its outcome (found or inconclusive; never a guessed commit).

    ``prior``: runs already made in this bisection's range (e.g. the one that read the
    signature off the bad end); they count against the budget like any other. Raises
    ``CommitLogError`` when the revisions are unknown or ``old..new`` is not a range, before
    any build; a step whose runner fails is a skipped step, not an exception. ``trace``, when
    given, receives a :class:`SlotSpan` per step.

    Several slots run in rounds (every slot waits for the round's slowest step), or as a
    pipeline when ``pipeline`` (default: ``bisect.pipeline``) and the runner can stop a step
    (an optional ``cancel(slot) -> bool``): without that, a speculative step that turns useless
    would hold its slot to the end."""
    old = log.commit(request.old)
    commits = log.between(old.id, request.new)
    # The request may name revisions by tag or short id; the outcome names full ids.
    request = _with_ids(request, old.id, commits[-1].id)
    bisection = Bisection(request, old, commits, policy_of(settings))
    for run in prior:
        bisection.record(run)
    if prior:
        bisection.rounds += 1
    slots = width(settings, runner)
    cancel = getattr(runner, "cancel", None)
    if pipeline is None:
        pipeline = settings.pipeline
    if slots > 1 and cancel is not None and pipeline:
        steps = _pipelined(bisection, runner, request.cell, slots, on_step, trace, cancel)
        # No rounds to count: the most steps one slot ran one after the other (with steps of
        # equal length, the wall time in steps).
        bisection.rounds += max(steps)
    else:
        _in_rounds(bisection, runner, request.cell, slots, on_step, trace)
    return bisection.outcome(now, app_pairing=_pairing(runner, request.cell),
                             reproduce=_reproduce(runner, request, bisection))


def _in_rounds(bisection: Bisection, runner: StepRunner, cell: str, slots: int,
               on_step: StepHook | None, trace: list[SlotSpan] | None) -> list[int]:
    """Rounds: up to ``slots`` steps at once, all finished before the next round starts."""
    last: list[int] = [0] * slots  # position each slot built last (its build dir's state)
    counts = [0] * slots
    origin = time.monotonic()
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="bisect-slot") as pool:
        while batch := bisection.next_batch(slots):
            pairs = assign_slots([bisection.position(c.id) for c in batch], last)
            futures = [pool.submit(_run_one, runner, cell, bisection.line[pos].id, slot)
                       for slot, pos in pairs]
            for fut, (slot, pos) in zip(futures, pairs, strict=True):
                last[slot] = pos
                counts[slot] += 1
                _finish(bisection, fut.result(), slot, bisection.rounds, origin, on_step, trace)
    return counts


def _pipelined(bisection: Bisection, runner: StepRunner, cell: str, slots: int,
               on_step: StepHook | None, trace: list[SlotSpan] | None,
               cancel: Callable[[int], bool]) -> list[int]:
    """No rounds: whenever a slot is free it starts the most useful step the verdicts so far
    allow, given the steps still running (``Bisection.next_steps``), and a running step whose
    answer the others' verdicts have made useless is stopped (``cancel``) and its slot reused.
    A slot whose step ends first never waits for the others'."""
    last: list[int] = [0] * slots
    counts = [0] * slots
    running: dict[Future[tuple[StepRun, float, float]], tuple[int, int]] = {}
    dropped: set[Future[tuple[StepRun, float, float]]] = set()  # cancelled: results unused
    base = bisection.rounds  # 1 after a prior run (the signature's): the hook's numbers go on
    origin = time.monotonic()
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="bisect-slot") as pool:
        while True:
            useless = [f for f, (_, pos) in running.items()
                       if f not in dropped and not bisection.wanted(pos)]
            for fut in useless:
                if cancel(running[fut][0]):
                    dropped.add(fut)
            busy = {slot for slot, _ in running.values()}
            free = [s for s in range(slots) if s not in busy]
            live = [pos for fut, (_, pos) in running.items() if fut not in dropped]
            batch = bisection.next_steps(len(free), live) if free else []
            for i, pos in assign_slots([bisection.position(c.id) for c in batch],
                                       [last[s] for s in free]):
                slot = free[i]
                last[slot] = pos
                fut = pool.submit(_run_one, runner, cell, bisection.line[pos].id, slot)
                running[fut] = (slot, pos)
            if not running:
                break  # nothing to start and nothing running: next_steps has set the outcome
            # A useless step the runner would not stop yet (in make) is asked again soon.
            retry = RETRY_CANCEL if any(f not in dropped for f in useless) else None
            done, _ = wait(running, timeout=retry, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: running[f][0]):
                slot, pos = running.pop(fut)
                if fut in dropped:
                    dropped.discard(fut)
                    _, started, ended = fut.result()
                    if trace is not None:
                        trace.append(SlotSpan(counts[slot], slot, bisection.line[pos].id,
                                              started - origin, ended - origin, cancelled=True))
                    continue
                counts[slot] += 1
                _finish(bisection, fut.result(), slot, base + counts[slot], origin, on_step,
                        trace)
    return counts


def _finish(bisection: Bisection, result: tuple[StepRun, float, float], slot: int, nth: int,
            origin: float, on_step: StepHook | None, trace: list[SlotSpan] | None) -> None:
    run, started, ended = result
    if trace is not None:
        trace.append(SlotSpan(nth, slot, run.commit, started - origin, ended - origin))
    bisection.record(run)
    if on_step is not None:
        on_step(nth, run)


def _with_ids(request: BisectRequest, old: str, new: str) -> BisectRequest:
    return dataclasses.replace(request, old=old, new=new)


def _pairing(runner: StepRunner, cell: str) -> str:
    """What the runner says about app pairing ("" for a runner without an app history)."""
    describe = getattr(runner, "pairing_text", None)
    return str(describe(cell)) if describe is not None else ""


def _reproduce(runner: StepRunner, request: BisectRequest, bisection: Bisection) -> str:
    reproduce = getattr(runner, "reproduce", None)
    if reproduce is None:
        return ""
    return str(reproduce(request.cell, bisection.frontier()[1].id))
