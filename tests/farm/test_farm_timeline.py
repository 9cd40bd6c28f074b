"""bench/farm_timeline.py: where a run's idle core-seconds are (pure; made-up timelines)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from farm_timeline import BuildSpan, analyse, build_spans, lanes, report


def test_spans_come_from_the_first_event_of_each_kind_and_skip_unfinished_builds() -> None:
    events = [
        {"t": 1.0, "event": "build new", "buildid": 1, "step": None},
        {"t": 1.1, "event": "step started", "buildid": 1, "step": "worker_preparation"},
        {"t": 1.2, "event": "step started", "buildid": 1, "step": "cell"},
        {"t": 3.0, "event": "step finished", "buildid": 1, "step": "cell"},
        {"t": 3.1, "event": "build finished", "buildid": 1, "step": None},
        {"t": 2.0, "event": "build new", "buildid": 2, "step": None},
    ]
    spans = build_spans(events, {1: "a", 2: "b"})
    assert spans == [BuildSpan(1, "a", 1.0, 3.1, 1.2, 3.0)]
    assert abs(spans[0].outside_step - 0.3) < 1e-9


def test_idle_is_split_by_phase_and_by_state() -> None:
    # 2 cores, 2 slots; t = 0..10 s. Builds: a 0-6 (waits, no CPU), b 0-2, c 2-4, then nothing
    # to start: the tail runs from c's start (the last start) to the end.
    spans = [BuildSpan(1, "a", 0.0, 6.0), BuildSpan(2, "b", 0.0, 2.0),
             BuildSpan(3, "c", 2.0, 4.0)]
    # The farm uses one core while b or c runs (0-4 s), nothing after; the machine is idle
    # whenever the farm is (no other load).
    samples = [(float(t), float(min(t, 4)), float(min(t, 4)), float(2 * t - min(t, 4)))
               for t in range(11)]
    tl = analyse(spans, samples, 0.0, 10.0, cores=2, slots=2)
    assert tl.seconds["ramp"] == 0.0  # both slots taken at once
    assert tl.seconds["middle"] == 2.0 and tl.farm_idle["middle"] == 2.0
    assert tl.seconds["tail"] == 8.0 and tl.farm_idle["tail"] == 2.0 + 4.0 + 8.0
    assert tl.seconds["all slots building"] == 4.0 and tl.farm_idle["all slots building"] == 4.0
    assert tl.seconds["slot free, nothing left to start"] == 6.0
    assert tl.farm_idle["slot free, nothing left to start"] == 6 * 2.0
    assert tl.machine_idle == tl.farm_idle
    # Slots: 0 free while a and b run, then c starts at once (nothing waits after 2 s); the
    # drain: 0 free until 4 s, then 1 until 6 s, then 2 until the end.
    assert tl.slots_used == {"stalled": 0.0, "free slot-seconds, requests waiting": 0.0,
                             "free slot-seconds, draining": 2.0 + 8.0}
    # A stall: the second build waits 3 s after the first ends with nothing running.
    gap = analyse([BuildSpan(1, "a", 0.0, 1.0), BuildSpan(2, "b", 4.0, 5.0)], [], 0.0, 5.0,
                  cores=2, slots=1)
    assert gap.slots_used == {"stalled": 3.0, "free slot-seconds, requests waiting": 3.0,
                              "free slot-seconds, draining": 0.0}
    text = "\n".join(report(tl))
    assert "tail      8.0 s wall:  14.0 (14.0)" in text
    assert "builds running/s:             2222110000" in text


def test_lanes_are_the_real_builders_busiest_first() -> None:
    spans = [BuildSpan(1, "hello-crc-kvm-x86_64", 0.0, 3.0),
             BuildSpan(2, "hello-syncwait-kvm-x86_64", 3.0, 10.0),
             BuildSpan(3, "hello-crc-xen-arm64", 0.0, 1.0)]
    assert lanes(spans) == [("kvm-x86_64", 10.0, 2), ("xen-arm64", 1.0, 1)]
