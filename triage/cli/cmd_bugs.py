"""``xentriage bugs``: what the store holds, as a table (or JSON)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from triage.cli.common import app, echo
from triage.display import cell
from triage.model import format_bz_time, to_jsonable
from triage.store.bugs import list_bugs


@click.command("bugs")
@click.option("--product", "products", multiple=True, help="Only this product (repeatable).")
@click.option("--status", "statuses", multiple=True, help="Only this status (repeatable).")
@click.option("--open/--closed", "is_open", default=None, help="Only open / only closed bugs.")
@click.option("--creator", help="Only bugs reported by this account.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (full bugs).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def command(ctx: click.Context, products: tuple[str, ...], statuses: tuple[str, ...],
            is_open: bool | None, creator: str | None, as_json: bool, limit: int) -> None:
    """List the bugs the store holds (newest change first). Run `xentriage sync` to refresh."""
    with app(ctx).store.session() as s:
        rows = list_bugs(s, products=products, statuses=statuses, is_open=is_open,
                         creator=creator, limit=limit)
    if as_json:
        out = []
        for r in rows:
            item = to_jsonable(r.bug)
            item["unavailable_reason"] = r.unavailable_reason
            out.append(item)
        echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not rows:
        echo("no bugs stored match (run `xentriage sync` first?)")
        return
    table = Table(show_lines=False, header_style="bold")
    for col in ("id", "product/component", "status", "assignee", "reporter", "changed", "summary"):
        table.add_column(col, overflow="fold" if col == "summary" else "ellipsis")
    for r in rows:
        b = r.bug
        status = b.status + (f" {b.resolution}" if b.resolution else "")
        if r.unavailable_reason:
            status += " (unavailable)"
        table.add_row(*(cell(v) for v in (
            b.id, f"{b.product}/{b.component}", status, b.assigned_to, b.creator,
            format_bz_time(b.last_change_time)[:16].replace("T", " "), b.summary)))
    Console(width=max(120, Console().width)).print(table)
    echo(f"{len(rows)} bug(s)")
