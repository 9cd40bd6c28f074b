"""Every ``[rules.<name>]`` setting of every rule is documented in docs/configuration.md, and every
rule in docs/rules.md."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from triage.rules import rule_classes

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_rule_setting_is_documented():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^- `(rules\.[a-z0-9_]+\.[a-z0-9_]+)`", text, flags=re.M))
    wanted = {f"rules.{cls.name}.{f.name}" for cls in rule_classes()
              for f in dataclasses.fields(cls.settings_class)}
    missing = sorted(wanted - documented)
    assert not missing, f"rule settings missing from docs/configuration.md: {missing}"


def test_every_rule_is_described_with_its_order():
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    for cls in rule_classes():
        assert f"(`{cls.name}`, order {cls.order})" in text, cls.name
