"""Where test points go in an undecided range (pure arithmetic over positions)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def evenly(part: Sequence[int], k: int) -> list[int]:
    """``k`` of ``part``'s positions cutting it into k + 1 runs of equal length."""
    m = len(part)
    return sorted({part[max(0, math.ceil(j * (m + 1) / (k + 1)) - 1)] for j in range(1, k + 1)})


def spread(points: int, sizes: Sequence[int]) -> list[int]:
    """How many of ``points`` test points go into each part of these sizes: each next point to
    the part where it cuts the expected candidates left the most (sum of size**2 / (k + 1)),
    never more points than a part has commits."""
    shares = [0] * len(sizes)
    for _ in range(points):
        gains = [(s * s / (k + 1) - s * s / (k + 2) if k < s else -1.0, -i)
                 for i, (s, k) in enumerate(zip(sizes, shares, strict=True))]
        best, i = max(gains)
        if best < 0:
            break
        shares[-i] += 1
    return shares
