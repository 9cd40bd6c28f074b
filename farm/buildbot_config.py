"""Build Buildbot's ``BuildmasterConfig`` (``c[...]``) from the matrix and the declared workers.

Real builders: one per (platform, arch). Cells: virtual builders on them (DESIGN §4: 500 real
builders took ~37 s to start and scheduled with 20-50 s gaps; 4 real builders with virtual names
start in ~5 s). ``collapseRequests=False`` because requests differing only in the cell property
would otherwise be merged and cells silently not built.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from buildbot.plugins import schedulers, steps, util
from buildbot.process.factory import BuildFactory

from farm.longest_first import LongestFirst
from farm.master_db import (
    MasterDbError,
    SqliteConnections,
    SqliteSynchronous,
    db_config,
    normalize_url,
)
from farm.matrix import Matrix, MatrixError, check_unique_names, load_matrix
from farm.quarantine import FarmWorker
from farm.routing import Route, WorkerSpec, load_workers, route
from farm.schedulers import SNAPSHOT_CATEGORY, cell_scheduler
from farm.steps import CellBuild, RunCell, cell_step
from triage.validation import Port, Range, validate

log = logging.getLogger(__name__)

SETTINGS_FILE = "farm.json"  # in the master's basedir, written by `xentriage farm up`
FORCE_SCHEDULER = "force-cells"
CHANGE_SCHEDULER = "on-change"
NIGHTLY_SCHEDULER = "nightly"


RequestOrder = Literal["longest-first", "submitted"]
EnvironmentQuarantine = Literal["after-streak", "always"]


class FarmSettingsError(MatrixError, ValueError):
    """farm.json is invalid; ``key`` names the setting (a ValueError, as it always was)."""


@dataclass(frozen=True)
class MasterSettings:
    matrix: Path
    workers: Path
    pb_port: Port = 9989
    www_port: Port | None = None
    db_url: str = "sqlite:///state.sqlite"
    title: str = "xentriage CI farm"
    nightly_hour: Annotated[int, Range(0, 23)] = 2
    nightly_minute: Annotated[int, Range(0, 59)] = 0
    # Benchmark comparison only: one real builder per cell (what DESIGN §4 measured as slow).
    builder_per_cell: bool = False
    # The triage store the CI matrix page reads linked bugs from (None: every cell "no bug"),
    # and the Bugzilla its bug links point at.
    store_url: str | None = None
    bugzilla_url: str = ""
    # CI linking: the triage service's intake (farm.reporter) and the file holding the HMAC key
    # shared with it (relative to the basedir; else $XENTRIAGE_CI_HMAC_SECRET). Empty: no push.
    ci_intake_url: str = ""
    ci_secret_file: str = ""
    ci_master_name: str = ""
    # The master's SQLite database (farm.master_db): one connection kept open, WAL's
    # synchronous = NORMAL; "per-operation" / "full" are Buildbot's own behaviour.
    sqlite_connections: SqliteConnections = "reuse"
    sqlite_synchronous: SqliteSynchronous = "normal"
    # Buildbot c[...] keys set over the generated ones (the benchmark's variants, a site's
    # own logCompressionMethod or caches); JSON values only.
    master_overrides: dict[str, Any] = field(default_factory=dict)
    # Benchmark: count the master's SQL statements and commits (farm.master_stats).
    count_statements: bool = False
    # A bisection builder beside each real builder, fed by its own force scheduler
    # (farm.bisect_builder): bisections run their steps on the farm's workers.
    bisect_builders: bool = True
    # farm.longest_first: the longest expected cell first, or Buildbot's submission order.
    request_order: RequestOrder = "longest-first"
    # farm.quarantine: a worker's environment verdict quarantines it only after a streak, or
    # "always" (Buildbot's own: every EXCEPTION build).
    environment_quarantine: EnvironmentQuarantine = "after-streak"

    @property
    def buildbot_url(self) -> str:
        return f"http://127.0.0.1:{self.www_port or 8010}/"


def load_master_settings(basedir: Path, ci_dir: Path) -> MasterSettings:
    """``farm.json`` in the master's basedir if present, else the committed defaults in ci/."""
    path = basedir / SETTINGS_FILE
    defaults = MasterSettings(matrix=ci_dir / "matrix.toml", workers=ci_dir / "workers.json")
    if "XENTRIAGE_FARM_MATRIX" in os.environ:
        defaults = MasterSettings(matrix=Path(os.environ["XENTRIAGE_FARM_MATRIX"]),
                                  workers=defaults.workers)
    if not path.exists():
        return defaults
    try:
        doc = json.loads(path.read_bytes())
    except ValueError as exc:
        raise FarmSettingsError(SETTINGS_FILE, f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FarmSettingsError(SETTINGS_FILE, "must be a JSON object")
    # Every key is optional in the file: validate it merged over the defaults.
    settings: MasterSettings = validate(
        MasterSettings, {**_jsonable(defaults), **doc}, prefix="",
        error=lambda key, msg: FarmSettingsError(key, f"{msg} (in {SETTINGS_FILE})"))
    for key in ("matrix", "workers"):
        if key in doc:
            settings = replace(settings, **{key: (basedir / getattr(settings, key)).resolve()})
    try:
        settings = replace(settings, db_url=normalize_url(settings.db_url))
    except MasterDbError as exc:
        raise FarmSettingsError("db_url", f"{exc} (in {SETTINGS_FILE})") from None
    if settings.ci_secret_file:
        settings = replace(settings,
                           ci_secret_file=str((basedir / settings.ci_secret_file).resolve()))
    return settings


def _jsonable(settings: MasterSettings) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in settings.__dict__.items()}


def worker_password(spec: WorkerSpec) -> str:
    if spec.password_file is not None:
        return spec.password_file.read_text(encoding="utf-8").strip()
    env = "XENTRIAGE_WORKER_PASSWORD_" + spec.name.upper().replace("-", "_")
    if os.environ.get(env):
        return os.environ[env]
    # No password configured: nothing can log in as this worker (a safe failure); say so
    # without ever printing a password.
    log.warning("worker %s has no password_file and no $%s: it cannot connect", spec.name, env)
    return secrets.token_hex(16)


def cell_factory(matrix: Matrix, cells: dict[str, Any],
                 boot_expected: frozenset[str] = frozenset(),
                 order: LongestFirst | None = None) -> BuildFactory:
    """``order``: the builds report their start and duration to it (farm.longest_first)."""
    farm = matrix.farm
    f = BuildFactory()
    f.buildClass = (CellBuild if order is None else
                    type("CellBuild", (CellBuild,), {"longest_first": order}))

    def is_git(step: Any) -> bool:
        return bool(cells[step.getProperty("cell")].tree.is_git)

    @util.renderer
    def git_url(props: Any) -> str:
        return cells[props.getProperty("cell")].tree.url or ""

    @util.renderer
    def git_branch(props: Any) -> str:
        return cells[props.getProperty("cell")].tree.branch

    @util.renderer
    def git_workdir(props: Any) -> str:
        return "trees/" + cells[props.getProperty("cell")].tree.name

    # Each step costs Buildbot a few dozen database writes; add the git step only when a tree
    # needs it.
    if any(c.tree.is_git for c in cells.values()):
        f.addStep(steps.Git(name="update tree", repourl=git_url, branch=git_branch,
                            workdir=git_workdir, mode="incremental", doStepIf=is_git,
                            hideStepIf=lambda results, step: not is_git(step),
                            haltOnFailure=True))
    f.addStep(cell_step(RunCell, cells, farm, boot_expected))
    return f


def _farm_worker(spec: WorkerSpec, settings: MasterSettings) -> FarmWorker:
    w = FarmWorker(spec.name, worker_password(spec), max_builds=spec.max_builds)
    if settings.environment_quarantine == "always":
        w.environment_streak_limit = 1
    return w


def cache_sizes(cell_count: int) -> dict[str, int]:
    """Buildbot's default BuildRequests cache holds one entry, so every distribution round
    re-reads each pending request's buildset, properties and source stamps; a full-matrix run
    has a request per cell pending at once."""
    pending = max(100, 2 * cell_count)
    return {"BuildRequests": pending, "SourceStamps": pending, "ssdicts": pending,
            "chdicts": 100, "Changes": 100, "Builds": 100}


def build_master_config(settings: MasterSettings, basedir: Path | None = None
                        ) -> dict[str, Any]:
    """``basedir``: the master's (where a relative SQLite path lives); default: the current
    directory, which is the basedir when Buildbot runs master.cfg."""
    matrix = load_matrix(settings.matrix)
    specs = load_workers(settings.workers)
    cell_list = matrix.cells()
    per_cell = settings.builder_per_cell
    # The one check of the builder namespace: real and per-cell virtual names share Buildbot's
    # builder table (with one real builder per cell, the cell names alone).
    check_unique_names(cell_list, [] if per_cell else matrix.real_builders())
    cells = {c.name: c for c in cell_list}
    used_builders = sorted({c.real_builder for c in cell_list})

    routes: dict[str, Route] = {}
    # Every kind's cells name their (platform, arch): Rumprun's hw/xen are not [[platform]]s.
    pairs = [(p, a) for p in matrix.platforms for a in matrix.archs]
    pairs += [(c.platform, c.arch) for c in cell_list if (c.platform, c.arch) not in pairs]
    for plat, arch in pairs:
        r = route(plat, arch, specs)
        if r.builder in used_builders and r.builder not in routes:
            routes[r.builder] = r
            log.info("routing %s: %s", r.builder, r.note)

    # A builder routed to workers that declared they boot its platform/arch: a boot those
    # workers then cannot run is the worker's fault (environment), not "no capable worker".
    booting = frozenset(n for n, r in routes.items() if r.boot_capable)
    # Longest expected cell first (farm.longest_first): the slow cells start while the quick
    # ones fill in around them, not at the end of a run.
    order = LongestFirst(cells, booting, matrix.farm.boot_timeout,
                         by_expected=settings.request_order == "longest-first")
    factory = cell_factory(matrix, cells, booting, order)
    builders = [
        util.BuilderConfig(
            name=name, workernames=list(routes[name].workers), factory=factory,
            collapseRequests=False, description=routes[name].note,
            tags=["farm", *name.split("-", 1)],
        )
        for name in used_builders
    ]
    if per_cell:
        builders = [
            util.BuilderConfig(
                name=cell.name, workernames=list(routes[cell.real_builder].workers),
                factory=factory, collapseRequests=False)
            for cell in cell_list
        ]
        used_builders = [cell.name for cell in cell_list]
    c: dict[str, Any] = {
        "title": settings.title,
        "titleURL": settings.buildbot_url,
        "buildbotURL": settings.buildbot_url,
        # No builder or worker properties: every property is a database write per build, and
        # routing (which worker builds and boots what) is decided here, not in the steps.
        # FarmWorker: no quarantine for one cell's environment verdict (farm.quarantine).
        "workers": [_farm_worker(s, settings) for s in specs],
        "protocols": {"pb": {"port": f"tcp:{settings.pb_port}:interface=127.0.0.1"}},
        "builders": builders,
        "schedulers": [
            cell_scheduler(schedulers.AnyBranchScheduler, cell_list, by_change=True,
                           per_cell=per_cell, order=order)(
                name=CHANGE_SCHEDULER, builderNames=used_builders, treeStableTimer=None,
                # The farm's own revision records for forced/nightly runs are not news.
                change_filter=util.ChangeFilter(category_not_eq=SNAPSHOT_CATEGORY)),
            cell_scheduler(schedulers.Nightly, cell_list, per_cell=per_cell, order=order)(
                name=NIGHTLY_SCHEDULER, builderNames=used_builders,
                hour=settings.nightly_hour, minute=settings.nightly_minute,
                onlyIfChanged=False),
            cell_scheduler(schedulers.ForceScheduler, cell_list, per_cell=per_cell, order=order)(
                name=FORCE_SCHEDULER, builderNames=used_builders,
                buttonName="Run cells", label="Run matrix cells",
                properties=[util.StringParameter(
                    name="cells", label="Cells (glob patterns, comma-separated)",
                    default="*", size=60)]),
        ],
        "db": db_config(settings.db_url, basedir or Path.cwd(), settings.sqlite_connections,
                        settings.sqlite_synchronous),
        "buildbotNetUsageData": None,
        # Several cells share a real builder; do not let one request wait on another's merge.
        "collapseRequests": False,
        "prioritizeBuilders": order.prioritize,
        "caches": cache_sizes(len(cell_list)),
    }
    c["services"] = _services(settings)
    if settings.bisect_builders:
        _add_bisection(c, matrix, cells, routes, booting, set(used_builders))
    if settings.count_statements:
        from farm.master_stats import StatementCounter

        c["services"].append(StatementCounter(str(basedir or Path.cwd())))
    c.update(settings.master_overrides)
    if settings.www_port is not None:
        c["www"] = {
            "port": f"tcp:{settings.www_port}:interface=127.0.0.1",
            "plugins": _www_plugins(settings),
            "change_hook_dialects": {"base": True},
        }
    return c


def _add_bisection(c: dict[str, Any], matrix: Matrix, cells: dict[str, Any],
                   routes: dict[str, Route], boot_expected: frozenset[str],
                   taken: set[str]) -> None:
    from farm.bisect_builder import bisect_builders, bisect_scheduler

    builders = bisect_builders(matrix, cells, routes, boot_expected, taken)
    c["builders"] += builders
    c["schedulers"].append(bisect_scheduler([b.name for b in builders]))


def _services(settings: MasterSettings) -> list[Any]:
    """The CI reporter when an intake is configured (farm.reporter, docs/ci-linking.md)."""
    if not settings.ci_intake_url:
        return []
    from farm.reporter import CellResultPush

    secret = os.environ.get("XENTRIAGE_CI_HMAC_SECRET", "")
    if settings.ci_secret_file:
        secret = Path(settings.ci_secret_file).read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError("ci_intake_url is set but no HMAC secret (ci_secret_file or "
                         "$XENTRIAGE_CI_HMAC_SECRET)")
    return [CellResultPush(settings.ci_intake_url, secret,
                           master=settings.ci_master_name or settings.buildbot_url.rstrip("/"))]


def _www_plugins(settings: MasterSettings) -> dict[str, Any]:
    plugins: dict[str, Any] = {}
    for name in ("grid_view", "console_view", "waterfall_view", "wsgi_dashboards"):
        try:
            __import__(f"buildbot_{name}")
        except ImportError:
            continue
        plugins[name] = {}
    if "wsgi_dashboards" in plugins:
        # The CI matrix and triage pages (triage.web), as menu entries of Buildbot's UI.
        from triage.web.wiring import dashboards

        plugins["wsgi_dashboards"] = dashboards(settings.matrix, settings.buildbot_url,
                                                settings.store_url, settings.bugzilla_url)
    return plugins
