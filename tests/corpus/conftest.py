"""Shows the corpus figures in the test run's summary (they are the issue's acceptance figures)."""

from __future__ import annotations

from typing import Any

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("completeness corpus")
        for block in FIGURES:
            terminalreporter.write_line(block)
