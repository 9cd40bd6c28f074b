"""The scripted fixture history is what its docstring promises (real git, no builds)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.ukhistory import History, make_history


def _git(hist: History, *args: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(hist.path), *args], check=True, text=True,
                         capture_output=True)
    return out.stdout.split()


def test_history_order_and_layout(tmp_path: Path) -> None:
    hist = make_history(tmp_path / "repo")
    assert len(hist.commits) == 24
    assert _git(hist, "rev-list", "--reverse", "--topo-order", "HEAD") == list(hist.commits)
    i = hist.index
    assert i(hist.last_good) + 1 == i(hist.breaking) < i(hist.different) < i(hist.fix)
    assert hist.flaky == ()
    changed = _git(hist, "show", "--format=", "--name-only", hist.breaking)
    assert changed == ["lib/crc/crc16.c"]
    assert "polynomial" in hist.subject(hist.fix)


def test_dates_are_not_monotonic(tmp_path: Path) -> None:
    """A date-ordered bisection would test another sequence than the topology's."""
    hist = make_history(tmp_path / "repo")
    dates = [int(d) for d in _git(hist, "log", "--reverse", "--topo-order", "--format=%ct")]
    assert dates != sorted(dates)
    assert len(set(dates)) < len(dates)  # batches share a date
    by_date = _git(hist, "rev-list", "--reverse", "--date-order", "--no-walk=sorted",
                   *hist.commits)
    assert by_date != list(hist.commits)


def test_same_script_same_ids(tmp_path: Path) -> None:
    assert make_history(tmp_path / "a").commits == make_history(tmp_path / "b").commits


def test_flaky_and_masked_variants(tmp_path: Path) -> None:
    flaky = make_history(tmp_path / "flaky", flaky=True)
    assert flaky.flaky and all(flaky.index(c) < flaky.index(flaky.last_good)
                               for c in flaky.flaky)
    assert not (flaky.path / "lib/crc/FLAKY").exists()  # the flake ends before the tip
    masked = make_history(tmp_path / "masked", masked=True)
    assert masked.index(masked.different) + 1 == masked.index(masked.breaking)
    assert masked.index(masked.different_fixed) == masked.index(masked.breaking) + 1
    long = make_history(tmp_path / "long", length=160)
    assert len(long.commits) == 160
    with pytest.raises(ValueError):
        make_history(tmp_path / "both", flaky=True, masked=True)


def test_a_date_ordered_bisection_would_miss_the_breaking_commit(tmp_path: Path) -> None:
    """The same algorithm over the commits sorted by date names another commit (or gives up),
    over the history order it names the breaking one."""
    from triage.ci.bisect.algorithm import Bisection, Policy
    from triage.ci.bisect.model import CAUSE, FOUND, BisectRequest, Commit, StepRun

    hist = make_history(tmp_path / "repo")
    times = dict(zip(hist.commits, map(int, _git(hist, "log", "--reverse", "--topo-order",
                                                   "--format=%ct")), strict=True))
    i = hist.index

    def run(commit: str) -> StepRun:  # what the fixture cell does at each commit
        if i(hist.different) <= i(commit) < i(hist.different_fixed):
            return StepRun(commit, "build-failed", signature="other")
        if i(hist.breaking) <= i(commit) < i(hist.fix):
            return StepRun(commit, "boot-failed", signature="S")
        return StepRun(commit, "passed")

    def bisect(order: list[str]) -> str | None:
        req = BisectRequest(CAUSE, "hello-crc-kvm-x86_64", hist.root, order[-1], "S")
        b = Bisection(req, Commit(hist.root), [Commit(c) for c in order], Policy(max_builds=50))
        while batch := b.next_batch(1):
            for c in batch:
                b.record(run(c.id))
        out = b.outcome()
        return out.first_new.id if out.status == FOUND and out.first_new else None

    span = list(hist.commits[1:i(hist.last_bad) + 1])
    assert bisect(span) == hist.breaking
    by_date = sorted(span, key=lambda c: times[c])
    assert by_date[0] == hist.breaking  # older than everything before it
    assert bisect(by_date) != hist.breaking
