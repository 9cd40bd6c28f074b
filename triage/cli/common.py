"""What every subcommand shares: settings and store loading, the write-mode flags, exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from triage.config import ConfigError, Settings, load_settings
from triage.display import inert
from triage.logscrub import install as install_log_scrubber

if TYPE_CHECKING:  # the store pulls SQLAlchemy and Alembic: only commands that use it pay
    from triage.store import Store

# Exit codes a script can rely on (docs/cli.md lists them).
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure
EXIT_USAGE = 2  # click's own usage errors
EXIT_CONFIG = 3  # missing or invalid configuration
EXIT_UNAVAILABLE = 4  # an external service (Bugzilla, IMAP, SMTP, wiki, Buildbot) failed
EXIT_ABORTED = 5  # a safety limit (change cap, kill switch) stopped the run
EXIT_NOT_FOUND = 6  # the thing asked for does not exist
EXIT_INPUT = 7  # bad input data (a file that cannot be read or parsed)
EXIT_FAILED_CELLS = 8  # `farm run` finished and at least one cell failed

log = logging.getLogger("xentriage")
F = TypeVar("F", bound=Callable[..., Any])


def configure_logging(level: int) -> None:
    logging.basicConfig(
        level=max(logging.DEBUG, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Secrets are masked on the handlers, where every logger's records end up (triage.logscrub).
    install_log_scrubber()


@dataclass
class AppContext:
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except ConfigError as exc:
                fail(f"configuration error: {exc}", EXIT_CONFIG)
        return self._settings

    @property
    def store(self) -> Store:
        """The store, migrated to the newest schema on first use."""
        if self._store is None:
            from triage.store import Store, StoreError
            from triage.store.db import redact_url

            url = self.settings.store_url
            try:
                store = Store(url)
                store.migrate()
            except StoreError as exc:
                fail(f"store error ({redact_url(url)}): {exc}", EXIT_UNAVAILABLE)
            self._store = store
        return self._store


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Every line the CLI prints: through the one terminal sanitiser (:mod:`triage.display`),
    because bug and mail text reaches almost every command's output."""
    click.echo(inert(message), err=err, nl=nl)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    echo(f"xentriage: {message}", err=True)
    sys.exit(code)


def app(ctx: click.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    if obj is None:  # a subcommand invoked without the group (tests calling it directly)
        obj = AppContext()
        ctx.obj = obj
    return obj


def write_mode_options(func: F) -> F:
    """``--dry-run`` (the default) / ``--production``, plus ``--change-cap``.

    The resolved mode reaches the command as ``production: bool`` and ``change_cap: int``. The
    config's ``safety.production`` is the default; the kill switch always wins.
    """

    @click.option(
        "--production/--dry-run",
        "production",
        default=None,
        help="Really write to Bugzilla / mail / wiki. Default: dry run (print the plan).",
    )
    @click.option(
        "--change-cap",
        type=click.IntRange(min=0),
        default=None,
        help="Abort the run if it plans more writes than this (default: safety.change_cap).",
    )
    @click.pass_context
    @functools.wraps(func)
    def wrapper(
        ctx: click.Context, *args: Any, production: bool | None, change_cap: int | None,
        **kwargs: Any,
    ) -> Any:
        settings = app(ctx).settings
        writes = settings.writes_enabled(production)
        if production and settings.safety.kill_switch:
            echo("xentriage: safety.kill_switch is on: running as a dry run", err=True)
        cap = settings.safety.change_cap if change_cap is None else change_cap
        return ctx.invoke(func, *args, production=writes, change_cap=cap, **kwargs)

    return wrapper  # type: ignore[return-value]


def open_tracker_or_exit(settings: Settings, *, production: bool = False) -> Any:
    """The configured tracker, or exit 3 (a missing API key) / 4 (Bugzilla unreachable)."""
    from triage.adapters import open_tracker
    from triage.adapters.tracker import TrackerError
    from triage.config import SecretUnavailable

    try:
        return open_tracker(settings, production=production)
    except SecretUnavailable as exc:
        fail(str(exc), EXIT_CONFIG)
    except TrackerError as exc:
        fail(f"cannot open the tracker: {exc}", EXIT_UNAVAILABLE)
