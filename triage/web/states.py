"""How each cell state looks: a word, a symbol and a colour class, so it reads without colour.

States come from the ``cell_result`` build property the farm's step publishes. The table is
keyed by that word; a state this table does not know yet (a new failure class) still shows, as
its own word, with the style of the Buildbot result of its build (``fallback_state``), so a new
class never turns into a blank or a wrong colour.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from workers.failure.model import ALIASES


@dataclass(frozen=True)
class StateStyle:
    key: str
    label: str
    # Printed in the cell beside the label (the label is what a screen reader reads); glyphs
    # from fonts Debian installs with Chromium (DejaVu), so none shows as a missing-glyph box.
    symbol: str
    css: str  # colour class: ok | bad | warn | skip | info | none
    red: bool  # counts as "red" for "red since" and the pass rate


_KNOWN = (
    StateStyle("passed", "passed", "✓", "ok", False),
    StateStyle("build-failed", "build failed", "✗B", "bad", True),
    StateStyle("boot-failed", "boot failed", "✗R", "bad", True),
    StateStyle("boot-timeout", "timed out", "◔", "bad", True),
    StateStyle("unsupported", "unsupported", "∅", "skip", False),
    StateStyle("environment", "environment", "⚠E", "warn", False),
    StateStyle("boot-skipped", "boot skipped", "↷", "info", False),
    StateStyle("running", "running", "…", "run", False),
    StateStyle("never-run", "never run", "·", "none", False),
)
STATES: dict[str, StateStyle] = {s.key: s for s in _KNOWN}


# Buildbot result codes (buildbot.process.results) → the style of an unknown cell_result.
_BY_RESULT = {0: "ok", 1: "info", 2: "bad", 3: "skip", 4: "warn", 5: "warn", 6: "warn"}
_RESULT_NAMES = {1: "warnings", 2: "failure", 3: "skipped", 4: "exception", 5: "retry",
                 6: "cancelled"}
_SYMBOL_BY_CSS = {"ok": "✓", "bad": "✗", "warn": "⚠", "skip": "∅", "info": "↷", "none": "·",
                  "run": "…"}


def fallback_state(key: str, buildbot_result: int | None) -> StateStyle:
    css = _BY_RESULT.get(buildbot_result if buildbot_result is not None else -1, "warn")
    return StateStyle(key, key.replace("-", " ").replace("_", " "), _SYMBOL_BY_CSS[css], css,
                      css == "bad")


@functools.lru_cache(maxsize=1024)  # a handful of distinct inputs, 20,000 calls per page
def state_of(cell_result: str | None, buildbot_result: int | None, complete: bool) -> StateStyle:
    """The style of one build: running, the published verdict, or its Buildbot result."""
    if not complete:
        return STATES["running"]
    if cell_result:
        # Old builds' verdicts ("timeout", "error") read as the farm's classes.
        cell_result = ALIASES.get(cell_result, cell_result)
        return STATES.get(cell_result) or fallback_state(cell_result, buildbot_result)
    # Without a verdict (a build that died before its step) the Buildbot result is all we have.
    if buildbot_result == 0:
        return STATES["passed"]
    return fallback_state(_RESULT_NAMES.get(buildbot_result if buildbot_result is not None
                                            else -1, "unknown"), buildbot_result)


def legend() -> list[StateStyle]:
    return list(_KNOWN)
