"""The ``xentriage`` command.

Subcommands live one per module, ``triage/cli/cmd_<name>.py``, each exposing ``command`` (a click
command or group). They are discovered here so that a feature adds its commands without editing a
shared list. Exit codes are in :mod:`triage.cli.common` and documented in docs/cli.md.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click

from triage import __version__
from triage.cli.common import AppContext, configure_logging


def _discover(group: click.Group) -> None:
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("cmd_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise RuntimeError(f"{module.__name__} must expose a click command named 'command'")
        group.add_command(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


_discover(main)
