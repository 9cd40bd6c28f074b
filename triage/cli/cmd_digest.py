"""``xentriage digest``: preview, send, hold (and release) the weekly open-bug digest."""

from __future__ import annotations

from pathlib import Path

import click

from triage.cli.common import (
    EXIT_INPUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    app,
    echo,
    fail,
    write_mode_options,
)

WEEK = click.option("--week", metavar="YYYY-Www",
                    help="ISO week, e.g. 2026-W49 (default: this week; serving a snapshot, the "
                         "snapshot's week).")


@click.group("digest")
def command() -> None:
    """The weekly digest to the developers' list (reports/)."""


@command.command("preview")
@WEEK
@click.option("--format", "fmt", type=click.Choice(["text", "html", "wiki"]), default="text",
              show_default=True, help="Which rendering to print.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write it to this file instead of standard output.")
@click.pass_context
def preview(ctx: click.Context, week: str | None, fmt: str, output: Path | None) -> None:
    """Print the digest as it would be sent now (nothing is sent or recorded)."""
    from reports.compose import BadWeek, DigestError, build_model, render

    a = app(ctx)
    try:
        model = build_model(a.settings, a.store, week=week)
    except DigestError as exc:
        fail(str(exc), EXIT_USAGE if isinstance(exc, BadWeek) else EXIT_INPUT)
    if fmt == "wiki":
        from wiki_export.markup import render_wiki

        text = render_wiki(model)
    else:
        rendered = render(model, a.settings, chart=fmt == "html")
        text = rendered.text if fmt == "text" else rendered.html
        if fmt == "text":
            echo(f"Subject: {rendered.subject}\n", err=output is None)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        echo(f"{model.week}: {fmt} digest written to {output}")
    else:
        echo(text, nl=False)


@command.command("send")
@WEEK
@click.option("--preview-to-maintainer", "to_maintainer", is_flag=True,
              help="Send the maintainer's preview (digest.maintainer) instead of the digest.")
@write_mode_options
@click.pass_context
def send(ctx: click.Context, week: str | None, to_maintainer: bool, production: bool,
         change_cap: int) -> None:
    """Send this week's digest once (dry run: write it to <state_dir>/outbox/dry-run/).

    A week's digest is sent at most once, whatever re-runs, restarts or a second service do;
    a held week is not sent. Exit 4 if sending failed (the next run sends it).
    """
    from reports.compose import BadWeek, DigestError
    from reports.send import send_digest

    a = app(ctx)
    if change_cap < 1 and production:
        fail("the change cap (0) allows no write: nothing sent", 5)
    try:
        outcome = send_digest(a.settings, a.store, production=production, week=week,
                              preview=to_maintainer)
    except DigestError as exc:
        fail(str(exc), EXIT_USAGE if isinstance(exc, BadWeek) else EXIT_INPUT)
    if outcome.status == "failed":
        fail(f"digest {outcome.week} not sent: {outcome.error}", EXIT_UNAVAILABLE)
    line = f"digest {outcome.week}: {outcome.status}"
    if outcome.message_id:
        line += f" {outcome.message_id}"
    if outcome.path:
        line += f"\n  written to {outcome.path}"
    if outcome.status == "held":
        line += " (xentriage digest release to send it)"
    if outcome.digest is not None:
        line += f"\n  subject: {outcome.digest.subject}"
    echo(line)


@command.command("hold")
@WEEK
@click.option("--reason", default="", help="Why (shown by `digest send` and `status`).")
@click.pass_context
def hold_cmd(ctx: click.Context, week: str | None, reason: str) -> None:
    """Stop this week's digest from being sent (after reading the preview)."""
    from reports.send import hold
    from reports.weeks import WeekError, as_of_for

    a = app(ctx)
    from reports.compose import data_clock

    try:
        label, _ = as_of_for(week, a.settings.digest, data_clock(a.settings))
    except WeekError as exc:
        fail(str(exc), EXIT_USAGE)
    if not hold(a.store, label, reason=reason):
        fail(f"digest {label} was already sent: too late to hold it", 6)
    echo(f"digest {label}: held (xentriage digest release --week {label} to undo)")


@command.command("release")
@WEEK
@click.pass_context
def release_cmd(ctx: click.Context, week: str | None) -> None:
    """Undo `digest hold`: the week's digest is sent by the next run."""
    from reports.compose import data_clock
    from reports.send import release
    from reports.weeks import WeekError, as_of_for

    a = app(ctx)
    try:
        label, _ = as_of_for(week, a.settings.digest, data_clock(a.settings))
    except WeekError as exc:
        fail(str(exc), EXIT_USAGE)
    if not release(a.store, label):
        fail(f"digest {label} is not held", 6)
    echo(f"digest {label}: released")
