"""The bisection algorithm over synthetic ranges (pure; hypothesis drives the ranges)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.ci.bisect.algorithm import Bisection, Policy, run_state
from triage.ci.bisect.confidence import lead_needed, verdict_error
from triage.ci.bisect.model import (
    BAD,
    CAUSE,
    FIX,
    FOUND,
    GOOD,
    INCONCLUSIVE,
    SKIP,
    BisectOutcome,
    BisectRequest,
    Commit,
    StepRun,
)
from workers.failure import BOOT_FAILED, BUILD_FAILED, ENVIRONMENT, PASSED, UNSUPPORTED

S = "sig-S"
Oracle = Callable[[int, int], StepRun]  # (position, how many runs of it so far) -> run


def line(n: int) -> list[Commit]:
    return [Commit(f"c{i:03d}", subject=f"commit {i}") for i in range(n + 1)]


def bisect(n: int, oracle: Oracle, *, slots: int = 1, kind: str = CAUSE,
           flake_rate: float = 0.0, **policy: float) -> BisectOutcome:
    commits = line(n)
    req = BisectRequest(kind, "cell", commits[0].id, commits[-1].id, S, flake_rate=flake_rate)
    b = Bisection(req, commits[0], commits[1:], Policy(**policy))  # type: ignore[arg-type]
    seen: dict[int, int] = {}
    while batch := b.next_batch(slots):
        assert len(batch) <= slots
        for c in batch:
            pos = int(c.id[1:])
            b.record(oracle(pos, seen.get(pos, 0)))
            seen[pos] = seen.get(pos, 0) + 1
    return b.outcome()


def regression(first_bad: int, skips: frozenset[int] = frozenset()) -> Oracle:
    def run(pos: int, _: int) -> StepRun:
        cid = f"c{pos:03d}"
        if pos in skips:
            return StepRun(cid, BUILD_FAILED, signature="other")
        if pos >= first_bad:
            return StepRun(cid, BOOT_FAILED, signature=S)
        return StepRun(cid, PASSED)
    return run


def fixed(first_fixed: int) -> Oracle:
    def run(pos: int, _: int) -> StepRun:
        cid = f"c{pos:03d}"
        return StepRun(cid, PASSED) if pos >= first_fixed else StepRun(cid, BOOT_FAILED,
                                                                          signature=S)
    return run


def first_run_flips(inner: Oracle) -> Oracle:
    """A deterministic flake: each commit's first run shows the other state."""
    def run(pos: int, nth: int) -> StepRun:
        real = inner(pos, nth)
        if nth:
            return real
        flipped = (StepRun(real.commit, BOOT_FAILED, signature=S) if real.result == PASSED
                   else StepRun(real.commit, PASSED))
        return flipped
    return run


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_plain_bisection_names_the_first_bad_commit_within_log2_plus_2(case: tuple[int, int]
                                                                        ) -> None:
    n, first_bad = case
    out = bisect(n, regression(first_bad), max_builds=1000)
    assert out.status == FOUND
    assert out.first_new is not None and out.first_new.id == f"c{first_bad:03d}"
    assert out.last_old is not None and out.last_old.id == f"c{first_bad - 1:03d}"
    assert out.builds <= math.ceil(math.log2(n)) + 2 if n > 1 else out.builds <= 2
    assert out.confidence == 1.0 and out.repeats == 1


def test_160_commits_take_at_most_10_builds() -> None:
    worst = max(bisect(160, regression(fb)).builds for fb in range(1, 161))
    assert worst <= 10


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))),
       st.integers(2, 4))
def test_multisection_agrees_with_bisection_in_fewer_rounds(case: tuple[int, int], w: int
                                                            ) -> None:
    n, first_bad = case
    plain = bisect(n, regression(first_bad), max_builds=1000)
    multi = bisect(n, regression(first_bad), slots=w, max_builds=1000)
    assert multi.status == FOUND and multi.first_new == plain.first_new
    assert multi.rounds <= plain.rounds
    # the new end in the first round, log base w+1 of the range, the old end at most once
    assert multi.rounds <= math.ceil(math.log(n, w + 1)) + 2


def test_two_workers_need_fewer_rounds_on_160() -> None:
    plain = [bisect(160, regression(fb)).rounds for fb in range(1, 161, 7)]
    multi = [bisect(160, regression(fb), slots=2).rounds for fb in range(1, 161, 7)]
    assert max(multi) <= 0.7 * max(plain)


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 80).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, n), st.frozensets(st.integers(1, n - 1), max_size=n // 2))))
def test_skips_never_give_a_wrong_commit(case: tuple[int, int, frozenset[int]]) -> None:
    n, first_bad, skips = case
    out = bisect(n, regression(first_bad, skips), max_builds=1000)
    true = f"c{first_bad:03d}"
    assert all(s.verdict == SKIP for s in out.steps if int(s.commit.id[1:]) in skips)
    if out.status == FOUND:
        assert out.first_new is not None and out.first_new.id == true
    else:
        # like git bisect: only skipped commits separate the last good and the first bad
        assert "only skipped" in out.reason
        ids = [c.id for c in out.candidates]
        assert true in ids
        assert all(int(i[1:]) in skips for i in ids[:-1])
    # a skipped commit's neighbour was tested instead, and no commit was tested twice
    assert len({s.commit.id for s in out.steps}) == len(out.steps) == out.builds


def test_a_different_failure_is_skip_not_bad() -> None:
    req = BisectRequest(CAUSE, "cell", "a", "b", S)
    assert run_state(req, StepRun("x", BOOT_FAILED, signature=S))[0] == BAD
    assert run_state(req, StepRun("x", BOOT_FAILED, signature="T"))[0] == SKIP
    assert run_state(req, StepRun("x", ENVIRONMENT, signature=S))[0] == SKIP
    assert run_state(req, StepRun("x", UNSUPPORTED))[0] == SKIP
    assert run_state(req, StepRun("x", PASSED))[0] == GOOD
    fix = BisectRequest(FIX, "cell", "a", "b", S)
    assert run_state(fix, StepRun("x", BOOT_FAILED, signature=S))[0] == GOOD
    assert run_state(fix, StepRun("x", PASSED))[0] == BAD
    assert run_state(fix, StepRun("x", BUILD_FAILED, signature="T"))[0] == SKIP


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 120).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_fix_bisection_names_the_first_passing_commit(case: tuple[int, int]) -> None:
    n, first_fixed = case
    out = bisect(n, fixed(first_fixed), kind=FIX, max_builds=1000)
    assert out.status == FOUND and out.first_new is not None
    assert out.first_new.id == f"c{first_fixed:03d}"


def test_k_from_the_flake_rate() -> None:
    assert lead_needed(0.0, 0.95) == 1
    assert lead_needed(0.2, 0.95) == 3
    assert lead_needed(0.3, 0.95) == 5
    for f in (0.1, 0.2, 0.3, 0.4):
        for c in (0.9, 0.95, 0.99):
            k = lead_needed(f, c)
            assert (1 - verdict_error(f, k)) ** 2 >= c  # both boundary verdicts right
            assert k == 1 or (1 - verdict_error(f, k - 1)) ** 2 < c  # and k is the least


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_flaky_cell_repeats_and_stays_right(case: tuple[int, int]) -> None:
    n, first_bad = case
    out = bisect(n, first_run_flips(regression(first_bad)), flake_rate=0.2, max_builds=1000,
                 max_repeats=9)
    assert out.repeats == 3
    assert out.status == FOUND and out.first_new is not None
    assert out.first_new.id == f"c{first_bad:03d}"
    assert 0.95 <= out.confidence < 1.0


def test_a_flake_below_the_threshold_is_not_repeated_but_the_ends_catch_it() -> None:
    """k = 1 below the threshold; the checked ends still keep a flipping run from naming a
    commit (the good end's first run fails)."""
    out = bisect(20, first_run_flips(regression(8)), flake_rate=0.01)
    assert out.repeats == 1
    assert out.status == INCONCLUSIVE  # the ends themselves flip: nothing reproduces


def test_budget_spent_is_inconclusive_with_the_true_commit_among_candidates() -> None:
    out = bisect(40, first_run_flips(regression(17)), flake_rate=0.2, max_builds=12)
    assert out.status == INCONCLUSIVE and out.first_new is None
    assert out.reason.startswith("budget spent: 12 builds")
    assert out.builds == 12
    assert "c017" in [c.id for c in out.candidates]


def test_a_flake_rate_beyond_max_repeats_costs_no_build() -> None:
    out = bisect(20, regression(5), flake_rate=0.45, max_repeats=5)
    assert out.status == INCONCLUSIVE and out.builds == 0
    assert "more than bisect.max_repeats=5" in out.reason


@pytest.mark.parametrize(("oracle", "words"), [
    (lambda pos, _: StepRun(f"c{pos:03d}", BOOT_FAILED, signature=S), "last good revision"),
    (lambda pos, _: StepRun(f"c{pos:03d}", PASSED), "first bad revision"),
    (lambda pos, _: StepRun(f"c{pos:03d}", BOOT_FAILED, signature="T") if pos == 10
     else regression(4)(pos, _), "first bad revision"),
])
def test_an_end_that_does_not_reproduce_is_inconclusive(oracle: Oracle, words: str) -> None:
    out = bisect(10, oracle)
    assert out.status == INCONCLUSIVE and words in out.reason
    assert out.builds <= math.ceil(math.log2(10)) + 2


def test_results_that_are_not_monotonic_are_inconclusive() -> None:
    def came_and_went(pos: int, _: int) -> StepRun:
        bad = 3 <= pos < 6 or pos >= 12
        return StepRun(f"c{pos:03d}", BOOT_FAILED, signature=S) if bad else StepRun(
            f"c{pos:03d}", PASSED)
    out = bisect(16, came_and_went, slots=3)
    assert out.status in (FOUND, INCONCLUSIVE)
    if out.status == FOUND:  # it found *a* transition, one that is real
        assert out.first_new is not None and out.first_new.id in ("c003", "c012")
    else:
        assert "not monotonic" in out.reason


def test_bad_ranges_are_refused() -> None:
    commits = line(3)
    req = BisectRequest(CAUSE, "cell", "c000", "c003", S)
    with pytest.raises(ValueError, match="empty"):
        Bisection(req, commits[0], [], Policy())
    with pytest.raises(ValueError, match="end with"):
        Bisection(req, commits[0], commits[1:3], Policy())
    b = Bisection(req, commits[0], commits[1:], Policy())
    with pytest.raises(ValueError, match="not in the range"):
        b.record(StepRun("zzz", PASSED))
    with pytest.raises(RuntimeError):
        b.outcome()


def test_named_commits_are_wrong_at_most_one_minus_confidence_of_the_time() -> None:
    """Random flakes (each run wrong with the cell's rate): among found outcomes, the share of
    wrong commits stays within 1 - confidence, and every one claims >= confidence."""
    rng = random.Random(17)
    found = wrong = 0
    for _ in range(400):
        first_bad = rng.randint(1, 30)

        def noisy(pos: int, _: int, fb: int = first_bad) -> StepRun:
            bad = (pos >= fb) != (rng.random() < 0.2)
            cid = f"c{pos:03d}"
            return StepRun(cid, BOOT_FAILED, signature=S) if bad else StepRun(cid, PASSED)
        out = bisect(30, noisy, flake_rate=0.2, max_builds=1000, max_repeats=9)
        if out.status == FOUND:
            assert out.confidence >= 0.95
            found += 1
            wrong += out.first_new is None or out.first_new.id != f"c{first_bad:03d}"
    assert found >= 250  # the rest are inconclusive: honest, not wrong
    assert wrong / found <= 0.05
