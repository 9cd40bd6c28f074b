"""Which commits to test next, and what the results say (pure: no I/O, no clock).

A :class:`Bisection` is the state of one bisection over ``old`` plus the range ``old..new`` in
history order (``commits``: topology, never dates; ``old`` excluded, ``new`` last). Position 0
is ``old``, position ``n`` is ``new``. The driver asks :meth:`Bisection.next_batch` for up to W
commits to test at once, runs them and hands every :class:`StepRun` to :meth:`record`, until
the batch is empty; :meth:`outcome` then says which commit is the first *new* one, or why the
bisection cannot say.

* **Multisection**: with W slots the undecided range is cut into W+1 parts by W test points
  (W = 1 is plain binary bisection), so rounds fall as log base W+1 of the range; pipelined,
  :meth:`Bisection.next_steps` and :meth:`Bisection.wanted` (docs/bisection.md).
* **Both ends are tested here**, because the runner is not the farm's worker: the new end
  first (does S reproduce on this runner at all? if not, stop at once), the old end when the
  answer would rest on it (the first new commit would be right after it) or when a slot of
  a round is spare. An end that does not reproduce makes the outcome inconclusive. That costs
  at most the ``+ 2`` in ``log2(n) + 2``.
* **Verdicts**: a run is *bad* (git's "new") only when it shows the new state: for a cause
  bisection a failure with the same signature S, for a fix bisection a pass; *good* when it
  shows the old state. Anything else (another signature, environment, unsupported, boot
  skipped) is *skip*: it says nothing about S. A skipped commit is never chosen again; the
  next test point is its neighbour, as ``git bisect skip`` does; when only skipped commits
  separate the last good and the first bad commit, the outcome is inconclusive and lists them.
* **Flakiness**: each run is taken to be wrong with the cell's flake rate f (when f is above
  ``flake_threshold``; at or below it, the cell counts as not flaky). A commit's verdict is
  reached when one state leads the other by ``lead`` runs, the least lead for which a single
  verdict's posterior error, ``r**lead / (1 + r**lead)`` with ``r = f / (1 - f)``, is at most
  ``1 - sqrt(confidence)``; unanimous runs need exactly ``lead`` runs (the outcome's k). A
  commit still undecided after ``max_repeats`` runs is skipped. That per-step rule only steers
  the search: the **confidence** the outcome reports is the exact posterior probability of the
  named commit given every run (uniform prior over the range), which the search's choices do
  not bias. A wrong verdict anywhere ends up as the last old or first new commit, so while the
  posterior is below ``confidence`` those two commits are run again (one more lead each, up to
  ``max_repeats``; a verdict that flips sends the search on), and if it stays below, the
  outcome is inconclusive. On a flaky cell, contradicting verdicts are re-run the same way.
* **Budget**: at most ``max_builds`` runs; when they are spent before an answer, the outcome
  is inconclusive ("budget spent") with the remaining candidates, never a guessed commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from triage.ci.bisect.confidence import effective_flake, lead_needed, posterior
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
    StepVerdict,
)
from triage.ci.bisect.points import evenly, spread
from workers.failure import BOOT_FAILED, BOOT_TIMEOUT, BUILD_FAILED, PASSED

FAILURES = frozenset({BUILD_FAILED, BOOT_FAILED, BOOT_TIMEOUT})
_Final = tuple[str, str, tuple[Commit, ...]]  # status, reason, candidates


@dataclass(frozen=True)
class Policy:
    """The numbers a bisection runs by (from ``[bisect]`` and the cell's flake rate)."""

    max_builds: int = 12
    confidence: float = 0.95
    flake_threshold: float = 0.05
    max_repeats: int = 5


def run_state(request: BisectRequest, run: StepRun) -> tuple[str, str]:
    """One run's state, GOOD (old), BAD (new) or SKIP, and why in words."""
    same = run.result in FAILURES and run.signature == request.signature
    if run.result == PASSED:
        return (GOOD if request.kind == CAUSE else BAD), "passed"
    if same:
        state = BAD if request.kind == CAUSE else GOOD
        return state, f"{run.result} with signature {run.signature}"
    if run.result in FAILURES:
        what = f"signature {run.signature}" if run.signature else "no signature"
        return SKIP, f"failed differently: {run.result}, {what}: {run.title}".rstrip(": ")
    return SKIP, f"{run.result}: {run.title}".rstrip(": ")


@dataclass
class _Step:
    commit: Commit
    position: int
    runs: list[StepRun] = field(default_factory=list)
    verdict: str = ""  # "" while undecided
    reason: str = ""
    lead: int = 0
    needed: int = 1  # the lead this step's verdict needs (raised when its commit is reopened)


class Bisection:
    def __init__(self, request: BisectRequest, old: Commit, commits: Sequence[Commit],
                 policy: Policy) -> None:
        if not commits:
            raise ValueError(f"nothing to bisect: {request.old}..{request.new} is empty")
        if commits[-1].id != request.new:
            raise ValueError("the range must end with the request's new commit")
        self.request, self.policy = request, policy
        self.line: list[Commit] = [old, *commits]
        self.flake = effective_flake(request.flake_rate, policy.flake_threshold)
        self.lead = lead_needed(self.flake, policy.confidence)
        self.steps: dict[int, _Step] = {}
        self.order: list[int] = []  # positions in the order first tested
        self.builds = 0
        self.rounds = 0
        self._final: _Final | None = None
        if self.lead > policy.max_repeats:
            self._final = (INCONCLUSIVE, (
                f"flake rate {request.flake_rate:.2f} needs {self.lead} agreeing runs per step "
                f"for confidence {policy.confidence:g}, more than bisect.max_repeats="
                f"{policy.max_repeats}"), tuple(commits))
        self._pos = {c.id: i for i, c in enumerate(self.line)}
        if len(self._pos) != len(self.line):
            raise ValueError("a commit appears twice in the range")

    # --- driving -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._final is not None

    def record(self, run: StepRun) -> None:
        pos = self._pos.get(run.commit)
        if pos is None:
            raise ValueError(f"commit {run.commit} is not in the range")
        step = self.steps.get(pos)
        if step is None:
            step = self.steps[pos] = _Step(self.line[pos], pos, needed=self.lead)
            self.order.append(pos)
        step.runs.append(run)
        self.builds += 1
        if not step.verdict:
            self._judge(step)

    def next_batch(self, slots: int) -> list[Commit]:
        """Up to ``slots`` commits to run now (a commit twice: two repeats at once); empty when
        the bisection is over. Each call is one round: every run it names is recorded before
        the next call."""
        batch = self.next_steps(slots, ())
        if batch:
            self.rounds += 1
        return batch

    def next_steps(self, free: int, running: Sequence[int]) -> list[Commit]:
        """Up to ``free`` commits to start now while the runs at positions ``running`` are
        still in flight (a slot that finishes first starts the next most useful step instead
        of waiting for the others). Empty: wait for a running step (``running`` not empty) or
        the bisection is over (``done``). The outcome is only settled with nothing in flight,
        so it rests on every run started."""
        if self._final is not None:
            return []
        final = self._settle()
        if final is not None:
            if not running:
                self._final = final
            return []
        in_flight = Counter(running)
        room = min(free, self.policy.max_builds - self.builds - len(running))
        if room <= 0:
            if not running:
                lo, hi = self._bounds()
                self._final = (INCONCLUSIVE, f"budget spent: {self.builds} builds "
                               f"(bisect.max_builds={self.policy.max_builds})",
                               tuple(self.line[lo + 1:hi + 1]))
            return []
        batch: list[int] = []
        # Steps already started first (repeats), then the new end, then new test points, then
        # the old end when the answer would rest on it or a slot is spare.
        for step in self._open_steps():
            batch += [step.position] * max(0, self._runs_wanted(step) - in_flight[step.position])
        n = len(self.line) - 1
        if n not in self.steps:
            batch += [n] * max(0, self.lead - in_flight[n])
        batch = batch[:room]
        if len(batch) < room:
            batch += self._test_points(room - len(batch), set(batch), running)
        if len(batch) < room and 0 not in self.steps and self._bounds()[0] == 0:
            batch += [0] * max(0, min(self.lead - in_flight[0], room - len(batch)))
        if not batch and not running:  # nothing left to test: the verdicts decide
            self._final = self._settle()
            if self._final is None:
                raise AssertionError("bisection stalled with nothing to test")
        return [self.line[p] for p in batch[:room]]

    def wanted(self, pos: int) -> bool:
        """Whether a run of ``pos`` started earlier can still tell anything: False once the
        verdicts so far have put it outside the undecided range, or decided it (a runner may
        then stop that step and give its slot to a useful one)."""
        if self._final is not None:
            return False
        step = self.steps.get(pos)
        if step is not None and step.verdict:
            return False
        n = len(self.line) - 1
        lo, hi = self._bounds()
        return pos == n or (pos == 0 and lo == 0) or lo < pos < hi

    # --- verdicts ------------------------------------------------------------------------

    def _judge(self, step: _Step) -> None:
        states = [run_state(self.request, r) for r in step.runs]
        good = sum(s == GOOD for s, _ in states)
        bad = sum(s == BAD for s, _ in states)
        lead = abs(good - bad)
        at_most = len(step.runs) >= self.policy.max_repeats
        # A reopened step that cannot get the extra lead keeps a verdict of the usual lead (the
        # posterior then says the answer is not sure enough).
        if lead >= step.needed or (at_most and lead >= self.lead and good != bad):
            step.verdict = GOOD if good > bad else BAD
            step.lead = lead
            step.reason = f"flaky: {good} old-state and {bad} new-state runs" if (
                good and bad) else ""
        elif not good and not bad:
            # Another failure (deterministic, as a rule): it masks S, repeating it costs builds.
            step.verdict, step.reason = SKIP, states[-1][1]
        elif len(step.runs) >= self.policy.max_repeats:
            step.verdict = SKIP
            step.reason = (f"flaky beyond {self.policy.max_repeats} runs: {good} old-state and "
                           f"{bad} new-state runs, no verdict at confidence "
                           f"{self.policy.confidence:g}")

    def _runs_wanted(self, step: _Step) -> int:
        states = [run_state(self.request, r)[0] for r in step.runs]
        lead = abs(states.count(GOOD) - states.count(BAD))
        return max(1, min(step.needed - lead, self.policy.max_repeats - len(step.runs)))

    def _undecided(self) -> list[_Step]:
        return [self.steps[p] for p in self.order if not self.steps[p].verdict]

    def _open_steps(self) -> list[_Step]:
        """Undecided steps that still matter: the two ends and those inside the range left."""
        lo, hi = self._bounds()
        n = len(self.line) - 1
        return [s for s in self._undecided() if s.position in (0, n) or lo < s.position < hi]

    def _verdict(self, pos: int) -> str:
        step = self.steps.get(pos)
        return step.verdict if step else ""

    def _bounds(self) -> tuple[int, int]:
        """(last good position, first bad position) as far as the verdicts go."""
        n = len(self.line) - 1
        bads = [p for p, s in self.steps.items() if s.verdict == BAD]
        hi = min(bads) if bads else n
        goods = [p for p, s in self.steps.items() if s.verdict == GOOD and p < hi]
        return (max(goods) if goods else 0), hi

    def _settle(self) -> _Final | None:
        """The outcome when the verdicts so far already decide it (None: not yet)."""
        n = len(self.line) - 1
        words = self._words()
        end_old, end_new = self._verdict(0), self._verdict(n)
        if end_old in (BAD, SKIP):
            state = "the new state" if end_old == BAD else "no verdict"
            return (INCONCLUSIVE, f"{words[0]} {self.line[0].id} shows {state} on this "
                    f"runner ({self.steps[0].reason or self._first_reason(0)})", ())
        if end_new in (GOOD, SKIP):
            state = "the old state" if end_new == GOOD else "no verdict"
            return (INCONCLUSIVE, f"{words[1]} {self.line[n].id} shows {state} on this "
                    f"runner ({self.steps[n].reason or self._first_reason(n)})", ())
        lo, hi = self._bounds()
        later_good = [p for p, s in self.steps.items() if s.verdict == GOOD and p > hi]
        if later_good and self.flake > 0 and self._reopen(hi, min(later_good)):
            return None  # on a flaky cell, a contradiction is first re-tested
        if later_good:
            return (INCONCLUSIVE, (
                f"not monotonic: {self.line[hi].id} shows the new state but the later "
                f"{self.line[min(later_good)].id} the old one (the failure came and went)"),
                (self.line[hi], self.line[min(later_good)]))
        if end_new != BAD or self._open_steps() or (lo == 0 and end_old != GOOD):
            return None  # the answer must rest on verdicts seen here, the old end's included
        if hi - lo == 1:
            confidence = self.confidence()
            if confidence >= self.policy.confidence:
                return (FOUND, "", (self.line[hi],))
            if not self._reopen(lo, hi):
                return (INCONCLUSIVE, (
                    f"confidence {confidence:.3f} is below bisect.confidence "
                    f"{self.policy.confidence:g} after {self.policy.max_repeats} runs of the "
                    "last old and first new commits"), (self.line[lo], self.line[hi]))
            return None
        if all(self._verdict(p) == SKIP for p in range(lo + 1, hi)):
            return (INCONCLUSIVE, (
                f"only skipped commits between {self.line[lo].id} and {self.line[hi].id}: "
                "the first new commit is one of the candidates"), tuple(self.line[lo + 1:hi + 1]))
        return None

    def _reopen(self, *positions: int) -> bool:
        """Ask for more runs of these commits (one more of lead each); False when none can
        have more (max_repeats)."""
        reopened = False
        for pos in positions:
            step = self.steps.get(pos)
            if step is None or len(step.runs) >= self.policy.max_repeats:
                continue
            step.needed = max(step.needed, step.lead) + 1
            step.verdict = ""
            reopened = True
        return reopened

    def _first_reason(self, pos: int) -> str:
        runs = self.steps[pos].runs
        return run_state(self.request, runs[-1])[1] if runs else ""

    def _words(self) -> tuple[str, str]:
        if self.request.kind == FIX:
            return "the last failing revision", "the first passing revision"
        return "the last good revision", "the first bad revision"

    def _test_points(self, room: int, busy: set[int], running: Sequence[int] = ()
                     ) -> list[int]:
        """New commits to test: ``p`` points cutting the untested part of the undecided range
        into p + 1 parts of equal candidate counts, each run ``lead`` times. Commits in flight
        (``running``) inside the range already cut it: the new points go into the parts they
        leave. Those outside it (an end, a repeat) free their slots soon: the points are
        planned for those slots too, as a round of every slot would place them, and the lowest
        started now (the others when the slots free, unless the verdicts move the range)."""
        lo, hi = self._bounds()
        pending = busy | set(running) | {s.position for s in self._open_steps()}
        inner = [p for p in range(lo + 1, hi) if p not in self.steps and p not in pending]
        if not inner:
            return []
        cuts = sorted({p for p in running if lo < p < hi})
        spare = len(running) - sum(lo < p < hi for p in running)
        start = min(len(inner), max(1, room // self.lead))
        points = min(len(inner), max(1, (room + spare) // self.lead))
        parts = [[p for p in inner if a < p < b] for a, b in zip([lo, *cuts], [*cuts, hi],
                                                                   strict=True)]
        shares = spread(points, [len(part) for part in parts])
        chosen = sorted(p for part, k in zip(parts, shares, strict=True)
                        for p in evenly(part, k))[:start]
        # room < lead: one point, started with what the round has (it goes on next round)
        per = min(self.lead, room)
        return [p for p in chosen for _ in range(per)][:room]

    # --- the result ----------------------------------------------------------------------

    def position(self, commit_id: str) -> int:
        """A commit's place in the line: 0 is ``old``, ``n`` is ``new``."""
        return self._pos[commit_id]

    def frontier(self) -> tuple[Commit, Commit]:
        """The last commit known (or assumed) old and the first known (or assumed) new."""
        lo, hi = self._bounds()
        return self.line[lo], self.line[hi]

    def confidence(self) -> float:
        """The posterior probability that the first new commit is the one the verdicts name,
        given every run so far (uniform prior over the range, each run wrong with the assumed
        flake rate, independently; skips say nothing). Exact, so the search's choices (which
        commits it tested, when it stopped) do not bias it."""
        _, hi = self._bounds()
        return self.posterior()[hi - 1]

    def posterior(self) -> list[float]:
        """P(first new commit = position j | runs) for j = 1..n (index j - 1)."""
        n = len(self.line) - 1
        if self.flake <= 0:
            hi = self._bounds()[1]
            return [1.0 if j == hi else 0.0 for j in range(1, n + 1)]
        counts = []
        for pos, step in self.steps.items():
            states = [run_state(self.request, r)[0] for r in step.runs]
            counts.append((pos, states.count(GOOD), states.count(BAD)))
        return posterior(counts, n, self.flake)

    def verdicts(self) -> tuple[StepVerdict, ...]:
        out = []
        for pos in self.order:
            step = self.steps[pos]
            verdict, reason = step.verdict, step.reason
            if not verdict:
                verdict, reason = SKIP, f"undecided after {len(step.runs)} runs"
            out.append(StepVerdict(step.commit, verdict, tuple(step.runs), reason))
        return tuple(out)

    def outcome(self, now: datetime | None = None, **extra: str) -> BisectOutcome:
        if self._final is None:
            raise RuntimeError("the bisection is not over")
        status, reason, candidates = self._final
        lo, hi = self._bounds()
        found = status == FOUND
        return BisectOutcome(
            request=self.request, status=status,
            first_new=self.line[hi] if found else None,
            last_old=self.line[lo] if found else None,
            steps=self.verdicts(), builds=self.builds, rounds=self.rounds, repeats=self.lead,
            confidence=round(self.confidence(), 6) if found else 0.0, reason=reason,
            candidates=() if found else candidates, finished_at=now,
            app_pairing=extra.get("app_pairing", ""), reproduce=extra.get("reproduce", ""),
            details={"flake_rate": self.request.flake_rate, "flake_assumed": self.flake,
                     "lead": self.lead, "range": len(self.line) - 1,
                     "last_old_position": lo, "first_new_position": hi})
