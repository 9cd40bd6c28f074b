"""The data a bisection exchanges between its parts (pure; no I/O).

The vocabulary is git bisect's ``--term-old`` / ``--term-new``: a bisection looks for the first
commit in ``old..new`` whose state is the *new* one. A cause bisection's old state is "passes"
and its new state "fails with signature S"; a fix bisection's old state is "fails with S" and its
new state "passes". Everything else a step can end in (another failure, an environment failure,
a Kconfig drop of a requested symbol, a boot that could not run) is ``skip``: it says nothing
about S, so it may neither convict nor clear a commit (syzbot's wrong bisections mostly come
from treating such steps as bad).

Parts and who owns them:
* ``triage.ci.bisect`` algorithm: given a request and the range, which commits to test next
  (W at once with W workers) and, from the step verdicts, the first new commit or why not;
* a step runner (local git worktree, or a Buildbot worker of the cell's capability) turns
  (cell, commit) into a ``StepRun``;
* the store records requests, steps and outcomes; the linker queues requests and turns
  outcomes into one Bugzilla comment through the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

CAUSE, FIX = "cause", "fix"
GOOD, BAD, SKIP = "good", "bad", "skip"  # good = old state, bad = new state (git's terms)
FOUND, INCONCLUSIVE = "found", "inconclusive"


@dataclass(frozen=True)
class Commit:
    """One commit of the tree under bisection, in history order (never by date)."""
    id: str
    subject: str = ""
    author: str = ""
    date: str = ""  # ISO author date, for display only
    url: str = ""  # a link to the commit (web view of the tree's repository), when configured


@dataclass(frozen=True)
class BisectRequest:
    kind: str  # CAUSE | FIX
    cell: str
    old: str  # cause: last good revision; fix: last failing revision
    new: str  # cause: first bad revision; fix: first passing revision
    signature: str  # the failure signature S the bisection is about
    flake_rate: float = 0.0  # the cell's flake rate from its history (triage.ci.history)
    origin_bug: int | None = None  # the CI bug the result is for, when there is one


@dataclass(frozen=True)
class StepRun:
    """One build-and-boot of the cell at one commit, as the runner saw it."""
    commit: str
    result: str  # a workers.failure class: passed, build_failed, boot_failed, environment, ...
    signature: str = ""
    title: str = ""
    build_url: str = ""
    worker: str = ""
    seconds: float = 0.0
    app_commit: str = ""  # the app's (or external library's) commit paired with it, if any


@dataclass(frozen=True)
class StepVerdict:
    """A commit's verdict after its repeats: GOOD, BAD or SKIP, with the runs behind it."""
    commit: Commit
    verdict: str
    runs: tuple[StepRun, ...]
    reason: str = ""  # why SKIP (e.g. "failed differently: build_failed sig 1a2b…")


@dataclass(frozen=True)
class BisectOutcome:
    request: BisectRequest
    status: str  # FOUND | INCONCLUSIVE
    first_new: Commit | None  # first bad (cause) or first fixed (fix) commit
    last_old: Commit | None  # the commit just before it that still has the old state
    steps: tuple[StepVerdict, ...]
    builds: int  # builds used, repeats included
    rounds: int  # rounds of parallel steps (wall time is rounds x one build)
    repeats: int  # k: runs per step (1 unless the cell is flaky)
    confidence: float  # probability the named commit is right, given the flake rate and k
    reason: str = ""  # for INCONCLUSIVE: why (budget spent, only skips left, flaky beyond k ...)
    candidates: tuple[Commit, ...] = ()  # INCONCLUSIVE with skips: the commits it may be
    app_pairing: str = ""  # e.g. "app paired by history: newest app commit not later than each"
    reproduce: str = ""  # the command that runs one step by hand
    finished_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


class StepRunner(Protocol):
    """Builds and boots one cell at one commit. ``slots`` runs may be in flight at once (one per
    capable worker); each slot keeps its own persistent build directory and ccache.

    Optional, looked up by the driver: ``pairing_text(cell)``, ``reproduce(cell, commit)`` and
    ``cancel(slot) -> bool`` (stop the slot's running step, whose run then returns at once and
    is dropped; False when it cannot be stopped now). A runner with ``cancel`` is driven as a
    pipeline, one without in rounds."""

    @property
    def slots(self) -> int: ...

    def run(self, cell: str, commit: str, slot: int) -> StepRun: ...
