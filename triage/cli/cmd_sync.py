"""``xentriage sync``: pull bugs from the tracker into the store (incremental by default)."""

from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from triage.adapters.tracker import AuthenticationError, TrackerError
from triage.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, app, echo, fail, open_tracker_or_exit
from triage.model import parse_bz_time
from triage.sync import SyncProgress, sync_bugs


def parse_since(value: str | None) -> datetime | None:
    """``2026-11-20``, ``2026-11-20T10:00:00Z`` or ``7d`` / ``12h`` (ago)."""
    if not value:
        return None
    from datetime import UTC, timedelta

    text = value.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        if len(text) == 10:
            text += "T00:00:00Z"
        return parse_bz_time(text)
    except ValueError:
        raise click.BadParameter(f"not a date: {value!r} (use 2026-11-20, an ISO time or 7d)",
                                 param_hint="--since") from None


@click.command("sync")
@click.option("--full", is_flag=True, help="Re-read every bug of the configured products.")
@click.option("--since", "since_text", metavar="WHEN",
              help="Read bugs changed since WHEN (2026-11-20, ISO time, or 7d/12h ago).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, only the summary line.")
@click.pass_context
def command(ctx: click.Context, full: bool, since_text: str | None, quiet: bool) -> None:
    """Bring the store's copy of the bugs up to date with Bugzilla (or the snapshot)."""
    since = parse_since(since_text)
    a = app(ctx)
    settings = a.settings
    tracker = open_tracker_or_exit(settings)
    console = Console(stderr=True)
    show = not quiet and console.is_terminal
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=not show, transient=True)
    tasks: dict[str, TaskID] = {}

    def on_progress(p: SyncProgress) -> None:
        label = {"search": "searching", "fetch": "reading comments"}.get(p.phase, p.phase)
        if p.phase not in tasks:
            tasks[p.phase] = progress.add_task(label, total=p.total)
        progress.update(tasks[p.phase], completed=p.done, total=p.total)

    try:
        with progress:
            report = sync_bugs(a.store, tracker, settings, full=full, since=since,
                               progress=on_progress)
    except AuthenticationError as exc:
        fail(f"Bugzilla refused the API key: {exc}", EXIT_CONFIG)
    except TrackerError as exc:  # unavailable, or any other Bugzilla refusal
        fail(f"sync failed: {exc}", EXIT_UNAVAILABLE)
    echo(report.summary())
    if report.unavailable:
        echo("unavailable (kept, marked): "
                   + ", ".join(str(i) for i in sorted(set(report.unavailable))))
