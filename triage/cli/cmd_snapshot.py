"""``xentriage snapshot OUTPUT``: save what a live Bugzilla holds to a snapshot file."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from triage.adapters.snapshot import take_snapshot
from triage.adapters.tracker import AuthenticationError, TrackerError
from triage.cli.cmd_sync import parse_since
from triage.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, app, echo, fail, open_tracker_or_exit


@click.command("snapshot")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--product", "products", multiple=True,
              help="Product to save (repeatable; default: bugzilla.products).")
@click.option("--since", "since_text", metavar="WHEN",
              help="Only bugs changed since WHEN (2026-11-20, ISO time, or 30d ago).")
@click.pass_context
def command(ctx: click.Context, output: Path, products: tuple[str, ...],
            since_text: str | None) -> None:
    """Save bugs (fields, comments, history) from the configured tracker to OUTPUT.

    The file can then be served read-only by setting `bugzilla.snapshot` and leaving
    `bugzilla.url` empty (docs/snapshot.md describes the format)."""
    settings = app(ctx).settings
    since = parse_since(since_text)
    tracker = open_tracker_or_exit(settings)
    console = Console(stderr=True)
    progress = Progress(TextColumn("saving"), BarColumn(), MofNCompleteColumn(), console=console,
                        disable=not console.is_terminal, transient=True)
    task = progress.add_task("saving", total=None)
    try:
        with progress:
            count = take_snapshot(
                tracker, output, products=list(products or settings.bugzilla.products),
                since=since, source=settings.bugzilla.url or str(settings.bugzilla.snapshot),
                batch_size=settings.bugzilla.batch_size,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except AuthenticationError as exc:
        fail(f"Bugzilla refused the API key: {exc}", EXIT_CONFIG)
    except TrackerError as exc:
        fail(f"snapshot failed: {exc}", EXIT_UNAVAILABLE)
    echo(f"saved {count} bug(s) to {output}")
