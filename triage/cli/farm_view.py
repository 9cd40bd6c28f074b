"""What ``xentriage farm run`` shows: progress while the farm works, the result table, and
errors that say what failed.

A run can take an hour; without a sign of life it looks hung. On a terminal, stderr carries a
live line (cells done / running / queued); piped or in a script, nothing is printed until the
table, so logs stay clean. The table is rich's, at the terminal's width: the reason is cut with
an ellipsis, or shown whole (wrapped) with ``--wide``. Every cell goes through the one terminal
sanitiser (:func:`triage.display.cell`): cell names and reasons come from workers' logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from farm.localfarm import FarmState, RunProgress, run_progress
from farm.table import HEADERS, CellRow, columns, summary_line
from triage.cli.tables import fit_table

PROGRESS_EVERY = 2.0  # seconds between progress reads (two API requests each)


@contextmanager
def progress_display(state: FarmState, after_buildid: int, *,
                     console: Any = None) -> Iterator[Callable[[], None]]:
    """A callback for :func:`farm.localfarm.wait_idle` that keeps a status line on stderr up to
    date; a no-op when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    progress = Progress(TextColumn("farm run"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=console, transient=True, auto_refresh=False)
    task = progress.add_task("waiting for the first build", total=None)
    last = 0.0

    def update() -> None:
        nonlocal last
        if time.monotonic() - last < PROGRESS_EVERY:
            return
        last = time.monotonic()
        try:
            now = run_progress(state, after_buildid)
        except Exception:  # a missed reading must not end the run: the
            return  # next poll tries again, and wait_idle reports a master that is gone
        progress.update(task, completed=now.done, total=now.total or None,
                        description=describe_progress(now))
        progress.refresh()  # drawn when the farm is asked, not by a thread of its own

    with progress:
        yield update


def describe_progress(now: RunProgress) -> str:
    return f"cells: {now.done} done, {now.running} running, {now.queued} queued"


def result_table(rows: Sequence[CellRow], *, wide: bool = False,
                 width: int | None = None) -> str:
    """The result matrix (reason cut at the terminal's width, or whole with ``wide``), then
    the summary line."""
    table = fit_table(HEADERS, [columns(r) for r in rows], flexible="reason", width=width,
                      wrap=wide)
    return "\n".join([table, "", summary_line(rows)])


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def describe_error(exc: BaseException, api: str) -> str:
    """What went wrong talking to the master, in words: a refused connection, a timeout, an
    HTTP status, a body that is not the API's JSON."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        r = exc.response
        return f"the master answered HTTP {r.status_code} {r.reason} for {_path(r.url, api)}"
    if isinstance(exc, requests.Timeout):
        return f"the master at {api} did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        found = _ERRNO.search(str(exc))
        why = found.group().strip() if found else "connection failed"
        return f"cannot connect to the master at {api} ({why}): is the farm up?"
    if isinstance(exc, ValueError | KeyError):  # JSON that is not the data API's
        return f"the master at {api} sent an answer that is not its data API's JSON ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _path(url: str | None, api: str) -> str:
    """``builds`` for ``http://127.0.0.1:PORT/api/v2/builds?...``: which resource failed."""
    url = (url or "").split("?", 1)[0]
    if url.startswith(api):
        return url[len(api):].lstrip("/") or url
    return url
