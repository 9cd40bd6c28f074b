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


def _commands(group: click.Group, prefix: str = "xentriage") -> list[str]:
    out: list[str] = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        out.append(path)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
    return out


def test_every_command_is_documented():
    text = (DOCS / "cli.md").read_text()
    missing = [c for c in _commands(main) if f"`{c}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"


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
