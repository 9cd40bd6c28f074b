"""The Flask app behind the matrix and triage pages, inside Buildbot's UI and standalone.

Inside the master, buildbot-wsgi-dashboards sets ``app.buildbot_api`` and fetches
``<name>/index.html`` to inject into its own page (no query string, by XHR): that request gets
the page body only; every other request gets a whole page. Links and the filter form point at
this app's own URLs (``/plugins/wsgi_dashboards/<name>/…`` in the master), so every filtered
view is a permalink that works with JavaScript off.

Work per request is bounded: one fingerprint query (max build id, finished count); when it or
``cache_seconds`` moved on, two queries for the builds and one store query for the bugs; the
model is then built from the cached rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from flask import Flask, Response, jsonify, request

from triage.rules.base import sanitize
from triage.store import Store, open_bugs
from triage.store.open_bugs import BugDates, OpenBugRow
from triage.web import buildbot_db, cells, charts, links, serialise
from triage.web.matrix_cache import MatrixCache, gc_paused, ordered_views
from triage.web.matrix_model import CellSpec, CellView, Filters, MatrixView, arrange
from triage.web.rows import bug_rows
from triage.web.states import legend
from triage.web.triage_model import SECTIONS, TriageFilters, TriageView, build_triage

TEMPLATES = Path(__file__).parent / "templates"
TREND_WEEKS = 12


@dataclass
class WebContext:
    specs: Sequence[CellSpec]
    builds: buildbot_db.BuildDatabase | None
    store: Store | None
    buildbot_url: str = ""
    bugzilla_url: str = ""
    history: int = 20
    cache_seconds: float = 15.0
    stale_days: int = 30
    # The workflow's words (``bugzilla.workflow``): what the trend counts as closed and fixed.
    closed_statuses: tuple[str, ...] = ("RESOLVED", "VERIFIED")
    fixed_resolution: str = "FIXED"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _multi(name: str) -> frozenset[str]:
    return frozenset(v for raw in request.args.getlist(name) for v in raw.split(",") if v)


def _clean(value: object, max_length: int = 200) -> str:
    return str(sanitize(value, max_length=max_length, defuse_markers=False))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=True, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["clean"] = _clean
    env.filters["age"] = cells.age_text
    env.filters["short"] = cells.short_revision
    env.filters["pct"] = lambda v: "-" if v is None else f"{round(100 * v)}%"
    return env


def create_app(ctx: WebContext, home: str = "matrix") -> Flask:
    """``home``: what ``/`` and ``/index.html`` show (``matrix`` or ``triage``)."""
    app = Flask(__name__)
    env = _environment()

    def render_cell(view: CellView) -> tuple[str, str]:
        return cells.render_cell(view, ctx)

    data = MatrixCache(ctx.specs, ctx.builds, ctx.store, render_cell, ctx.now, ctx.history,
                       ctx.cache_seconds)
    triage_data = TriageData(ctx)
    app.extensions["xentriage"] = ctx
    app.extensions["xentriage.data"] = data

    def embedded() -> bool:
        # buildbot-wsgi-dashboards fetches index.html by XHR and injects it into its page.
        return request.headers.get("Sec-Fetch-Dest") == "empty"

    def page(template: str, **values: Any) -> Response:
        body = env.get_template(template).render(
            ctx=ctx, base=request.script_root, embedded=embedded(), legend=legend(),
            sections=SECTIONS, links=links, **values)
        return Response(body, mimetype="text/html")

    def matrix_page() -> Response:
        filters = Filters(tree=_multi("tree"), state=_multi("state"),
                          platform=_multi("platform"), arch=_multi("arch"),
                          library=_multi("library"))
        cached, queries = data.get()
        now = ctx.now()
        view = arrange(ctx.specs, ordered_views(cached, ctx.specs), filters, now, queries,
                       ctx.history)
        if request.args.get("format") == "json":
            return jsonify(serialise.matrix(view, ctx))
        chart = charts.rate_bars(
            f"Pass rate per platform/arch over the last {ctx.history} results of each cell",
            _rate_bars(view))
        return page("matrix.html.j2", view=view, chart=chart, cell_html=cached.html,
                    table_body=cells.table_body, now_ts=now.timestamp(),
                    **_query_strings(filters.as_query()))

    def triage_page() -> Response:
        filters = TriageFilters(section=_multi("section"), product=_multi("product"),
                                component=_multi("component"), claimer=_multi("claimer"),
                                stale=request.args.get("stale") == "1")
        view = triage_data.view(filters)
        if request.args.get("format") == "json":
            return jsonify(serialise.triage(view, ctx))
        chart = charts.grouped_bars("Open, new and fixed bugs per week", [w.label[5:] for w in
                                    view.weeks],
                                    [charts.Series("open", tuple(w.opened for w in view.weeks),
                                                   "xt-s0"),
                                     charts.Series("new", tuple(w.new for w in view.weeks),
                                                   "xt-s1"),
                                     charts.Series("fixed", tuple(w.fixed for w in view.weeks),
                                                   "xt-s2")])
        return page("triage.html.j2", view=view, chart=chart, bug_rows=bug_rows,
                    **_query_strings(filters.as_query()))

    @app.get("/")
    @app.get("/index.html")
    def index() -> Response:
        return triage_page() if home == "triage" else matrix_page()

    app.add_url_rule("/matrix.html", "matrix", matrix_page)
    app.add_url_rule("/triage.html", "triage", triage_page)
    return app


def _query_strings(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The view's permalink query and its JSON twin's."""
    return {"qs": "?" + urlencode(pairs) if pairs else "",
            "qs_json": "?" + urlencode([*pairs, ("format", "json")])}


def _rate_bars(view: MatrixView) -> list[charts.Bar]:
    many = len(view.trees) > 1
    return [charts.Bar(f"{t.tree} {c.name}" if many else c.name, c.pass_rate,
                       f"{round(100 * c.pass_rate)}% of {c.runs}" if c.pass_rate is not None
                       else "no verdicts")
            for t in view.trees for c in t.columns]


class TriageData:
    """The triage list's rows, re-read when the store's fingerprint moved (a sync or a triage
    pass changed something) or ``cache_seconds`` passed; 1 query otherwise."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()
        self.key: Any = None
        self.at = 0.0
        self.rows: list[OpenBugRow] = []
        self.dates: list[BugDates] = []

    def view(self, filters: TriageFilters) -> TriageView:
        ctx = self.ctx
        now = ctx.now()
        if ctx.store is None:
            return build_triage([], [], filters, now, ctx.stale_days, 0)
        with self.lock, ctx.store.session() as s:
            key, queries = open_bugs.fingerprint(s), 2
            if key != self.key or time.monotonic() - self.at > ctx.cache_seconds:
                # The trend's window and a week's margin (weekly_trend counts TREND_WEEKS).
                since = now - timedelta(weeks=TREND_WEEKS + 1)
                with gc_paused():
                    self.rows = open_bugs.open_for_developers(s)
                    self.dates = open_bugs.trend_dates(s, since, ctx.fixed_resolution,
                                                       ctx.closed_statuses)
                self.key, self.at, queries = key, time.monotonic(), 4
        return build_triage(self.rows, self.dates, filters, now, ctx.stale_days, queries,
                            TREND_WEEKS)
