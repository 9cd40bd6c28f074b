"""One way to run ``column IN (...)`` over any number of ids: in slices of 900.

SQLite refuses more than 999 bound parameters in one statement (older builds), so every bulk
query over ids goes through :func:`chunked` instead of repeating the slicing loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

IN_CHUNK = 900  # under SQLite's historic 999 bound-parameter limit, leaving room for others


def chunked(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size`` (none for an empty input)."""
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]
