"""The triage rules, one per module, and their registry.

A rule module defines one :class:`~triage.rules.base.Rule` subclass with a ``name``; the registry
discovers them (like the CLI's ``cmd_*`` modules). The chain's order is the one table
:data:`RULE_ORDER` below: a rule sees the state the rules before it projected (corporate →
completeness → follow-up → review → claims ...), and reading the order needs no tour of the rule
files. A rule module whose rule is not in the table is an error. docs/rules.md lists the rules
and their order numbers. The folder holds rules only: helpers live in :mod:`triage.claims`,
:mod:`triage.completeness` and :mod:`triage.commands`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from triage.config import ConfigError, Settings
from triage.rules.base import Rule

# The chain, in order. The numbers leave room between the groups (triage 10-99, claims 500+).
RULE_ORDER: dict[str, int] = {
    "corporate": 10,
    "completeness": 20,
    "followup": 30,
    "review": 40,
    "claims": 500,
    "stale_claims": 510,
    "fix_documentation": 520,
}


def rule_position(name: str) -> int:
    """A rule's place in the chain (after every rule for a name that is not a rule)."""
    return RULE_ORDER.get(name, 10_000)


@cache
def rule_classes() -> tuple[type[Rule], ...]:
    """Every rule class, in chain order (``order``, then name)."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__
                    and obj.name):
                if obj.name in found and found[obj.name] is not obj:
                    raise RuntimeError(f"two rules are named {obj.name!r}")
                if obj.name not in RULE_ORDER:
                    raise RuntimeError(f"rule {obj.name!r} has no place in RULE_ORDER")
                obj.order = RULE_ORDER[obj.name]
                found[obj.name] = obj
    return tuple(sorted(found.values(), key=lambda cls: (cls.order, cls.name)))


def rule_names() -> tuple[str, ...]:
    return tuple(cls.name for cls in rule_classes())


def validate_rule_settings(settings: Settings) -> dict[str, object]:
    """Parse every ``[rules.<name>]`` table; raise :class:`ConfigError` naming the bad key.

    An unknown rule name is an error too: a misspelt table would otherwise be silently ignored.
    Returns the parsed settings by rule name.
    """
    by_name = {cls.name: cls for cls in rule_classes()}
    for name in settings.rules:
        if name not in by_name:
            raise ConfigError(f"rules.{name}",
                              f"unknown rule (known: {', '.join(sorted(by_name))})")
    return {name: cls.from_settings(settings).settings for name, cls in by_name.items()}


def build_rules(settings: Settings, only: tuple[str, ...] = ()) -> list[Rule]:
    """Instantiate the enabled rules in chain order (``only``: a subset by name)."""
    validate_rule_settings(settings)
    rules = [cls.from_settings(settings) for cls in rule_classes()]
    if only:
        unknown = set(only) - {r.name for r in rules}
        if unknown:
            raise ConfigError("rules", f"unknown rule(s): {', '.join(sorted(unknown))}")
        rules = [r for r in rules if r.name in only]
    return [r for r in rules if r.enabled]


__all__ = ["RULE_ORDER", "Rule", "build_rules", "rule_classes", "rule_names", "rule_position",
           "validate_rule_settings"]
