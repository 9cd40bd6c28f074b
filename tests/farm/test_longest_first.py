"""Longest-expected-first ordering (farm.longest_first) and the environment quarantine policy
(farm.quarantine), without a Buildbot process: Buildbot's hooks are called with stand-ins
for its builders and data API."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from twisted.internet import defer

from farm.bisect_protocol import SCHEDULER as BISECT_SCHEDULER
from farm.buildbot_config import build_master_config, load_master_settings
from farm.longest_first import (
    PRIORITY_STEP,
    TYPICAL_BOOT_SECONDS,
    TYPICAL_BUILD_SECONDS,
    LongestFirst,
    builder_order,
    request_priority,
    static_estimate,
)
from farm.matrix import load_matrix
from farm.quarantine import ENVIRONMENT_STREAK, next_streak, skips_quarantine
from workers.cell import BOOT_TIMEOUT, ENVIRONMENT, PASSED

REPO = Path(__file__).resolve().parents[2]
MATRIX = load_matrix(REPO / "ci" / "matrix.toml")
CELLS = {c.name: c for c in MATRIX.cells()}
BOOTING = ("kvm-x86_64", "kvm-arm64", "linuxu-x86_64")  # fc and xen: no worker boots them


def result(d: defer.Deferred[Any]) -> Any:
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred did not fire"
    if isinstance(out[0], Exception) or hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


class Builder:
    def __init__(self, name: str, running: int = 0, free: int = 1) -> None:
        self.name, self.building, self.free = name, [object()] * running, free

    def getAvailableWorkers(self) -> list[object]:  # Buildbot's name
        return [object()] * self.free


class Data:
    """Buildbot's data API as the history read sees it; counts the reads."""

    def __init__(self, builders: list[dict[str, Any]], builds: list[dict[str, Any]]) -> None:
        self.builders, self.builds, self.reads = builders, builds, 0

    def get(self, path: tuple[str, ...], **kw: Any) -> defer.Deferred[Any]:
        self.reads += 1
        return defer.succeed(self.builders if path == ("builders",) else self.builds)

    def get_with_resultspec(self, path: tuple[str, ...], spec: Any) -> defer.Deferred[Any]:
        # The read asks for the cell and bisection properties of a bounded number of builds.
        assert sorted(spec.properties[0].values) == ["bisection", "cell"]
        assert 200 <= spec.limit <= 5000
        return self.get(path)


class Master:
    def __init__(self, data: Data) -> None:
        self.data = data


def plan() -> LongestFirst:
    return LongestFirst(CELLS, BOOTING, MATRIX.farm.boot_timeout)


def test_static_estimates_put_the_known_hang_first_and_build_only_cells_last() -> None:
    p = plan()
    hang = p.expected("hello-syncwait-kvm-x86_64")  # [[library]] boot_timeout = 6
    boot = p.expected("hello-crc-kvm-x86_64")
    build_only = p.expected("hello-crc-xen-x86_64")  # no worker boots xen: boot skipped
    assert hang == TYPICAL_BUILD_SECONDS + 6
    assert boot == TYPICAL_BUILD_SECONDS + TYPICAL_BOOT_SECONDS
    assert build_only == TYPICAL_BUILD_SECONDS
    assert hang > boot > build_only
    # A boot timeout set longer than the farm's default counts in full too (a slow boot).
    slow = static_estimate(CELLS["hello-crc-kvm-x86_64"], True, 5)
    assert slow == TYPICAL_BUILD_SECONDS + CELLS["hello-crc-kvm-x86_64"].boot_timeout
    assert p.expected("not-a-cell") == 0.0


def test_history_wins_over_the_static_estimate_and_the_newest_build_counts() -> None:
    p = plan()
    t0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    names = {1: "hello-syncwait-kvm-x86_64", 2: "hello-crc-xen-x86_64", 3: "kvm-x86_64"}
    builds = [  # newest first, as the read asks for
        {"builderid": 2, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=30),
         "results": 0},
        {"builderid": 1, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=3),
         "results": 2},
        {"builderid": 1, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=99),
         "results": 2},
        {"builderid": 2, "started_at": t0, "complete_at": None, "results": None},  # running
        {"builderid": 3, "started_at": t0, "complete_at": t0, "results": 0},  # not a cell
    ]
    p.load_history(builds, names)
    assert p.history == {"hello-syncwait-kvm-x86_64": 3.0, "hello-crc-xen-x86_64": 30.0}
    assert p.expected("hello-crc-xen-x86_64") > p.expected("hello-syncwait-kvm-x86_64")
    # A retried or cancelled build did not run to its end: not a duration.
    q = plan()
    q.load_history([{"builderid": 1, "started_at": t0, "results": 5,
                     "complete_at": t0 + dt.timedelta(seconds=1)}], names)
    assert q.history == {}
    # A never-built cell's typical build is the history's median once there is one.
    assert p.expected("hello-ring-xen-x86_64") == 16.5
    # What a build records after the read is newer and stays.
    p.record("hello-crc-xen-x86_64", 4.0)
    p.load_history(builds, names)
    assert p.history["hello-crc-xen-x86_64"] == 4.0


def test_history_of_a_real_builder_reads_each_builds_cell_property() -> None:
    # The default farm: one real builder carries many cells; the build names its cell in the
    # ``cell`` property ({name: [value, source]}, the data API's shape). A bisection step's
    # build of the same cell is not the cell's own run.
    p = plan()
    t0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    names = {3: "kvm-x86_64", 4: "bisect-kvm-x86_64"}
    builds = [
        {"builderid": 4, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=1),
         "results": 0, "properties": {"cell": ["hello-syncwait-kvm-x86_64", "Scheduler"],
                                      "bisection": ["7", "Force Build Form"]}},
        {"builderid": 3, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=8),
         "results": 2, "properties": {"cell": ["hello-syncwait-kvm-x86_64", "Scheduler"]}},
        {"builderid": 3, "started_at": t0, "complete_at": t0 + dt.timedelta(seconds=5),
         "results": 0, "properties": {"cell": ["not-a-cell-of-this-matrix", "Scheduler"]}},
    ]
    p.load_history(builds, names)
    assert p.history == {"hello-syncwait-kvm-x86_64": 8.0}


def test_request_priority_keeps_the_users_priority_first() -> None:
    assert request_priority(1.26, None) == 13
    assert request_priority(1.26, 0) == 13
    assert request_priority(0.0, 1) == PRIORITY_STEP  # priority 1 beats any priority 0
    assert request_priority(1e9, 0) == PRIORITY_STEP - 1  # capped below the next step
    assert request_priority(-3, 0) == 0
    p = plan()
    assert p.priority("hello-syncwait-kvm-x86_64", 0) > p.priority("hello-crc-kvm-x86_64", 0) \
        > p.priority("hello-crc-xen-x86_64", 0)
    cells = [CELLS[n] for n in ("hello-crc-xen-x86_64", "hello-crc-kvm-x86_64",
                                "hello-ring-xen-x86_64", "hello-syncwait-kvm-x86_64")]
    assert [c.name for c in p.submission_order(cells)] == [
        "hello-syncwait-kvm-x86_64", "hello-crc-kvm-x86_64", "hello-crc-xen-x86_64",
        "hello-ring-xen-x86_64"]
    off = LongestFirst(CELLS, BOOTING, MATRIX.farm.boot_timeout, by_expected=False)
    assert off.submission_order(cells) == cells
    assert off.priority("hello-syncwait-kvm-x86_64", None) == 0
    assert off.priority("hello-crc-kvm-x86_64", 2) == 2


def test_builders_with_the_most_pending_work_go_first_then_least_busy() -> None:
    assert builder_order([("a", 1.0, 0), ("b", 5.0, 3), ("c", 5.0, 1), ("d", math.inf, 9)]) \
        == ["d", "c", "b", "a"]
    p = plan()
    p.history_read = True
    p.note_requested("xen-x86_64", [(1, "hello-crc-xen-x86_64")])
    p.note_requested("kvm-x86_64", [(2, "hello-crc-kvm-x86_64"),
                                    (3, "hello-syncwait-kvm-x86_64")])
    p.note_requested("kvm-arm64", [(4, "hello-crc-kvm-arm64")])
    builders = [Builder("xen-x86_64"), Builder("kvm-arm64", running=2),
                Builder("kvm-x86_64", running=3), Builder("fc-x86_64", free=0)]
    order = [b.name for b in result(p.prioritize(None, builders))]
    # The most pending work (the known hang and a boot) first although busiest; fc has no free
    # worker: left out.
    assert order == ["kvm-x86_64", "kvm-arm64", "xen-x86_64"]
    p.note_started("kvm-x86_64", 3)  # the hang started: what is left there is one boot
    p.note_started("kvm-x86_64", 99)  # a request it never noted: nothing to remove
    order = [b.name for b in result(p.prioritize(None, builders))]
    assert order == ["kvm-arm64", "kvm-x86_64", "xen-x86_64"]
    p.note_started("kvm-x86_64", 2)
    p.note_started("kvm-arm64", 4)
    # Nothing pending on the kvm builders: after xen's request, least busy first. A builder
    # never noted could have requests made outside the farm's schedulers: it goes first.
    builders.append(Builder("linuxu-x86_64", running=5))
    order = [b.name for b in result(p.prioritize(None, builders))]
    assert order == ["linuxu-x86_64", "xen-x86_64", "kvm-arm64", "kvm-x86_64"]
    # Two typical boots outweigh one known hang: the lane with more work goes first.
    p.note_requested("kvm-arm64", [(5, "hello-crc-kvm-arm64"), (6, "hello-ring-kvm-arm64")])
    p.note_requested("kvm-x86_64", [(7, "hello-syncwait-kvm-x86_64")])
    order = [b.name for b in result(p.prioritize(None, builders[:3]))]
    assert order == ["kvm-arm64", "kvm-x86_64", "xen-x86_64"]


def test_history_is_read_once_not_per_round() -> None:
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    data = Data([{"builderid": 7, "name": "hello-crc-xen-x86_64"}],
                [{"builderid": 7, "started_at": t0, "results": 0,
                  "complete_at": t0 + dt.timedelta(seconds=42)}])
    p = plan()
    result(p.ensure_history(Master(data)))  # the scheduler's first request
    assert p.history == {"hello-crc-xen-x86_64": 42.0} and data.reads == 2
    for _ in range(5):
        result(p.prioritize(Master(data), [Builder("xen-x86_64")]))
    assert data.reads == 2


def test_an_unreadable_history_falls_back_to_the_static_estimates() -> None:
    class Broken:
        def get(self, path: tuple[str, ...], **kw: Any) -> defer.Deferred[Any]:
            return defer.fail(RuntimeError("database gone"))

    p = plan()
    order = result(p.prioritize(Master(Broken()), [Builder("kvm-x86_64")]))  # type: ignore[arg-type]
    assert [b.name for b in order] == ["kvm-x86_64"] and p.history_read
    assert p.expected("hello-syncwait-kvm-x86_64") == TYPICAL_BUILD_SECONDS + 6


def test_the_master_config_wires_the_order_into_schedulers_builds_and_distribution() -> None:
    c = build_master_config(load_master_settings(Path("/nonexistent"), REPO / "ci"))
    order = c["prioritizeBuilders"].__self__
    assert isinstance(order, LongestFirst) and order.by_expected
    cell_schedulers = [s for s in c["schedulers"] if s.name != BISECT_SCHEDULER]
    assert len(cell_schedulers) == 3  # change, nightly, force: the bisection's has no order
    assert all(s.longest_first is order for s in cell_schedulers)
    build_class = c["builders"][0].factory.buildClass
    assert build_class.longest_first is order


def test_environment_verdicts_quarantine_only_after_a_streak() -> None:
    streak = 0
    skipped = []
    for outcome in [ENVIRONMENT, PASSED, ENVIRONMENT, None, ENVIRONMENT, ENVIRONMENT,
                    ENVIRONMENT, BOOT_TIMEOUT]:
        streak = next_streak(streak, outcome)
        skipped.append(skips_quarantine(streak, outcome))
    # One cell's environment failure does not stop the worker; the third in a row (a worker
    # whose cells all fail for its environment) is quarantined as Buildbot does. An
    # exception without a verdict neither extends nor ends the streak, and always quarantines.
    assert ENVIRONMENT_STREAK == 3
    assert skipped == [True, False, True, False, True, False, False, False]
    assert not skips_quarantine(1, ENVIRONMENT, limit=1)  # "always": Buildbot's behaviour
