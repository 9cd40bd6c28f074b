"""``xentriage bugs``: what the store holds, one line per bug (or TSV / JSON for pipes)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from triage.cli.common import app, echo
from triage.cli.tables import fit_table
from triage.config import Settings
from triage.display import inert
from triage.model import Bug, format_bz_time, to_jsonable
from triage.store.bugs import BugListing, list_bugs

TSV_COLUMNS = ("id", "product", "component", "status", "resolution", "assignee", "reporter",
               "changed", "summary")


@click.command("bugs")
@click.option("--product", "products", multiple=True, help="Only this product (repeatable).")
@click.option("--status", "statuses", multiple=True, help="Only this status (repeatable).")
@click.option("--open/--closed", "is_open", default=None, help="Only open / only closed bugs.")
@click.option("--creator", help="Only bugs reported by this account.")
@click.option("--format", "fmt", type=click.Choice(["table", "tsv", "json"]), default="table",
              show_default=True,
              help="table: one line per bug at the terminal's width; tsv: every field, one "
                   "line per bug, tab-separated with a header; json: the full bugs.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def command(ctx: click.Context, products: tuple[str, ...], statuses: tuple[str, ...],
            is_open: bool | None, creator: str | None, fmt: str, as_json: bool,
            limit: int) -> None:
    """List the bugs the store holds (newest change first). Run `xentriage sync` to refresh."""
    a = app(ctx)
    with a.store.session() as s:
        rows = list_bugs(s, products=products, statuses=statuses, is_open=is_open,
                         creator=creator, limit=limit)
    if as_json or fmt == "json":
        out = []
        for r in rows:
            item = to_jsonable(r.bug)
            item["unavailable_reason"] = r.unavailable_reason
            out.append(item)
        echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if fmt == "tsv":
        echo("\t".join(TSV_COLUMNS))
        for r in rows:
            echo("\t".join(inert(v, one_line=True) for v in _tsv_fields(r)))
        return
    if not rows:
        echo("no bugs stored match (run `xentriage sync` first?)")
        return
    echo(one_line_per_bug(rows, a.settings))
    echo(f"{len(rows)} bug(s)")


def _status(r: BugListing) -> str:
    b = r.bug
    status = b.status + (f" {b.resolution}" if b.resolution else "")
    return status + (" (unavailable)" if r.unavailable_reason else "")


def _changed(bug: Bug) -> str:
    return format_bz_time(bug.last_change_time)[:16].replace("T", " ")


def _tsv_fields(r: BugListing) -> tuple[object, ...]:
    b = r.bug
    return (b.id, b.product, b.component, b.status, b.resolution, b.assigned_to, b.creator,
            format_bz_time(b.last_change_time), b.summary)


def one_line_per_bug(rows: Sequence[BugListing], settings: Settings,
                     width: int | None = None) -> str:
    """The table: the summary cut at the terminal's width; the assignee shown only when
    someone other than the component's default holds the bug (a column of defaults says
    nothing), and the column left out when no bug shown has such an assignee."""
    assignees = [_assignee_unless_default(r.bug, settings) for r in rows]
    headers = ["id", "product/component", "status", "assignee", "reporter", "changed",
               "summary"]
    table = [[str(r.bug.id), f"{r.bug.product}/{r.bug.component}", _status(r), who,
              r.bug.creator, _changed(r.bug), r.bug.summary]
             for r, who in zip(rows, assignees, strict=True)]
    if not any(assignees):
        headers.remove("assignee")
        table = [row[:3] + row[4:] for row in table]
    return fit_table(headers, table, flexible="summary", width=width)


def _assignee_unless_default(bug: Bug, settings: Settings) -> str:
    """"" when the bug sits with its component's default: the configured default
    (``rules.claims.default_assignees``), the account the history shows it came from, or an
    account that is not a person (``xen-bugs@``, ``nobody@``)."""
    from triage.claims.core import People, claims_settings, default_assignee

    people = People.of(claims_settings(settings), settings.general.bot_accounts)
    who = bug.assigned_to
    if not who or not people.is_person(who) or who.lower() == default_assignee(bug, people):
        return ""
    return who
