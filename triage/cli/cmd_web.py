"""``xentriage web``: the CI matrix and triage pages on their own (also inside Buildbot's UI).

Reads the farm's Buildbot database (``--state-dir`` of ``xentriage farm up``, or
``--buildbot-db``) and the configured store; serves on 127.0.0.1 by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from farm import localfarm
from farm.matrix import MatrixError
from triage.cli.common import EXIT_CONFIG, EXIT_NOT_FOUND, app, echo, fail
from triage.web.wiring import absolute_sqlite, standalone_app


@click.command("web")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("var/farm"), show_default=True,
              help="The local farm (`farm up`): its matrix, database and web UI URL.")
@click.option("--matrix", "matrix_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Matrix file (default: the farm's, else ci/matrix.toml).")
@click.option("--buildbot-db", default=None, metavar="URL",
              help="Buildbot's database URL (default: the farm's state.sqlite).")
@click.option("--buildbot-url", default=None, metavar="URL",
              help="Buildbot's web UI, for build and log links (default: the farm's).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8020, show_default=True, type=int)
@click.option("--history", default=20, show_default=True, type=click.IntRange(1, 200),
              help="Results per cell in the history strip.")
@click.pass_context
def command(ctx: click.Context, state_dir: Path, matrix_path: Path | None,
            buildbot_db: str | None, buildbot_url: str | None, host: str, port: int,
            history: int) -> None:
    """Serve the CI matrix (/matrix.html) and triage (/triage.html) pages."""
    a = app(ctx)
    settings_file = state_dir / "master" / "farm.json"
    farm: dict[str, object] = {}
    if settings_file.exists():
        farm = json.loads(settings_file.read_text(encoding="utf-8"))
    matrix = matrix_path or Path(str(farm.get("matrix") or localfarm.CI_DIR / "matrix.toml"))
    if buildbot_db is None and farm:
        buildbot_db = absolute_sqlite(str(farm.get("db_url") or "sqlite:///state.sqlite"),
                                      state_dir / "master")
    if buildbot_db is None:
        fail(f"no farm in {state_dir} and no --buildbot-db given", EXIT_NOT_FOUND)
    if buildbot_url is None:
        buildbot_url = f"http://127.0.0.1:{farm['www_port']}/" if farm.get("www_port") else ""
    try:
        web = standalone_app(matrix, buildbot_db, buildbot_url, a.store,
                             bugzilla_url=a.settings.bugzilla.url, history=history,
                             closed_statuses=tuple(a.settings.bugzilla.workflow.closed_statuses),
                             fixed_resolution=a.settings.bugzilla.workflow.fixed_resolution)
    except (MatrixError, OSError) as exc:
        fail(f"matrix: {exc}", EXIT_CONFIG)
    # The first full read of every cell's history is the slow one: do it before serving.
    web.extensions["xentriage.data"].get()
    echo(f"web: http://{host}:{port}/matrix.html and /triage.html")
    from werkzeug.serving import run_simple

    run_simple(host, port, web, threaded=True)
