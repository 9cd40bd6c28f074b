"""The ``xentriage`` command.

Subcommands live one per module, ``triage/cli/cmd_<name>.py``, each exposing ``command`` (a click
command or group). They are discovered by module name (:mod:`triage.cli.lazy`), listed from their
source and imported only when run, so a feature adds its commands without editing a shared list
and ``--help`` does not pay for Buildbot. Exit codes are in :mod:`triage.cli.common` and
documented in docs/cli.md.
"""

from __future__ import annotations

import logging

import click

from triage import __version__
from triage.cli.common import AppContext, configure_logging
from triage.cli.lazy import LazyGroup


@click.group(cls=LazyGroup, package=__name__, package_paths=list(__path__),
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    envvar="XENTRIAGE_CONFIG",
    help="TOML configuration file (default: $XENTRIAGE_CONFIG, else embedded defaults).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="xentriage")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Xen bug triage: Bugzilla and mailing-list automation, and the unikernel CI farm."""
    configure_logging(logging.WARNING - 10 * verbose)
    ctx.obj = AppContext(config_path=config_path)

