"""The triage list's table rows, built in Python: the page lists every open bug (10,000 on a
big tracker), and a template loop with five filters per row was most of its render time.
Every user value goes through :func:`triage.rules.base.sanitize` and is HTML-escaped."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from markupsafe import Markup, escape

from triage.rules.base import sanitize
from triage.web.triage_model import OpenBug


def _t(value: object, max_length: int) -> str:
    return str(escape(sanitize(value, max_length=max_length, defuse_markers=False)))


@functools.lru_cache(maxsize=4096)
def _often(value: str, max_length: int) -> str:
    """Products, components, statuses, claimers: a few hundred distinct values per page."""
    return _t(value, max_length)


@functools.lru_cache(maxsize=32768)
def _summary(value: str) -> str:
    """Summaries: distinct per bug, but the same on every request until a sync changes them
    (sanitising 10,000 of them was most of a cached render)."""
    return _t(value, 300)


def bug_rows(bugs: Iterable[OpenBug], bugzilla_url: str) -> Markup:
    base = str(escape(bugzilla_url.rstrip("/")))
    out = []
    for b in bugs:
        r = b.row
        bug_id = int(r.bug_id)
        link = (f'<a href="{base}/show_bug.cgi?id={bug_id}" class="xt-buglink">{bug_id}</a>'
                if base else str(bug_id))
        if r.claimed_by:
            claim = f'<span class="xt-claimer">{_often(r.claimed_by, 80)}</span>'
            if b.claim_days is not None:
                claim += f' <span class="xt-small">{int(b.claim_days)} d</span>'
            if b.stale:
                claim += ' <span class="xt-stale">⚑ stale</span>'
        else:
            claim = "—"
        out.append(
            f'<tr data-bug="{bug_id}"><td>{link}</td><td>{_summary(r.summary)}</td>'
            f"<td>{_often(r.product, 60)} / {_often(r.component, 60)}</td>"
            f'<td>{_often(r.status, 30)} <span class="xt-small">({_often(r.state, 30)})</span></td>'
            f"<td>{claim}</td><td>{int(b.days_in_state)} d in state</td></tr>\n")
    return Markup("".join(out))  # noqa: S704 - every value escaped above
