"""The docs cover every setting and every command (Datasette's discipline): a setting or command
that is added without documentation fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click

from triage.cli import main
from triage.config import iter_settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _documented_keys() -> set[str]:
    text = (DOCS / "configuration.md").read_text()
    return set(re.findall(r"^- `([a-z0-9_.]+)`", text, flags=re.M))


def test_every_setting_is_documented():
    documented = _documented_keys()
    missing = [k for k, _ in iter_settings() if k != "rules" and k not in documented]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_no_documented_setting_is_stale():
    known = {k for k, _ in iter_settings()}
    stale = [k for k in _documented_keys() if k not in known and not k.startswith("rules.")]
    assert not stale, f"docs/configuration.md documents settings that do not exist: {stale}"


def _walk(group: click.Group, prefix: str = "xentriage") -> list[tuple[str, click.Command]]:
    """Every command under ``group`` with its path, through the group's own lookup (the CLI
    imports its commands lazily: ``group.commands`` holds only those already loaded)."""
    out: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        path = f"{prefix} {name}"
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, path))
    return out


def _commands(group: click.Group, prefix: str = "xentriage") -> list[str]:
    return [path for path, _ in _walk(group, prefix)]


def test_every_command_is_documented():
    text = (DOCS / "cli.md").read_text()
    missing = [c for c in _commands(main) if f"`{c}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


def _entries_for(text: str, path: str) -> str:
    """The text of every docs/cli.md bullet that starts with ``xentriage PATH``."""
    items = re.split(r"\n(?=- |#|\n)", text)
    head = re.compile(rf"- `{re.escape(path)}(?![\w-])")
    return "\n".join(item for item in items if head.match(item))


def _long_names(cmd: click.Command) -> list[tuple[str, str]]:
    return [(param.name or "", name) for param in cmd.params
            if isinstance(param, click.Option) and not param.hidden
            for name in param.opts if name.startswith("--") and name != "--help"]


def test_every_option_of_every_command_is_documented():
    """Each long option a command's ``--help`` lists appears in that command's entry of
    docs/cli.md (the bullets starting with its name); the global options anywhere in it."""
    text = (DOCS / "cli.md").read_text()
    missing = [f"xentriage {name}" for _, name in _long_names(main)
               if not re.search(rf"{re.escape(name)}(?![\w-])", text)]
    for path, cmd in _walk(main):
        if isinstance(cmd, click.Group) and not _long_names(cmd):
            continue
        entry = _entries_for(text, path)
        missing += [f"{path} {name}" for _, name in _long_names(cmd)
                    if not re.search(rf"{re.escape(name)}(?![\w-])", entry)]
    assert not missing, f"options missing from docs/cli.md: {missing}"


def test_every_rule_setting_is_documented():
    from triage.config import iter_settings as walk
    from triage.rules import rule_classes

    documented = _documented_keys()
    missing = [
        f"rules.{cls.name}.{key}"
        for cls in rule_classes()
        for key, _ in walk(cls.settings_class)
        if f"rules.{cls.name}.{key}" not in documented
    ]
    assert not missing, f"rule settings missing from docs/configuration.md: {missing}"


def test_every_rule_is_described_in_rules_md():
    from triage.rules import rule_classes

    text = (DOCS / "rules.md").read_text()
    missing = [cls.name for cls in rule_classes() if f"`{cls.name}`" not in text]
    assert not missing, f"rules missing from docs/rules.md: {missing}"
