"""Reading a cell's log into the classifier, one line at a time (pure over an iterable).

Two formats, told apart line by line so that a log may mix them or lack any part:

* the farm's own ``stdio`` log (``python -m workers.cell``): ``XENTRIAGE-PHASE <name>: ...``
  starts a phase (configure, build, boot), ``XENTRIAGE-BOOT-RESULT {json}`` and
  ``XENTRIAGE-CELL-RESULT {json}`` are the runner's and the cell's verdicts;
* a plain sectioned log: ``=== defconfig`` (the requested fragment, the ``make ... defconfig``
  command, its output), ``=== config`` (the resulting ``.config``), ``=== build`` (the ``make``
  command, its output) and ``=== boot`` (the boot command, the raw console), each command's
  section closed by ``--- exit status: N``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from workers.failure.classify import Classification, LogClassifier

PHASE_MARKER = "XENTRIAGE-PHASE "
CELL_RESULT_MARKER = "XENTRIAGE-CELL-RESULT "
BOOT_RESULT_MARKER = "XENTRIAGE-BOOT-RESULT "
_SECTION_RE = re.compile(r"^===\s*([A-Za-z_-]+)")
_EXIT_RE = re.compile(r"^---\s*exit status:?\s*(-?\d+)")
_SECTION_NAMES = {"defconfig": "configure", "configure": "configure", "config": "config",
                  ".config": "config", "build": "build", "make": "build", "boot": "boot",
                  "run": "boot", "console": "boot"}
_TIMED_OUT_RE = re.compile(r"^---\s*(?:timed? ?out|timeout)", re.IGNORECASE)


def _json_after(line: str, marker: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line[line.index(marker) + len(marker):])
    except ValueError:
        return None  # a verdict cut off by truncation: classify from the rest
    return value if isinstance(value, dict) else None


def feed_line(clf: LogClassifier, line: str) -> None:
    """Route one raw line (``\\n`` stripped) of either format into ``clf``."""
    if line.startswith("XENTRIAGE-") or " XENTRIAGE-" in line[:40]:
        if PHASE_MARKER in line:
            name, _, detail = line[line.index(PHASE_MARKER) + len(PHASE_MARKER):].partition(":")
            clf.section(name.strip(), detail.strip())
            return
        if CELL_RESULT_MARKER in line:
            verdict = _json_after(line, CELL_RESULT_MARKER)
            if verdict is not None:
                clf.cell_verdict(verdict)
            return
        if BOOT_RESULT_MARKER in line:
            result = _json_after(line, BOOT_RESULT_MARKER)
            if result is not None:
                clf.boot_result(str(result.get("status") or ""), str(result.get("reason") or ""))
                for arg in result.get("command") or ():
                    if isinstance(arg, str) and arg.startswith("/") and "/cells/" in arg:
                        clf.ctx.add(arg.rsplit("/", 1)[0], "<build>/")
            return
    if line.startswith("==="):
        m = _SECTION_RE.match(line)
        if m:
            clf.section(_SECTION_NAMES.get(m.group(1).lower(), m.group(1).lower()))
            return
    if line.startswith("---"):
        m = _EXIT_RE.match(line)
        if m:
            clf.exit_status(int(m.group(1)))
            return
        if _TIMED_OUT_RE.match(line):
            clf.exit_status(None, timed_out=True)
            return
    clf.feed(line)


def classify_lines(lines: Iterable[str], success_lines: Sequence[str] = (),
                   cell: str | None = None) -> tuple[Classification, LogClassifier]:
    """Classify a whole log given as lines (a text file object streams it)."""
    clf = LogClassifier(success_lines, cell)
    for raw in lines:
        feed_line(clf, raw.rstrip("\n"))
    return clf.result(), clf
