"""Kconfig drops in a cell's log: the requested fragment against the ``.config`` (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_CONFIG_RE = re.compile(r"^(?:CONFIG_([A-Za-z0-9_]+)=(.*)|# CONFIG_([A-Za-z0-9_]+) is not set)$")
MAX_CONFIG_SYMBOLS = 20000  # a .config has a few thousand: a bound, not a limit in practice


def config_line(line: str, into: dict[str, str]) -> None:
    """One ``.config``/fragment line into ``into`` (``n`` for "is not set")."""
    m = _CONFIG_RE.match(line.strip())
    if m and len(into) < MAX_CONFIG_SYMBOLS:
        if m.group(1):
            into[m.group(1)] = m.group(2).strip().strip('"')
        else:
            into[m.group(3)] = "n"


def dropped_symbols(requested: Mapping[str, str], values: Mapping[str, str],
                    selected_by: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Requested ``y``/``m`` symbols the ``.config`` does not have (no tree: no reason yet;
    ``selected_by`` from Kconfig's "unmet direct dependencies" warnings)."""
    if not requested or not values:
        return []
    return [{"symbol": f"CONFIG_{name}", "requested": want,
             "actual": values.get(name, "(absent)"), "unmet": [],
             "selected_by": list(selected_by.get(name, [])), "reason": f"CONFIG_{name} dropped"}
            for name, want in requested.items()
            if want in ("y", "m") and values.get(name) not in ("y", "m")]


def summary(dropped: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(signature key, title) of an unsupported cell: the symbols, their unmet dependencies
    without the values, the select chain."""
    parts, keys = [], []
    for d in dropped:
        unmet = list(d.get("unmet") or [])
        chain = list(d.get("because") or [])
        text = str(d.get("reason") or f"{d.get('symbol')} dropped")
        if chain and "; ".join(chain) not in text:
            text += " (" + "; ".join(chain) + ")"
        parts.append(text)
        bare = [re.sub(r"\s*\(.*\)$", "", u) for u in unmet]
        keys.append(f"{d.get('symbol')} unmet={','.join(bare)} by={','.join(chain)}")
    return "unsupported " + " | ".join(sorted(keys)), "unsupported: " + "; ".join(parts)
