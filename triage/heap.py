"""The garbage collector during long runs of short-lived objects (a mail backfill)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_heap_frozen() -> Iterator[None]:
    """Keep the objects alive before a run (modules, the ORM's mappers, the store, the tracker)
    out of the collector's full collections while it runs. Every chunk's mails, events and rows
    live long enough to be promoted, so full collections come every few chunks, and each one
    walked the whole start-up heap: about 8 % of a backfill's CPU. ``gc.freeze`` moves it
    to the permanent generation and ``gc.unfreeze`` brings it back afterwards; nothing is left
    uncollected for longer than the run. Left alone when something else froze the heap."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
