"""Where a farm run's idle core-seconds are: the master's build timeline (farm.master_stats)
beside the farm's CPU sampled from /proc (farm_measures.CoreSampler). Pure: data in, data out.

A run is cut three ways:
- by phase: the start ramp (the force until the worker's slots are first all taken), the
  middle, and the tail (from the last build's start to the end, when nothing waits any more);
- by state: idle with every slot building (the builds themselves wait: a boot timeout, a
  round trip inside the build), idle with a free slot while requests wait (the scheduler's
  gaps), idle with a free slot and nothing left to start (the tail's drain);
- per build: the time a build spends outside its cell step (Buildbot's start and finish
  round trips) against the step itself.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Sample = tuple[float, float, float, float]  # wall clock, farm CPU, machine busy, machine idle


@dataclass(frozen=True)
class BuildSpan:
    buildid: int
    cell: str
    new: float  # the build row added (its start, as the master records it)
    finished: float
    step_started: float | None = None  # the cell step: the remote command
    step_finished: float | None = None

    @property
    def outside_step(self) -> float:
        if self.step_started is None or self.step_finished is None:
            return self.finished - self.new
        return (self.step_started - self.new) + (self.finished - self.step_finished)


@dataclass
class Timeline:
    start: float
    end: float
    cores: int
    slots: int
    builds: list[BuildSpan]
    # core-seconds the farm did not use, and the machine's true idle, by phase and by state
    farm_idle: dict[str, float] = field(default_factory=dict)
    machine_idle: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    strip: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cores busy, running)
    slots_used: dict[str, float] = field(default_factory=dict)  # slot_use()


def build_spans(events: Sequence[dict[str, Any]], cells: dict[int, str],
                step: str = "cell") -> list[BuildSpan]:
    """``cells``: buildid -> cell name (from the finished builds' properties)."""
    first: dict[tuple[int, str], float] = {}
    for e in events:
        if e.get("buildid") is None:
            continue
        kind = e["event"] if e["event"].startswith("build") else (
            e["event"] if e.get("step") == step else "")
        if kind:
            first.setdefault((int(e["buildid"]), kind), float(e["t"]))
    spans = []
    for bid, cell in cells.items():
        new, done = first.get((bid, "build new")), first.get((bid, "build finished"))
        if new is None or done is None:
            continue
        spans.append(BuildSpan(bid, cell, new, done, first.get((bid, "step started")),
                               first.get((bid, "step finished"))))
    return sorted(spans, key=lambda s: s.new)


def running_at(spans: Sequence[BuildSpan], t: float) -> int:
    return sum(1 for s in spans if s.new <= t < s.finished)


def slot_use(spans: Sequence[BuildSpan], slots: int, start: float,
             end: float) -> dict[str, float]:
    """From the builds alone (no CPU reading, so a loaded machine does not blur it), swept
    exactly: seconds with no build running while requests wait (a stall), free slot-seconds
    while requests wait, and free slot-seconds once everything has started (the drain)."""
    points = sorted({start, end, *(s.new for s in spans), *(s.finished for s in spans)})
    out = {"stalled": 0.0, "free slot-seconds, requests waiting": 0.0,
           "free slot-seconds, draining": 0.0}
    for lo, hi in itertools.pairwise(p for p in points if start <= p <= end):
        mid, dt = (lo + hi) / 2, hi - lo
        running = running_at(spans, mid)
        waiting = sum(1 for s in spans if s.new <= mid) < len(spans)
        free = max(0, slots - running) * dt
        if waiting:
            out["free slot-seconds, requests waiting"] += free
            if running == 0 and mid >= min(s.new for s in spans):
                out["stalled"] += dt
        else:
            out["free slot-seconds, draining"] += free
    return out


def lanes(spans: Sequence[BuildSpan]) -> list[tuple[str, float, int]]:
    """Seconds of builds per real builder (the cell name's platform-arch end), busiest first:
    Buildbot runs one build per (builder, worker) at a time, so with one worker a run lasts
    at least its busiest builder's total."""
    total: dict[str, list[float]] = {}
    for s in spans:
        total.setdefault("-".join(s.cell.split("-")[-2:]), []).append(s.finished - s.new)
    return sorted(((k, sum(v), len(v)) for k, v in total.items()), key=lambda x: -x[1])


def analyse(spans: list[BuildSpan], samples: Sequence[Sample], start: float, end: float,
            cores: int, slots: int) -> Timeline:
    tl = Timeline(start, end, cores, slots, spans, slots_used=slot_use(spans, slots, start, end))
    total = len(spans)
    full = min(slots, total)
    ramp_end = next((s.new for s in spans if running_at(spans, s.new) >= full), start)
    tail_start = max((s.new for s in spans), default=end)
    for key in ("ramp", "middle", "tail", "all slots building", "slot free, requests waiting",
                "slot free, nothing left to start"):
        tl.farm_idle[key] = tl.machine_idle[key] = tl.seconds[key] = 0.0
    for (t0, f0, _b0, i0), (t1, f1, _b1, i1) in itertools.pairwise(samples):
        lo, hi = max(t0, start), min(t1, end)
        if hi <= lo:
            continue
        share = (hi - lo) / (t1 - t0)
        farm_idle = max(0.0, cores * (t1 - t0) - (f1 - f0)) * share
        machine_idle = max(0.0, i1 - i0) * share
        mid = (lo + hi) / 2
        running = running_at(spans, mid)
        started = sum(1 for s in spans if s.new <= mid)
        phase = "ramp" if mid < ramp_end else "tail" if mid >= tail_start else "middle"
        state = ("all slots building" if running >= slots else
                 "slot free, requests waiting" if started < total else
                 "slot free, nothing left to start")
        for key in (phase, state):
            tl.farm_idle[key] += farm_idle
            tl.machine_idle[key] += machine_idle
            tl.seconds[key] += hi - lo
        tl.strip.append((mid - start, (f1 - f0) / (t1 - t0), running))
    return tl


def report(tl: Timeline) -> list[str]:
    """Lines for the benchmark's output."""
    lines = [f"  timeline: {len(tl.builds)} builds, {tl.slots} slots, {tl.cores} cores, "
             f"{tl.end - tl.start:.1f} s; core-seconds the farm left unused (machine idle)"]
    for key in ("ramp", "middle", "tail"):
        lines.append(f"    {key:7s} {tl.seconds[key]:5.1f} s wall: {tl.farm_idle[key]:5.1f} "
                     f"({tl.machine_idle[key]:.1f})")
    for key in ("all slots building", "slot free, requests waiting",
                "slot free, nothing left to start"):
        lines.append(f"    {key:33s} {tl.seconds[key]:5.1f} s wall: {tl.farm_idle[key]:5.1f} "
                     f"({tl.machine_idle[key]:.1f})")
    lines.append("    from the builds alone: " + ", ".join(
        f"{k} {v:.1f}" for k, v in tl.slots_used.items()))
    if tl.builds:
        outside = [b.outside_step for b in tl.builds]
        inside = [b.finished - b.new - b.outside_step for b in tl.builds]
        lines.append(f"    per build: outside the cell step median "
                     f"{statistics.median(outside):.2f} s (sum {sum(outside):.1f} s), the step "
                     f"median {statistics.median(inside):.2f} s (sum {sum(inside):.1f} s)")
        lines.append("    builds per real builder (s of builds, count), busiest first: "
                     + ", ".join(f"{name} {secs:.1f} ({n})"
                                 for name, secs, n in lanes(tl.builds)[:4]))
        first = min(b.new for b in tl.builds) - tl.start
        lines.append(f"    first build started {first:.2f} s after the force")
        longest = sorted(tl.builds, key=lambda b: b.finished - b.new, reverse=True)[:5]
        lines.append("    longest builds (start..end s from the force): " + ", ".join(
            f"{b.cell} {b.new - tl.start:.1f}..{b.finished - tl.start:.1f}" for b in longest))
        last = sorted(tl.builds, key=lambda b: b.finished)[-3:]
        lines.append("    last to finish: " + ", ".join(
            f"{b.cell} {b.new - tl.start:.1f}..{b.finished - tl.start:.1f}" for b in last))
    # One character per second: cores busy (0-9 tenths of all cores) over builds running.
    per_s: dict[int, list[tuple[float, int]]] = {}
    for t, busy, running in tl.strip:
        per_s.setdefault(int(t), []).append((busy, running))
    busy_row = "".join(str(min(9, int(10 * statistics.mean(b for b, _ in v) / tl.cores)))
                       for _, v in sorted(per_s.items()))
    run_row = "".join(str(min(9, max(r for _, r in v))) for _, v in sorted(per_s.items()))
    lines.append(f"    busy/s (tenths of the cores): {busy_row}")
    lines.append(f"    builds running/s:             {run_row}")
    return lines
