"""Assembling the web app: inside the Buildbot master (a wsgi_dashboards entry) or standalone.

Both read the same things: the matrix file (every cell has its place, even one that never ran),
Buildbot's database (through the master's pool, or an engine on its URL) and, when a store URL
is given, the triage store (bugs linked to cells, the triage list).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask

from farm.matrix import Cell, load_matrix
from triage.store import Store
from triage.web.app import WebContext, create_app
from triage.web.buildbot_db import EngineDatabase, MasterPool
from triage.web.matrix_model import CellSpec

log = logging.getLogger(__name__)


def cell_specs(cells: Iterable[Cell]) -> list[CellSpec]:
    return [CellSpec(c.name, c.tree.name, c.tree.branch if c.tree.is_git else "local",
                     c.app.name, c.libset, tuple(lib.name for lib in c.libraries),
                     c.platform.name, c.arch.name) for c in cells]


def absolute_sqlite(url: str, base: Path) -> str:
    """A relative ``sqlite:///path`` made absolute against ``base`` (the master runs in its
    own basedir, not where ``farm up`` was started)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/"):
        return prefix + str((base / url[len(prefix):]).resolve())
    return url


class _LazyMasterPool(MasterPool):
    """The dashboard app exists before buildbot-wsgi-dashboards hands it its API object."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    @property  # type: ignore[override]
    def api(self) -> Any:
        return self.app.buildbot_api  # type: ignore[union-attr]


def dashboards(matrix_path: Path, buildbot_url: str, store_url: str | None,
               bugzilla_url: str = "", history: int = 20) -> list[dict[str, Any]]:
    """The ``c['www']['plugins']['wsgi_dashboards']`` entries: the matrix and the triage page
    (one app each, so each menu entry's index.html is its own page)."""
    specs = cell_specs(load_matrix(matrix_path).cells())
    store = Store(store_url) if store_url else None
    out = []
    for name, caption, icon, order in (("matrix", "CI matrix", "table", 4),
                                       ("triage", "Triage", "bug", 5)):
        pool = _LazyMasterPool()
        ctx = WebContext(specs=specs, builds=pool, store=store, buildbot_url=buildbot_url,
                         bugzilla_url=bugzilla_url, history=history)
        app = pool.app = create_app(ctx, home=name)
        out.append({"name": name, "caption": caption, "app": app, "icon": icon,
                    "order": order})
    return out


def standalone_app(matrix_path: Path, buildbot_db_url: str | None, buildbot_url: str,
                   store: Store | None, bugzilla_url: str = "", history: int = 20,
                   cache_seconds: float = 15.0, stale_days: int = 30,
                   closed_statuses: tuple[str, ...] = ("RESOLVED", "VERIFIED"),
                   fixed_resolution: str = "FIXED") -> Flask:
    specs = cell_specs(load_matrix(matrix_path).cells())
    builds = EngineDatabase(buildbot_db_url) if buildbot_db_url else None
    return create_app(WebContext(specs=specs, builds=builds, store=store,
                                 buildbot_url=buildbot_url, bugzilla_url=bugzilla_url,
                                 history=history, cache_seconds=cache_seconds,
                                 stale_days=stale_days, closed_statuses=closed_statuses,
                                 fixed_resolution=fixed_resolution))
