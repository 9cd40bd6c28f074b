"""``xentriage wiki publish``: the digest's wiki page (wiki_export/)."""

from __future__ import annotations

import click

from triage.cli.common import (
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    app,
    echo,
    fail,
    write_mode_options,
)


@click.group("wiki")
def command() -> None:
    """The wiki page with every open bug (wiki_export/)."""


@command.command("publish")
@click.option("--week", metavar="YYYY-Www", help="ISO week (default: this week).")
@write_mode_options
@click.pass_context
def publish_cmd(ctx: click.Context, week: str | None, production: bool, change_cap: int) -> None:
    """Render the page; write it to the file (always) and, with wiki.target = "mediawiki" and
    --production, edit the wiki page if its text changed. Exit 4 if the wiki failed (login,
    edit conflict, server down): nothing is lost, the next run retries."""
    from reports.compose import BadWeek, DigestError
    from wiki_export.publish import WikiError
    from wiki_export.refresh import refresh_wiki

    a = app(ctx)
    try:
        outcome = refresh_wiki(a.settings, a.store, production=production, week=week)
    except DigestError as exc:
        fail(str(exc), EXIT_USAGE if isinstance(exc, BadWeek) else EXIT_INPUT)
    except WikiError as exc:
        fail(f"wiki: {exc}", EXIT_UNAVAILABLE if exc.retryable else EXIT_CONFIG)
    p = outcome.publish
    echo(f"wiki {outcome.week}: {p.status} ({outcome.summary})\n  file {p.file}")
    if p.revision:
        echo(f"  revision {p.revision} of {a.settings.wiki.page}")
