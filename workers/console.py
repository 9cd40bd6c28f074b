"""Judging a boot from its console output alone (pure; no I/O).

QEMU exits 0 whether or not the guest booted, so the console is the only evidence: the
``Powered by`` banner, then every expected success line. A panic or assertion line fails the
boot at once; a success line printed before the banner does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

BANNER = "Powered by"

# Unikraft prints "CRIT: ..." for crashes, "Assertion failure: ..." for UK_ASSERT and
# "PANIC" / "Unhandled Trap" on fatal traps; the fixture tree prints "PANIC: ... Assertion failed".
PANIC_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bPANIC\b"),
    re.compile(r"Assertion fail(?:ed|ure)"),
    re.compile(r"\bCRIT:"),
    re.compile(r"Unhandled [Tt]rap"),
    re.compile(r"Kernel panic"),
)

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bc")


class Verdict(Enum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"


def clean_line(raw: str) -> str:
    """Strip terminal control sequences and carriage returns (firmware output is full of them)."""
    return _ANSI_RE.sub("", raw).replace("\r", "").rstrip()


@dataclass
class ConsoleJudge:
    success_lines: tuple[str, ...] = ()
    banner: str = BANNER
    panic_patterns: tuple[re.Pattern[str], ...] = PANIC_PATTERNS
    banner_seen: bool = False
    seen: set[str] = field(default_factory=set)
    verdict: Verdict = Verdict.RUNNING
    reason: str = ""
    last_line: str = ""

    def feed(self, raw: str) -> Verdict:
        """Consume one console line; the verdict is final once it leaves RUNNING, except
        that a panic right after the success lines still turns a pass into a failure."""
        line = clean_line(raw)
        if line.strip():
            self.last_line = line.strip()
        if self.verdict is Verdict.FAILED:
            return self.verdict
        if any(p.search(line) for p in self.panic_patterns):
            self.verdict = Verdict.FAILED
            self.reason = line.strip()
            return self.verdict
        if not self.banner_seen:
            if self.banner in line:
                self.banner_seen = True
            return self.verdict
        for wanted in self.success_lines:
            if wanted in line:
                self.seen.add(wanted)
        if self.success_lines and self.seen >= set(self.success_lines):
            if self.verdict is not Verdict.PASSED:
                self.verdict = Verdict.PASSED
                self.reason = "success line seen: " + "; ".join(self.success_lines)
        return self.verdict

    def finish(self) -> tuple[Verdict, str]:
        """The verdict once the console ended (the guest exited) without a decision yet."""
        if self.verdict is not Verdict.RUNNING:
            return self.verdict, self.reason
        if not self.banner_seen:
            tail = f" (last console line: {self.last_line!r})" if self.last_line else ""
            return Verdict.FAILED, f"guest stopped before the {self.banner!r} banner{tail}"
        if not self.success_lines:
            return Verdict.PASSED, "banner seen and the guest stopped cleanly"
        missing = [s for s in self.success_lines if s not in self.seen]
        return Verdict.FAILED, "guest stopped without the success line: " + "; ".join(missing)

    def timeout_reason(self, seconds: float) -> str:
        where = "after the banner" if self.banner_seen else f"before the {self.banner!r} banner"
        tail = f"; last console line: {self.last_line!r}" if self.last_line else ""
        return f"no success line within {seconds:g} s ({where}{tail})"
