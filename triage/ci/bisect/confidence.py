"""The numbers behind a bisection's verdicts and its confidence (pure math).

Model: each run of a step is wrong (shows the other state) with the cell's flake rate f,
independently; a skipped run says nothing. Under it, a verdict reached with a lead of L runs of
one state over the other is wrong with posterior probability ``r**L / (1 + r**L)``,
``r = f / (1 - f)``, and the first new commit of a range has an exact posterior over the range
given every run (uniform prior), which :func:`posterior` computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def effective_flake(flake_rate: float, threshold: float) -> float:
    """The per-run error the verdicts assume: 0 at or below the threshold, else the rate
    (capped below 0.5: a cell wrong half the time cannot be bisected at any k)."""
    return 0.0 if flake_rate <= threshold else min(flake_rate, 0.49)


def lead_needed(flake: float, confidence: float) -> int:
    """The lead of one state over the other that makes a verdict wrong with probability at most
    ``1 - sqrt(confidence)`` (1 for a cell that is not flaky)."""
    if flake <= 0:
        return 1
    target = 1 - math.sqrt(confidence)
    odds, r = target / (1 - target), flake / (1 - flake)
    return max(1, math.ceil(math.log(odds) / math.log(r) - 1e-9))


def verdict_error(flake: float, lead: int) -> float:
    """Posterior probability that a verdict reached with ``lead`` is wrong (uniform prior)."""
    if flake <= 0 or lead <= 0:
        return 0.0 if flake <= 0 else 0.5
    x = (flake / (1 - flake)) ** lead
    return x / (1 + x)


def posterior(counts: Sequence[tuple[int, int, int]], n: int, flake: float) -> list[float]:
    """P(first new commit = position j | runs) for j = 1..n (list index j - 1).

    ``counts``: (position, old-state runs, new-state runs) of each tested commit, position 0
    being the old end and n the new one; ``flake`` > 0.
    """
    right, wrong = math.log(1 - flake), math.log(flake)
    # log-likelihood of "first new = j": commits at or after j show the new state
    logl = []
    for j in range(1, n + 1):
        total = 0.0
        for pos, good, bad in counts:
            if pos >= j:
                total += bad * right + good * wrong
            else:
                total += good * right + bad * wrong
        logl.append(total)
    top = max(logl)
    weights = [math.exp(x - top) for x in logl]
    norm = sum(weights)
    return [w / norm for w in weights]
