"""docs/example-config.toml is the operator's starting point: it must name every section of the
configuration (and every rule's table) and pass `xentriage config check` as it stands."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

from click.testing import CliRunner

from triage.cli import main
from triage.config import Settings, load_settings
from triage.rules import rule_names, validate_rule_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-config.toml"


def config_sections() -> set[str]:
    """Every top-level table Settings reads: its dataclass sections, plus [rules]."""
    hints = typing.get_type_hints(Settings)
    return {f.name for f in dataclasses.fields(Settings)
            if dataclasses.is_dataclass(hints[f.name]) or f.name == "rules"}


def test_example_names_every_section_and_every_rule():
    doc = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    missing = config_sections() - set(doc)
    assert not missing, f"docs/example-config.toml has no [{'], ['.join(sorted(missing))}]"
    assert set(doc) <= config_sections()
    missing_rules = set(rule_names()) - set(doc["rules"])
    assert not missing_rules, f"no [rules.{'], [rules.'.join(sorted(missing_rules))}]"


def test_example_is_valid_as_it_stands():
    settings = load_settings(EXAMPLE)  # raises ConfigError naming the key on any problem
    validate_rule_settings(settings)
    assert settings.ci.intake_port and settings.ci.worker_owners
    result = CliRunner().invoke(main, ["config", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
