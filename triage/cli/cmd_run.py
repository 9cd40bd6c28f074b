"""``xentriage run``: one whole cycle (mail archive → sync → triage), the README's main job."""

from __future__ import annotations

import click

from triage.cli.common import EXIT_ABORTED, EXIT_UNAVAILABLE, app, echo, write_mode_options
from triage.jobs import run_cycle


@click.command("run")
@click.option("--queue-only", is_flag=True,
              help="Triage only the queued bugs instead of every open bug.")
@click.option("--no-mail", is_flag=True, help="Skip ingesting the mail archive.")
@click.option("--show-plan/--no-plan", default=True, help="Print the triage plan.")
@write_mode_options
@click.pass_context
def command(ctx: click.Context, queue_only: bool, no_mail: bool, show_plan: bool,
            production: bool, change_cap: int) -> None:
    """Ingest the mail archive (mail.source mbox/maildir), sync Bugzilla (or the snapshot), and
    run the triage rules over every open bug. Dry run unless --production.

    Exit 4 if a service failed (the rest of the cycle still ran), 5 if the change cap aborted it.
    """
    a = app(ctx)
    report = run_cycle(a.settings, a.store, production=production, all_open=not queue_only,
                       mail=not no_mail, change_cap=change_cap)
    if show_plan and report.plan_text:
        echo(report.plan_text)
    for line in report.lines:
        echo(line)
    for line in report.failures:
        echo(f"FAILED {line}", err=True)
    if report.aborted:
        echo(f"ABORTED: {report.aborted}", err=True)
        raise SystemExit(EXIT_ABORTED)
    if report.failures:
        raise SystemExit(EXIT_UNAVAILABLE)
