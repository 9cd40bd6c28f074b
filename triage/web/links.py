"""Where a cell's links go: its Buildbot build and log, its Bugzilla bug."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from triage.web.matrix_model import CellView

# The farm's one step (farm.steps.RunCell.name) and its logs.
STEP = "cell"
CONSOLE_STATES = ("boot-failed", "timeout", "boot-timeout")


def _bb(ctx: Any) -> str:
    url = str(ctx.buildbot_url or "")
    return url if url.endswith("/") or not url else url + "/"


def build_url(ctx: Any, cell: CellView) -> str | None:
    if cell.latest is None or cell.builderid is None:
        return None
    return f"{_bb(ctx)}#/builders/{cell.builderid}/builds/{cell.latest.number}"


def log_url(ctx: Any, cell: CellView, slug: str = "stdio") -> str | None:
    if cell.latest is None:
        return None
    return f"{_bb(ctx)}api/v2/builds/{cell.latest.buildid}/steps/{STEP}/logs/{slug}/raw_inline"


def console_url(ctx: Any, cell: CellView) -> str | None:
    return log_url(ctx, cell, "console") if cell.state.key in CONSOLE_STATES else None


def builder_url(ctx: Any, cell: CellView) -> str | None:
    """The cell's virtual builder in Buildbot's UI: all its builds."""
    return None if cell.builderid is None else f"{_bb(ctx)}#/builders/{cell.builderid}"


def bug_url(ctx: Any, bug_id: int) -> str | None:
    base = str(ctx.bugzilla_url or "").rstrip("/")
    return f"{base}/show_bug.cgi?id={quote(str(bug_id))}" if base else None
