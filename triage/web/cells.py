"""The matrix's cells and table body as HTML, built in Python.

A 1,000-cell page printed through a Jinja template with a dozen filters and link helpers per
cell spent most of its first render in the template; the same markup built here with
f-strings is several times cheaper. Every value that comes from outside (state words of new
failure classes, revisions, reasons, bug status, summary and claimer, row labels, URLs) is
sanitised with :func:`triage.rules.base.sanitize` where it is free text and HTML-escaped with
:func:`markupsafe.escape` in every case; the few strings that repeat thousands of times per page
(state styles, statuses, claimers, row labels) are escaped once and memoised.

A cell's HTML is cached in two halves around its age (printed fresh on every request).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape

from triage.rules.base import sanitize
from triage.web import links
from triage.web.matrix_model import CellView, HistoryItem, TreeMatrix
from triage.web.states import StateStyle


def _e(value: object) -> str:
    return str(escape(value))


def _clean(value: object, max_length: int) -> str:
    """Free text: one sanitised line, then escaped."""
    return _e(sanitize(value, max_length=max_length, defuse_markers=False))


@functools.lru_cache(maxsize=4096)
def _often(value: str, max_length: int) -> str:
    """Statuses, claimers, row labels: few distinct values, thousands of uses per page."""
    return _clean(value, max_length)


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(max(0, seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}"
    return f"{s} s"


def short_revision(rev: object) -> str:
    # A content hash (farm.revisions) reads like a git hash once its prefix is dropped.
    return str(rev).removeprefix("content-")[:10] if rev else "?"


@functools.lru_cache(maxsize=256)
def _style(style: StateStyle) -> tuple[str, str, str, str]:
    """css, label, symbol, the strip's one-glyph symbol: escaped once per style."""
    return _e(style.css), _e(style.label), _e(style.symbol), _e(style.symbol[:1])


def history_strip(items: Iterable[HistoryItem]) -> str:
    """The strip's squares, oldest first (20,000 of them on a 1,000-cell page)."""
    out = []
    for item in items:
        css, label, _, symbol = _style(item.state)
        out.append(f'<span class="xt-{css}" title="#{int(item.number)} {label}">{symbol}</span>')
    return "".join(out)


def _links(ctx: Any, c: CellView) -> str:
    build = links.build_url(ctx, c)
    if not build or c.latest is None:
        return ""
    out = (f'<a href="{_e(build)}" class="xt-build">build #{int(c.latest.number)}</a> · '
           f'<a href="{_e(links.log_url(ctx, c))}" class="xt-log">log</a> · '
           f'<a href="{_e(links.builder_url(ctx, c))}" class="xt-history">history</a>')
    console = links.console_url(ctx, c)
    if console:
        out += f' · <a href="{_e(console)}" class="xt-console">console</a>'
    return out


def _bug(ctx: Any, c: CellView) -> str:
    if c.bug is None:
        return "no bug"
    bug_id = int(c.bug.bug_id)
    url = links.bug_url(ctx, bug_id)
    out = (f'<a href="{_e(url)}" class="xt-buglink">bug {bug_id}</a>' if url
           else f"bug {bug_id}")
    out += f" {_often(c.bug.status, 30)} · "
    if c.bug.claimed_by:
        out += f'<span class="xt-claimer">{_often(c.bug.claimed_by, 60)}</span>'
    else:
        out += "unclaimed"
    if c.bug.bisection:
        out += f'<br><span class="xt-bisect">{_clean(c.bug.bisection, 200)}</span>'
    return out


def render_cell(c: CellView, ctx: Any) -> tuple[str, str]:
    """A cell's ``<td>`` up to where its age goes, and after it."""
    css, label, symbol, _ = _style(c.state)
    head = [f'<td data-cell="{_e(c.spec.name)}" data-state="{_e(c.state.key)}">'
            f'<div class="xt-cell xt-{css}" tabindex="0"']
    if c.reason:
        head.append(f' title="{_clean(c.reason, 300)}"')
    head.append(f'>\n<span class="xt-sym" aria-hidden="true">{symbol}</span>'
                f'<span class="xt-word">{label}</span>\n')
    if c.running:
        head.append('<span class="xt-small" data-running="1">(… running)</span>\n')
    head.append('<div class="xt-small">')
    tail = []
    if c.latest is not None:
        if c.latest.revision:
            tail.append(f" · {_e(short_revision(c.latest.revision))}")
    else:
        head.append("no result yet")
    tail.append("</div>\n")
    if c.red_since is not None:
        at = c.red_since.finished_at
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(at)) if at else "?"
        tail.append(f'<div class="xt-small xt-redsince">red since '
                    f"{_e(short_revision(c.red_since.revision))}, {when}</div>\n")
    if c.history:
        tail.append(f'<div class="xt-hist" aria-label="last {len(c.history)} results, oldest '
                    f'first">\n{history_strip(c.history)}\n</div>\n')
    tail.append(f'<div class="xt-small xt-links">\n{_links(ctx, c)}\n</div>\n'
                f'<div class="xt-small xt-bug">\n{_bug(ctx, c)}\n</div>\n')
    if c.reason:
        tail.append('<div class="xt-why xt-small" aria-hidden="true">▸ why</div>'
                    f'<div class="xt-reason" role="note">{_clean(c.reason, 400)}')
        if c.bug is not None and c.bug.summary:
            tail.append(f"<br>bug: {_clean(c.bug.summary, 200)}")
        tail.append("</div>")
    tail.append("\n</div></td>")
    return "".join(head), "".join(tail)


def table_body(tree: TreeMatrix, html: Mapping[str, tuple[str, str]], now_ts: float) -> Markup:
    """The ``<tbody>`` rows of one tree: cached cell halves with each age printed fresh."""
    out = []
    for row in tree.rows:
        out.append(f'<tr><th class="xt-rowh" scope="row">{_often(row.label, 120)}</th>\n')
        for c in row.cells:
            if c is None:
                out.append('<td class="xt-empty"></td>\n')
                continue
            before, after = html[c.spec.name]
            age = (f"{age_text(now_ts - c.latest.finished_at)} ago"
                   if c.latest is not None and c.latest.finished_at is not None else "")
            out.append(f"{before}{age}{after}\n")
        out.append("</tr>\n")
    return Markup("".join(out))  # noqa: S704 - every value escaped above
