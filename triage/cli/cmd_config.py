"""``xentriage config``: validate and show the configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from triage.cli.common import EXIT_CONFIG, app, echo, fail
from triage.config import ConfigError, Secret, Settings, iter_settings, load_settings


@click.group("config")
def command() -> None:
    """Validate or show the configuration."""


def _validate_extras(settings: Settings) -> tuple[list[str], list[str]]:
    """Checks beyond types: per-rule tables and whether secrets can be found.
    Returns (problems, warnings)."""
    problems: list[str] = []
    warnings: list[str] = []
    from triage.rules import validate_rule_settings  # the rules validate their own tables

    try:
        validate_rule_settings(settings)
    except ConfigError as exc:
        problems.append(str(exc))
    if settings.bugzilla.url and not settings.bugzilla_api_key().is_set():
        # Reads work anonymously (public bugs only); writes cannot.
        (problems if settings.writes_enabled() else warnings).append(
            "bugzilla.api_key_env: no API key found (set the environment variable "
            f"{settings.bugzilla.api_key_env} or bugzilla.api_key_file): reads are anonymous "
            "and writes will fail"
        )
    if not settings.bugzilla.url and not settings.bugzilla.snapshot.exists():
        problems.append(f"bugzilla.snapshot: file not found: {settings.bugzilla.snapshot}")
    return problems, warnings


@command.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def check(ctx: click.Context, path: Path | None) -> None:
    """Validate a configuration file (default: the one in use). Exit 3 if invalid."""
    try:
        settings = load_settings(path) if path else app(ctx).settings
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
    problems, warnings = _validate_extras(settings)
    for w in warnings:
        echo(f"xentriage: warning: {w}", err=True)
    if problems:
        for p in problems:
            echo(f"xentriage: configuration error: {p}", err=True)
        raise SystemExit(EXIT_CONFIG)
    where = settings.source or "embedded defaults"
    mode = "production" if settings.writes_enabled() else "dry run"
    echo(f"configuration OK ({where}); mode: {mode}; store: {settings.store.url or 'sqlite'}")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Secret):
        return repr(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting with its effective value (secrets are only named, never shown)."""
    settings = app(ctx).settings
    values: dict[str, Any] = {}
    for key, _tp in iter_settings():
        obj: Any = settings
        for part in key.split("."):
            obj = getattr(obj, part)
        values[key] = _plain(obj)
    if as_json:
        echo(json.dumps(values, indent=2, sort_keys=True))
        return
    for key, value in values.items():
        echo(f"{key} = {json.dumps(value)}")


