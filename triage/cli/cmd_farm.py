"""``xentriage farm``: the local CI farm (list cells, start, run the matrix, stop)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from farm import localfarm
from farm.matrix import MatrixError, load_matrix
from farm.table import rows_from_builds
from triage.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED_CELLS,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    app,
    echo,
)
from triage.cli.farm_view import describe_error, progress_display, result_table

DEFAULT_MATRIX = localfarm.CI_DIR / "matrix.toml"
# `farm run` only: the run completed and at least one cell failed (build, boot or timeout).

_matrix_opt = click.option(
    "--matrix", "matrix_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_MATRIX, show_default=True, envvar="XENTRIAGE_FARM_MATRIX",
    help="Matrix file.")
_state_opt = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/farm"), show_default=True, help="Where the local master and workers live.")


@click.group("farm")
def command() -> None:
    """The unikernel CI farm: every library x platform x arch cell, built and booted."""


@command.command("cells")
@_matrix_opt
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cells_cmd(matrix_path: Path, as_json: bool) -> None:
    """List the matrix's expanded cells."""
    try:
        cells = load_matrix(matrix_path).cells()
    except (MatrixError, OSError) as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if as_json:
        echo(json.dumps([{
            "name": c.name, "tree": c.tree.name, "app": c.app.name,
            "libraries": [lib.name for lib in c.libraries], "platform": c.platform.name,
            "arch": c.arch.name, "builder": c.real_builder, "boot_timeout": c.boot_timeout,
            "success_lines": list(c.success_lines),
        } for c in cells], indent=2))
        return
    for c in cells:
        echo(f"{c.name:50s} {c.real_builder}")
    echo(f"{len(cells)} cells", err=True)


@command.command("up")
@_matrix_opt
@_state_opt
@click.option("--bare-worker", is_flag=True,
              help="Also start a second worker without cross compiler and QEMU (PATH "
                   "restricted), to see capability routing.")
@click.option("--max-builds", default=2, show_default=True, help="Parallel builds per worker.")
@click.option("--www-port", type=int, default=None, help="Web UI/REST port (default: free).")
@click.option("--master-cpus", metavar="LIST", default=None,
              help="Pin the master to these CPUs (e.g. 0), so its database work never competes "
                   "with builds. Default: no pinning.")
@click.option("--worker-cpus", metavar="LIST", default=None,
              help="Pin the worker(s) and their builds to these CPUs (e.g. 1-7).")
@click.option("--store/--no-store", "with_store", default=True, show_default=True,
              help="Show the configured store's bugs on the UI's CI matrix and triage pages.")
@click.option("--db", "db_url", metavar="URL", default=None,
              help="The master's database (Buildbot's db_url), e.g. "
                   "postgresql://buildbot@127.0.0.1:5432/buildbot; a password goes in "
                   "$PGPASSWORD or ~/.pgpass. Default: SQLite in the master's directory.")
@click.pass_context
def up_cmd(ctx: click.Context, matrix_path: Path, state_dir: Path, bare_worker: bool,
           max_builds: int, www_port: int | None, master_cpus: str | None,
           worker_cpus: str | None, with_store: bool, db_url: str | None) -> None:
    """Start a local master and worker(s) on 127.0.0.1 (SQLite unless --db, state in
    --state-dir). Its web UI has the CI matrix and Triage pages in the menu."""
    from farm.master_db import MasterDbError, normalize_url

    try:
        m_cpus = localfarm.parse_cpus(master_cpus) if master_cpus else None
        w_cpus = localfarm.parse_cpus(worker_cpus) if worker_cpus else None
        if db_url is not None:
            normalize_url(db_url)  # a bad URL is a usage error, before anything starts
    except MasterDbError as exc:
        echo(f"error: --db: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except localfarm.FarmError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    plans = [localfarm.WorkerPlan("local", max_builds=max_builds, cpus=w_cpus)]
    if bare_worker:
        plans.append(localfarm.WorkerPlan("bare", max_builds=max_builds, cpus=w_cpus,
                                          hide_tools=localfarm.NO_CROSS_NO_QEMU))
    web: dict[str, object] = {}
    if with_store:
        from triage.web.wiring import absolute_sqlite  # Flask: only when the pages are served

        a = app(ctx)
        a.store.dispose()  # migrated (the master's pages read it), not kept open here
        web = {"store_url": absolute_sqlite(a.settings.store_url, Path.cwd()),
               "bugzilla_url": a.settings.bugzilla.url}
    try:
        load_matrix(matrix_path)
        state = localfarm.up(state_dir, matrix_path, plans, www_port=www_port,
                             master_cpus=m_cpus, master_settings=web, db_url=db_url)
    except MatrixError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except localfarm.FarmError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    echo(f"farm up: web UI and REST API at http://127.0.0.1:{state.www_port}/ "
         f"(workers: {', '.join(p.name for p in plans)}); CI matrix: "
         f"http://127.0.0.1:{state.www_port}/#/matrix")


@command.command("run")
@_state_opt
@click.option("--cells", "pattern", default="*", show_default=True,
              help="Glob pattern(s), comma-separated, of the cells to run.")
@click.option("--timeout", default=3600, show_default=True, help="Seconds to wait.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--wide", is_flag=True,
              help="Show each cell's whole reason (wrapped) instead of cutting it at the "
                   "terminal's width.")
def run_cmd(state_dir: Path, pattern: str, timeout: int, as_json: bool, wide: bool) -> None:
    """Force a run on the local farm, wait for it, print the result matrix."""
    step = "reading the farm's state"
    try:
        state = localfarm.load_state(state_dir)
    except localfarm.FarmError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    try:
        step = "asking the master for its last build"
        before = localfarm.max_build_id(state)
        step = f"forcing a run of the cells {pattern!r}"
        localfarm.force(state, pattern)
        step = "waiting for the run to finish"
        with progress_display(state, before) as on_poll:
            localfarm.wait_idle(state, timeout, on_poll=on_poll)
        step = "reading the run's results"
        rows = rows_from_builds(localfarm.builds_since(state, before))
    except localfarm.FarmError as exc:
        echo(f"error: {step}: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except Exception as exc:  # requests' errors and bad answers: the master is not answering
        echo(f"error: farm run failed {step}: {describe_error(exc, state.api)}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    if as_json:
        echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        echo(result_table(rows, wide=wide))
    # An environment failure is not a code defect but still leaves the cell unverified.
    bad = {"build-failed", "boot-failed", "boot-timeout", "environment"}
    if any(r.result in bad for r in rows):
        sys.exit(EXIT_FAILED_CELLS)


@command.command("down")
@_state_opt
def down_cmd(state_dir: Path) -> None:
    """Stop the local farm's workers and master."""
    stopped = localfarm.down(state_dir)
    echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
