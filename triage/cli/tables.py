"""Tables for the terminal: one line per row, at the terminal's real width.

Every column but one keeps its full width; the flexible one (a summary, a reason) takes the
room left and is cut with an ellipsis, or wrapped whole when asked. On a terminal too narrow for
the fixed columns the lines grow rather than drop a column. Cells go through the one terminal
sanitiser (:func:`triage.display.cell`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence

from triage.display import cell

MIN_FLEXIBLE = 12  # characters of the flexible column kept however narrow the terminal
GAP = 3  # between columns: a space of padding each side and the separator


def terminal_width() -> int | None:
    """The terminal's real width (``$COLUMNS`` first), or None when the output is not a
    terminal: a pipe or a file gets whole lines, nothing cut."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):  # a closed or detached stdout
        pass
    return None


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, flexible: str,
              width: int | None = None, wrap: bool = False) -> str:
    """The rows as plain text (no colour): a header line, a rule, one line per row.
    ``width``: the terminal's (default); with none, the flexible column is never cut."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = [[cell(v) for v in r] for r in rows]  # widths measured on what is shown (escaped)
    flex = headers.index(flexible)
    natural = [max([len(h)] + [c[i].cell_len for c in cells]) for i, h in enumerate(headers)]
    fixed = {i: w for i, w in enumerate(natural) if i != flex}
    others = sum(fixed.values()) + GAP * (len(headers) - 1)
    width = width or terminal_width() or others + natural[flex]
    width = max(width, others + MIN_FLEXIBLE)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for i, name in enumerate(headers):
        if i == flex:
            table.add_column(name, overflow="fold" if wrap else "ellipsis", no_wrap=not wrap,
                             max_width=width - others)
        else:
            table.add_column(name, no_wrap=True, min_width=fixed[i])
    for c in cells:
        table.add_row(*c)
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False,
            highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())
