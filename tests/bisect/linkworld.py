"""Helpers of the bisection-integration tests: a store, a linker with bisection on, outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tests.ci.world import T0
from tests.rules.world import write_config
from triage.adapters import open_tracker
from triage.ci.bisect.model import (
    BAD,
    FOUND,
    GOOD,
    INCONCLUSIVE,
    SKIP,
    BisectOutcome,
    BisectRequest,
    Commit,
    StepRun,
    StepVerdict,
)
from triage.ci.linker import CiLinker
from triage.config import Settings
from triage.store import Store

LINK_CONFIG = """
[ci]
components = { crc = "Xen/Hypervisor" }
[bisect]
per_day = 2
fix_wait_hours = 24
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def linker_with_bisection(tmp_path: Path, double: object, extra: str = ""
                          ) -> tuple[CiLinker, Settings, Store, Clock]:
    _, settings = write_config(tmp_path, double, LINK_CONFIG + extra)  # type: ignore[arg-type]
    store = Store(settings.store_url)
    store.migrate()
    clock = Clock(T0 + timedelta(days=1))
    linker = CiLinker(store, settings, open_tracker(settings, production=True), clock=clock)
    return linker, settings, store, clock


def commit(n: int, subject: str = "") -> Commit:
    cid = f"{n:02x}" * 20
    return Commit(id=cid, subject=subject or f"lib/crc: change {n}", author="Ada Byron",
                  date="2026-05-28T01:00:00+00:00", url=f"https://git.example.org/c/{cid}")


def found(req: BisectRequest, first: Commit, last: Commit, *, skip: Commit | None = None
          ) -> BisectOutcome:
    bad_sig = req.signature
    steps = [StepVerdict(last, GOOD if req.kind == "cause" else BAD,
                         (StepRun(last.id, "passed" if req.kind == "cause" else "boot-failed",
                                  signature="" if req.kind == "cause" else bad_sig),)),
             StepVerdict(first, BAD if req.kind == "cause" else GOOD,
                         (StepRun(first.id, "boot-failed" if req.kind == "cause" else "passed",
                                  signature=bad_sig if req.kind == "cause" else ""),))]
    if skip is not None:
        steps.insert(0, StepVerdict(skip, SKIP, (StepRun(skip.id, "build-failed", "ffff"),),
                                    reason="failed differently: build-failed ffff"))
    return BisectOutcome(request=req, status=FOUND, first_new=first, last_old=last,
                         steps=tuple(steps), builds=len(steps), rounds=len(steps), repeats=1,
                         confidence=0.99, reproduce=f"python3 -m workers.cell --commit {first.id}")


def inconclusive(req: BisectRequest, candidates: tuple[Commit, ...]) -> BisectOutcome:
    steps = tuple(StepVerdict(c, SKIP, (StepRun(c.id, "build-failed", "ffff"),),
                              reason="failed differently") for c in candidates)
    return BisectOutcome(request=req, status=INCONCLUSIVE, first_new=None, last_old=None,
                         steps=steps, builds=len(steps), rounds=len(steps), repeats=1,
                         confidence=0.0, reason="only skipped commits separate old and new",
                         candidates=candidates)
