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
from typing import Any, TextIO

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
CHUNK = 1 << 20  # characters read at a time: memory stays bounded whatever the log's size
WINDOW = 40  # lines before a needle that still go through the rules (its cause's context)


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
            clf.log_format = clf.log_format or "farm"
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
            clf.log_format = clf.log_format or "sectioned"
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


def feed_text(clf: LogClassifier, text: str, raw: bool = False) -> int:
    """Feed whole lines of ``text`` (ending in a newline) into ``clf``, jumping over the long
    runs a build log is made of: only the lines near a possible cause go through the rules.
    Returns where the lines not fed begin (the caller keeps the last of them as context).
    ``raw``: the text is one command's output (the worker's own stream), not a whole log: no
    line in it is a section marker."""
    feed = clf.feed if raw else (lambda line: feed_line(clf, line))
    pos, n = 0, len(text)
    found_at: dict[str, int] = {}
    while pos < n:
        needles = clf.bulk_needles()
        if needles is not None:
            nxt = n
            for needle in needles:
                at = found_at.get(needle, -1)
                if at < pos:
                    at = text.find(needle, pos)
                    found_at[needle] = at if at >= 0 else n
                    at = found_at[needle]
                nxt = min(nxt, at)
            if nxt >= n:
                return pos  # nothing in the rest of this text matters unless a cause follows
            start = text.rfind("\n", pos, nxt) + 1 if nxt > pos else pos
            for _ in range(WINDOW):
                if start <= pos:
                    break
                start = text.rfind("\n", pos, start - 1) + 1 if start - 1 > pos else pos
            pos = max(pos, start)
            end = text.find("\n", nxt)
            end = n if end < 0 else end + 1
            for line in text[pos:end].split("\n")[: -1 if text.endswith("\n", 0, end) else None]:
                feed(line.rstrip("\r"))
            pos = end
            continue
        end = text.find("\n", pos)
        end = n if end < 0 else end + 1
        feed(text[pos:end].rstrip("\r\n"))
        pos = end
    return n


def _context(text: str, start: int) -> str:
    """The last WINDOW lines of ``text[start:]`` (not fed yet): a cause's context that a
    needle in the next chunk may need."""
    cut = len(text)
    for _ in range(WINDOW):
        if cut <= start:
            break
        cut = text.rfind("\n", start, cut - 1) + 1 if cut - 1 > start else start
    return text[max(cut, start, len(text) - 64 * 1024):]


class ChunkFeeder:
    """Feeds a stream of lines to the classifier a chunk at a time (memory bounded): the bulk
    path's speed for the worker's live output, which arrives line by line."""

    def __init__(self, clf: LogClassifier, raw: bool = True, chunk: int | None = None) -> None:
        self.clf, self.raw, self.limit = clf, raw, chunk or CHUNK
        self.lines: list[str] = []
        self.size = 0
        self.context = ""

    def line(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1
        if self.size >= self.limit:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        whole = self.context + "".join(ln + "\n" for ln in self.lines)
        self.lines, self.size = [], 0
        fed = feed_text(self.clf, whole, raw=self.raw)
        self.context = "" if final else _context(whole, fed)


def classify_stream(fh: TextIO, success_lines: Sequence[str] = (),
                    cell: str | None = None) -> tuple[Classification, LogClassifier]:
    """Classify a log read from ``fh`` in chunks (memory bounded, a 50 MB log in a fraction of
    a second)."""
    clf = LogClassifier(success_lines, cell)
    rest, context = "", ""
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        text = rest + chunk
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) < 16 * CHUNK:
            rest = text  # one very long line so far: keep reading (bounded below)
            continue
        cut = cut or len(text)
        whole = context + text[:cut]
        context = _context(whole, feed_text(clf, whole))
        rest = text[cut:]
    if rest or context:
        feed_text(clf, context + rest + ("\n" if rest else ""))
    return clf.result(), clf
