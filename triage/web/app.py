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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from flask import Flask, Response, jsonify, request
from markupsafe import Markup

from triage.rules.base import sanitize
from triage.store import Store
from triage.store.ci_links import CellBug, bugs_by_cell
from triage.store.open_bugs import open_for_developers, trend_dates
from triage.web import buildbot_db, charts, links, serialise
from triage.web.matrix_model import (
    CellSpec,
    CellView,
    Filters,
    MatrixView,
    arrange,
    cell_views,
    red_since_needing_revision,
    with_red_since_revisions,
)
from triage.web.states import legend
from triage.web.triage_model import SECTIONS, TriageFilters, TriageView, build_triage

TEMPLATES = Path(__file__).parent / "templates"


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
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class _Cached:
    key: Any = None
    at: float = 0.0
    views: dict[str, CellView] = field(default_factory=dict)
    html: dict[str, Markup] = field(default_factory=dict)  # each cell's rendered <td> body


class MatrixData:
    """Every cell's view (and its rendered HTML), rebuilt when a build started or finished
    (the fingerprint moved) or the cache aged out; filters only choose among them."""

    def __init__(self, ctx: WebContext, render_cell: Callable[[CellView], Markup]) -> None:
        self.ctx = ctx
        self.render_cell = render_cell
        self.lock = threading.Lock()
        self.cached = _Cached()

    def get(self) -> tuple[_Cached, int]:
        ctx, queries = self.ctx, 0
        key = None
        if ctx.builds is not None:
            key = ctx.builds.run(buildbot_db.fingerprint)
            queries += 1
        with self.lock:
            c = self.cached
            if c.at > 0 and c.key == key and time.monotonic() - c.at < ctx.cache_seconds:
                return c, queries
            records: list[buildbot_db.BuildRecord] = []
            if ctx.builds is not None:
                records = ctx.builds.run(
                    lambda conn: buildbot_db.fetch_history(conn, ctx.history))
                queries += buildbot_db.HISTORY_QUERIES
            bugs: dict[str, CellBug] = {}
            if ctx.store is not None:
                with ctx.store.session() as s:
                    bugs = bugs_by_cell(s)
                queries += 1
            views = cell_views(ctx.specs, records, bugs, ctx.now(), ctx.history)
            missing = red_since_needing_revision(views)
            if missing and ctx.builds is not None:
                revisions = ctx.builds.run(lambda conn: buildbot_db.fetch_revisions(conn,
                                                                                   missing))
                views = with_red_since_revisions(views, revisions)
                queries += 1
            self.cached = _Cached(key, time.monotonic(), views,
                                  {n: self.render_cell(v) for n, v in views.items()})
            return self.cached, queries


def _multi(name: str) -> frozenset[str]:
    return frozenset(v for raw in request.args.getlist(name) for v in raw.split(",") if v)


def _clean(value: object, max_length: int = 200) -> str:
    return str(sanitize(value, max_length=max_length, defuse_markers=False))


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(max(0, seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}"
    return f"{s} s"


def _short_revision(rev: object) -> str:
    # A content hash (farm.revisions) reads like a git hash once its prefix is dropped.
    return str(rev).removeprefix("content-")[:10] if rev else "?"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        autoescape=True, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters["clean"] = _clean
    env.filters["age"] = _age
    env.filters["short"] = _short_revision
    env.filters["pct"] = lambda v: "-" if v is None else f"{round(100 * v)}%"
    return env


def create_app(ctx: WebContext, home: str = "matrix") -> Flask:
    """``home``: what ``/`` and ``/index.html`` show (``matrix`` or ``triage``)."""
    app = Flask(__name__)
    env = _environment()
    cell_template = env.get_template("_cell.html.j2")

    def render_cell(view: CellView) -> Markup:
        return Markup(cell_template.render(c=view, ctx=ctx, links=links))  # noqa: S704 - autoescaped template

    data = MatrixData(ctx, render_cell)
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
        view = arrange(ctx.specs, cached.views, filters, ctx.now(), queries, ctx.history)
        if request.args.get("format") == "json":
            return jsonify(serialise.matrix(view, ctx))
        chart = charts.rate_bars(
            f"Pass rate per platform/arch over the last {ctx.history} results of each cell",
            _rate_bars(view))
        return page("matrix.html.j2", view=view, chart=chart, cell_html=cached.html, **_query_strings(filters.as_query()))

    def triage_page() -> Response:
        filters = TriageFilters(section=_multi("section"), product=_multi("product"),
                                component=_multi("component"), claimer=_multi("claimer"),
                                stale=request.args.get("stale") == "1")
        view = triage_view(ctx, filters)
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
        return page("triage.html.j2", view=view, chart=chart, **_query_strings(filters.as_query()))

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


def triage_view(ctx: WebContext, filters: TriageFilters) -> TriageView:
    now = ctx.now()
    if ctx.store is None:
        return build_triage([], [], filters, now, ctx.stale_days, 0)
    with ctx.store.session() as s:
        rows = open_for_developers(s)
        dates = trend_dates(s)
    return build_triage(rows, dates, filters, now, ctx.stale_days, 2)
