"""Cell history in the words of Xen's OSSTest reports (pure: results in, verdicts out).

A cell's verified results (passed or failed; unsupported, boot-skipped and environment results
say nothing about the code) are read as *runs*: consecutive results at the same revision. The
latest run decides:

* ``passing``: its last result passed; when a failure came first in that same run, the cell
  is *flaky* (failed, then passed on a retry of the same revision);
* ``awaiting-retry``: one failure, at a revision with no other result, and the run before did
  not fail the same way: a newly failing cell is retried once before anything is filed;
* otherwise a confirmed failure: ``regression`` (the run before passed: last good and first bad
  revision named), ``like-before`` (the run before failed with the same signature) or
  ``never-passed`` (no pass in the cell's history).

The flake rate is flaky runs / runs with a failure, over the whole history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage.ci.model import FAILED, CellResult
from workers.failure import PASSED

PASSING, AWAITING_RETRY = "passing", "awaiting-retry"
REGRESSION, LIKE_BEFORE, NEVER_PASSED, FLAKY = "regression", "like-before", "never-passed", "flaky"


@dataclass(frozen=True)
class CellVerdict:
    cell: str
    state: str  # passing | awaiting-retry | regression | like-before | never-passed
    latest: CellResult
    flaky_now: bool  # the latest run failed, then passed on its retry
    last_good: str = ""  # revision of the last pass before the failing streak
    first_bad: str = ""  # revision of the streak's first failure
    first_bad_build: int = 0
    fixed_at: str = ""  # passing after a failure: the revision of the first pass since
    runs: int = 0
    flaky_runs: int = 0
    failed_runs: int = 0

    @property
    def failing(self) -> bool:
        return self.state not in (PASSING, AWAITING_RETRY)

    @property
    def flake_rate(self) -> float:
        return self.flaky_runs / self.failed_runs if self.failed_runs else 0.0


def _runs(results: Sequence[CellResult]) -> list[list[CellResult]]:
    runs: list[list[CellResult]] = []
    for r in results:
        if runs and runs[-1][-1].revision == r.revision:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def judge_cell(results: Sequence[CellResult], retry: bool = True) -> CellVerdict | None:
    """The verdict on one cell from its results in finishing order (None: nothing verified).
    ``retry=False``: new failures are not retried, so none awaits a retry."""
    verified = [r for r in results if r.result == PASSED or r.result in FAILED]
    if not verified:
        return None
    runs = _runs(verified)
    failed_runs = sum(any(r.failed for r in run) for run in runs)
    flaky_runs = sum(any(r.failed for r in run) and run[-1].result == PASSED for run in runs)
    latest_run, latest = runs[-1], verified[-1]
    if latest.result == PASSED:
        fixed_at = ""
        before = [r for run in runs[:-1] for r in run] + latest_run[:-1]
        if before and before[-1].failed and not any(r.failed for r in latest_run):
            fixed_at = latest.revision
        return CellVerdict(latest.cell, PASSING, latest,
                           flaky_now=any(r.failed for r in latest_run), fixed_at=fixed_at,
                           runs=len(runs), flaky_runs=flaky_runs, failed_runs=failed_runs)
    # The failing streak: back from the end while results fail.
    streak_start = len(verified)
    while streak_start > 0 and verified[streak_start - 1].failed:
        streak_start -= 1
    first_bad = verified[streak_start]
    last_good = verified[streak_start - 1].revision if streak_start > 0 else ""
    previous = runs[-2] if len(runs) > 1 else []
    same_before = bool(previous) and previous[-1].failed and \
        previous[-1].signature == latest.signature
    if retry and len(latest_run) == 1 and not same_before:
        state = AWAITING_RETRY
    elif previous and previous[-1].result == PASSED:
        state = REGRESSION
    elif same_before:
        state = LIKE_BEFORE
    elif not any(r.result == PASSED for r in verified):
        state = NEVER_PASSED
    else:
        state = REGRESSION  # it passed before, then failed some other way in between
    return CellVerdict(latest.cell, state, latest, flaky_now=False, last_good=last_good,
                       first_bad=first_bad.revision, first_bad_build=first_bad.build_id,
                       runs=len(runs), flaky_runs=flaky_runs, failed_runs=failed_runs)


def judge_all(results: Iterable[CellResult], retry: bool = True) -> dict[str, CellVerdict]:
    by_cell: dict[str, list[CellResult]] = {}
    for r in results:
        by_cell.setdefault(r.cell, []).append(r)
    out = {}
    for cell, rs in by_cell.items():
        verdict = judge_cell(rs, retry)
        if verdict is not None:
            out[cell] = verdict
    return out
