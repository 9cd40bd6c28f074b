"""``xentriage triage``: run the rules and print (dry run) or apply (--production) the plan."""

from __future__ import annotations

import click

from triage.cli.common import (
    EXIT_ABORTED,
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    app,
    echo,
    fail,
    write_mode_options,
)
from triage.config import ConfigError
from triage.plan_text import render_plan


@click.command("triage")
@click.option("--bug", "bug_ids", type=int, multiple=True, metavar="ID",
              help="Triage these bugs (repeatable). Default: the queue.")
@click.option("--all", "all_open", is_flag=True,
              help="The daily pass: every open bug in the store.")
@click.option("--refresh/--no-refresh", default=None,
              help="Re-read the bugs from Bugzilla first (default: when bugzilla.url is set).")
@click.option("--show-comments", is_flag=True, help="Print the full text of planned comments.")
@write_mode_options
@click.pass_context
def command(ctx: click.Context, bug_ids: tuple[int, ...], all_open: bool,
            refresh: bool | None, show_comments: bool, production: bool,
            change_cap: int) -> None:
    """Run the triage rules over the queue, some bugs (--bug) or every open bug (--all).

    Dry run by default: prints the plan grouped by rule (bug, what, why) and records it. With
    --production the changes are written through the action ledger; a re-run writes nothing new.
    Exits 5 when the plan exceeds the change cap (nothing is written then).
    """
    from triage.adapters.tracker import TrackerError
    from triage.jobs import make_engine, preview_planned_mails

    a = app(ctx)
    settings = a.settings
    if bug_ids and all_open:
        raise click.UsageError("--bug and --all exclude each other")
    try:
        engine = make_engine(settings, a.store, production=production, refresh=refresh)
        report = engine.run(bug_ids=bug_ids, all_open=all_open, production=production,
                            change_cap=change_cap)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
    except TrackerError as exc:
        fail(f"Bugzilla: {exc}", EXIT_UNAVAILABLE)
    echo(render_plan(report, show_comments=show_comments))
    if not production and not report.aborted:
        count, folder = preview_planned_mails(report, settings)
        if count:
            echo(f"{count} planned mails previewed in {folder}")
    if report.aborted:
        raise SystemExit(EXIT_ABORTED)
    if report.failed:
        raise SystemExit(EXIT_UNAVAILABLE)
