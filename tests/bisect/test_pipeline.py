"""Pipelined multisection (``Bisection.next_steps``): a slot whose step ends first starts the
next step at once. A virtual clock plays the driver's loop with scripted step times, so the
schedules are exact: the outcome must be the one plain bisection gives (skips, flakes and
budgets included), and the wall time no longer than in rounds."""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bisect.test_algorithm import Oracle, bisect, first_run_flips, line, regression
from triage.ci.bisect.algorithm import Bisection, Policy
from triage.ci.bisect.model import (
    CAUSE,
    FOUND,
    INCONCLUSIVE,
    BisectOutcome,
    BisectRequest,
    StepRun,
)
from triage.ci.bisect.points import evenly, spread
from workers.failure import BUILD_FAILED, PASSED

S = "sig-S"
Duration = Callable[[int, str], float]  # (position, result) -> seconds


def like_the_fixture(pos: int, result: str) -> float:
    """A passing step boots to the end, a panicking one stops early, a build failure never
    boots (about the fixture cell's proportions); positions add a little jitter."""
    base = {PASSED: 1.0, BUILD_FAILED: 0.55}.get(result, 0.85)
    return base + (pos % 7) * 0.02


def pipelined(n: int, oracle: Oracle, slots: int, duration: Duration = like_the_fixture,
              flake_rate: float = 0.0, **policy: float) -> tuple[BisectOutcome, float]:
    """The driver's ``_pipelined`` loop on a virtual clock, a step that turns useless stopped
    at once: (outcome, wall time)."""
    commits = line(n)
    req = BisectRequest(CAUSE, "cell", commits[0].id, commits[-1].id, S, flake_rate=flake_rate)
    b = Bisection(req, commits[0], commits[1:], Policy(**policy))  # type: ignore[arg-type]
    seen: dict[int, int] = {}
    running: list[tuple[float, int, int, StepRun]] = []  # (ends at, slot, position, run)
    clock, counts = 0.0, [0] * slots
    while True:
        busy = {slot for _, slot, _, _ in running}
        free = [s for s in range(slots) if s not in busy]
        batch = b.next_steps(len(free), [p for _, _, p, _ in running])
        assert len(batch) <= len(free)
        for slot, commit in zip(free, batch, strict=False):
            pos = int(commit.id[1:])
            run = oracle(pos, seen.get(pos, 0))
            seen[pos] = seen.get(pos, 0) + 1
            counts[slot] += 1
            heapq.heappush(running, (clock + duration(pos, run.result), slot, pos, run))
        if not running:
            break
        clock, _, _, run = heapq.heappop(running)  # slots never tie: (time, slot) is unique
        b.record(run)
        running = [r for r in running if b.wanted(r[2])]  # the others cancelled
        heapq.heapify(running)
    assert b.done
    b.rounds = max(counts)  # as the driver counts them
    return b.outcome(), clock


def in_rounds(n: int, oracle: Oracle, slots: int, duration: Duration = like_the_fixture,
              **policy: float) -> tuple[BisectOutcome, float]:
    """Rounds on the same clock: each lasts as long as its slowest step."""
    commits = line(n)
    req = BisectRequest(CAUSE, "cell", commits[0].id, commits[-1].id, S)
    b = Bisection(req, commits[0], commits[1:], Policy(**policy))  # type: ignore[arg-type]
    clock, seen = 0.0, dict[int, int]()
    while batch := b.next_batch(slots):
        longest = 0.0
        for c in batch:
            pos = int(c.id[1:])
            run = oracle(pos, seen.get(pos, 0))
            seen[pos] = seen.get(pos, 0) + 1
            longest = max(longest, duration(pos, run.result))
            b.record(run)
        clock += longest
    return b.outcome(), clock


def test_spread_and_evenly() -> None:
    assert spread(2, [100]) == [2]
    assert spread(1, [30, 70]) == [0, 1]
    assert spread(2, [10, 80, 10]) == [0, 2, 0]
    assert spread(3, [1, 1]) == [1, 1]  # never more points than a part has commits
    assert evenly(list(range(1, 160)), 2) == [54, 107]
    assert evenly([5], 1) == [5]


@settings(max_examples=120, deadline=None)
@given(st.integers(2, 200).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, n), st.frozensets(st.integers(1, n - 1), max_size=n // 3))),
    st.integers(1, 3))
def test_pipelined_agrees_with_plain_bisection(case: tuple[int, int, frozenset[int]],
                                               slots: int) -> None:
    n, first_bad, skips = case
    plain = bisect(n, regression(first_bad, skips), max_builds=1000)
    out, _ = pipelined(n, regression(first_bad, skips), slots, max_builds=1000)
    assert out.status == plain.status
    assert out.first_new == plain.first_new and out.last_old == plain.last_old
    if out.status == INCONCLUSIVE:
        assert "only skipped" in out.reason and plain.reason.startswith("only skipped")
        true = f"c{first_bad:03d}"
        assert true in [c.id for c in out.candidates]


def test_one_slot_pipelined_is_plain_bisection() -> None:
    for fb in range(1, 161):
        plain = bisect(160, regression(fb, frozenset({80, 81})))
        out, _ = pipelined(160, regression(fb, frozenset({80, 81})), 1)
        assert [s.commit.id for s in out.steps] == [s.commit.id for s in plain.steps]
        assert out.builds == plain.builds and out.rounds == plain.rounds


def varied(spread: float, seed: int) -> Duration:
    """Each commit's step takes 1 to 1 + spread time units (real trees: what a step rebuilds
    varies with the commit), fixed per commit."""
    rng, times = random.Random(seed), dict[int, float]()

    def duration(pos: int, _: str) -> float:
        return times.setdefault(pos, 1.0 + rng.random() * spread)
    return duration


def test_the_bench_range_in_less_time_than_rounds() -> None:
    """The bench's range (breaking at 70, skips at 80 and 81): the pipeline's wall time is at
    most 0.7 of one slot's, and below rounds'."""
    oracle = regression(70, frozenset({80, 81}))
    one, t_one = pipelined(160, oracle, 1)
    two, t_two = pipelined(160, oracle, 2)
    rounds, t_rounds = in_rounds(160, oracle, 2)
    assert two.first_new == one.first_new == rounds.first_new
    assert t_two <= 0.7 * t_one and t_two < t_rounds
    assert two.rounds < one.rounds


def test_every_first_bad_position_of_160_in_less_median_time() -> None:
    """Every first-bad position of the bench's range (skips at 80, 81), the fixture's step
    times: the same outcome as one slot, a median wall time below rounds' and at most 0.65 of
    one slot's."""
    gains, ratios = [], []
    for fb in range(1, 161):
        oracle = regression(fb, frozenset({80, 81}) - {fb})
        one, t_one = pipelined(160, oracle, 1, max_builds=40)
        two, t_two = pipelined(160, oracle, 2, max_builds=40)
        _, t_rounds = in_rounds(160, oracle, 2, max_builds=40)
        assert (two.status, two.first_new, two.last_old) == (one.status, one.first_new,
                                                               one.last_old)
        gains.append(t_two / t_rounds)
        ratios.append(t_two / t_one)
    assert statistics.median(gains) < 0.98
    assert statistics.median(ratios) <= 0.65


@pytest.mark.parametrize("spread", [1.0, 2.0])
def test_uneven_steps_pipeline_beats_rounds(spread: float) -> None:
    """Over every third first-bad position of 160 (skips at 80, 81), with step times that
    vary per commit: the pipeline names the same commit, in less median wall time than
    rounds and at most 0.65 of one slot's."""
    gains, ratios = [], []
    for fb in range(1, 161, 3):
        oracle = regression(fb, frozenset({80, 81}) - {fb})
        one, t_one = pipelined(160, oracle, 1, varied(spread, fb), max_builds=40)
        two, t_two = pipelined(160, oracle, 2, varied(spread, fb), max_builds=40)
        _, t_rounds = in_rounds(160, oracle, 2, varied(spread, fb), max_builds=40)
        assert two.status == one.status and two.first_new == one.first_new
        gains.append(t_two / t_rounds)
        ratios.append(t_two / t_one)
    assert statistics.median(gains) < 0.97
    assert statistics.median(ratios) <= 0.65


@pytest.mark.parametrize("first_bad", [3, 17, 29])
def test_pipelined_on_a_flaky_cell_stays_right(first_bad: int) -> None:
    out, _ = pipelined(40, first_run_flips(regression(first_bad)), 2, flake_rate=0.2,
                       max_builds=1000, max_repeats=9)
    assert out.status == FOUND and out.first_new is not None
    assert out.first_new.id == f"c{first_bad:03d}" and out.confidence >= 0.95


def test_pipelined_budget_counts_running_steps() -> None:
    out, _ = pipelined(40, first_run_flips(regression(17)), 2, flake_rate=0.2, max_builds=12)
    assert out.status == INCONCLUSIVE and out.reason.startswith("budget spent: 12 builds")
    assert out.builds == 12


def test_an_end_that_does_not_reproduce_waits_for_the_running_step() -> None:
    out, _ = pipelined(30, regression(10**6), 2)
    assert out.status == INCONCLUSIVE and "first bad revision" in out.reason
    # the new end and one speculative step at most, both recorded
    assert out.builds <= 3 and len(out.steps) == out.builds
    assert math.isfinite(out.confidence)
