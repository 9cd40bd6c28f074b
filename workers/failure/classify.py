"""The streaming classifier: sections of a cell's log in, class + signature + title out (pure).

Memory is bounded whatever the log's size: per section it keeps the first strong and the first
weak finding with a few lines of context, the boot console's flags, and the ``.config``
values (bounded) when the log carries them. Lines after a section's cause only need the
section markers, so a failed 50 MB build log costs little more than reading it.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workers.failure import dropped as drops
from workers.failure import rules
from workers.failure.model import (
    ALIASES,
    BOOT_FAILED,
    BOOT_SKIPPED,
    BOOT_TIMEOUT,
    BUILD_FAILED,
    CLASSES,
    ENVIRONMENT,
    PASSED,
    UNSUPPORTED,
    Classification,
    signature_of,
)
from workers.failure.normalise import PathContext, clean_line, message

__all__ = ["ALIASES", "BOOT_FAILED", "BOOT_SKIPPED", "BOOT_TIMEOUT", "BUILD_FAILED", "CLASSES",
           "ENVIRONMENT", "PASSED", "UNSUPPORTED", "Classification", "LogClassifier",
           "signature_of"]

BANNER = "Powered by"
CONTEXT = 3  # evidence lines kept before and after a cause
# Exit statuses that mean "killed by a timeout": timeout(1), SIGKILL/SIGTERM as a shell
# reports them (128+N) and as Python's subprocess does (-N).
TIMEOUT_STATUSES = (124, 137, 143, -9, -15)
_FATAL_BOOT_RE = re.compile(r"\bCRIT\s*:|\bPANIC\b|Assertion fail|Unhandled [Tt]rap|"
                            r"Kernel panic")
_KCONFIG_UNMET_RE = re.compile(r"unmet direct dependencies detected for (\w+)")
_KCONFIG_SELECTED_RE = re.compile(r"^\s*-\s*(\w+)\s*\[=[ym]\]")


@dataclass
class _Section:
    name: str
    strong: rules.Finding | None = None
    weak: rules.Finding | None = None
    evidence: list[str] = field(default_factory=list)
    exit_code: int | None = None
    timed_out: bool = False
    after: int = 0  # evidence lines still to take after the cause

    @property
    def failed(self) -> bool:
        if self.timed_out:
            return True
        if self.exit_code is not None:
            return self.exit_code != 0
        return self.strong is not None


@dataclass
class _Boot:
    banner: bool = False
    seen: set[str] = field(default_factory=set)
    success_seen: bool = False
    first_error: rules.Finding | None = None
    fatal: bool = False
    last_line: str = ""
    status: str | None = None  # from the boot runner, when the log has its verdict
    pre_banner: set[str] = field(default_factory=set)  # success lines seen with no banner
    reason: str = ""


class LogClassifier:
    """Feed it a cell's log section by section; ``result()`` at any point (a truncated log is
    classified from what it has)."""

    def __init__(self, success_lines: Sequence[str] = (), cell: str | None = None) -> None:
        self.ctx = PathContext(cell=cell)
        self.success_lines = tuple(success_lines)
        self.sections: dict[str, _Section] = {}
        self.current: _Section | None = None
        self.boot = _Boot()
        self.requested: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.selected_by: dict[str, list[str]] = {}
        self.dropped: list[dict[str, Any]] = []
        self.verdict: dict[str, Any] | None = None
        self._before: deque[str] = deque(maxlen=CONTEXT)
        self._in_function: str | None = None
        self._unmet_for: str | None = None
        self._command_pending = False
        self.log_format = ""  # farm | sectioned, once a marker showed which
        self._implicit = False  # the current section was opened by a line, not a marker

    # --- input ----------------------------------------------------------------------------

    def section(self, name: str, command: str | None = None) -> None:
        if self._implicit and self.log_format == "farm":
            # Lines before the farm's first phase are Buildbot's header (the command, its
            # spec), not build output: they must not count as a build.
            self.sections.pop("build", None)
        self._implicit = False
        self.current = self.sections.setdefault(name, _Section(name))
        self._before.clear()
        self._command_pending = command is None and name in ("configure", "build", "boot")
        if command:
            self.ctx.learn_command(command)

    def command(self, text: str) -> None:
        self.ctx.learn_command(text)

    def feed(self, raw: str) -> None:
        sec = self.current
        if sec is None:
            # A log with no section marker at all is taken as a build's output.
            self.section("build")
            self._implicit = True
            sec = self.current
        assert sec is not None
        if "--spec-json" in raw:
            self._learn_spec(raw)
            return
        line = clean_line(raw) if ("\x1b" in raw or "\r" in raw) else raw.rstrip("\n")
        if sec.strong is not None and not sec.after and sec.name not in ("boot", "config"):
            return  # the section's cause is known: later lines cannot change it
        if sec.after and line.strip():
            sec.evidence.append(line)
            sec.after -= 1
        if self._command_pending and line.strip():
            if sec.name != "configure" or line.lstrip().startswith("make"):
                self.ctx.learn_command(line)
                self._command_pending = sec.name == "configure" and not line.lstrip(
                ).startswith("make")
        if sec.name == "config":
            drops.config_line(line, self.values)
            return
        if sec.name == "configure" and self._command_pending:
            drops.config_line(line, self.requested)
            return
        if sec.name == "boot":
            self._boot_line(line)
        elif sec.strong is None:
            self._build_line(sec, line)
        self._before.append(line)

    def _learn_spec(self, line: str) -> None:
        """The cell spec in a farm log's header names the build directory and the tree."""
        try:
            spec = json.loads(line[line.index("{"):line.rindex("}") + 1])
        except ValueError:
            return
        if not isinstance(spec, dict):
            return
        for key in ("build_dir", "kconfig_root", "kconfig_app"):
            if isinstance(spec.get(key), str):
                self.ctx.learn_command({"build_dir": "O=", "kconfig_root": "-C ",
                                        "kconfig_app": "A="}[key] + spec[key])
        if isinstance(spec.get("name"), str) and not self.ctx.cell:
            self.ctx.cell = spec["name"]

    def exit_status(self, code: int | None, timed_out: bool = False) -> None:
        if self.current is not None:
            self.current.exit_code = code
            self.current.timed_out = self.current.timed_out or timed_out or (
                self.current.name == "boot" and code in TIMEOUT_STATUSES)

    def add_dropped(self, dropped: Iterable[Mapping[str, Any]]) -> None:
        self.dropped = [dict(d) for d in dropped]

    def boot_result(self, status: str, reason: str = "") -> None:
        self.boot.status, self.boot.reason = status, reason

    def cell_verdict(self, verdict: Mapping[str, Any]) -> None:
        """The farm's ``XENTRIAGE-CELL-RESULT``: which phase ended the cell and how."""
        self.verdict = dict(verdict)
        if verdict.get("cell") and not self.ctx.cell:
            self.ctx.cell = str(verdict["cell"])
        if verdict.get("dropped"):
            self.add_dropped(verdict["dropped"])
        outcome = ALIASES.get(str(verdict.get("cell_result")), str(verdict.get("cell_result")))
        phase = str(verdict.get("phase") or "")
        if outcome in (BUILD_FAILED, ENVIRONMENT) and phase in ("configure", "build"):
            sec = self.sections.setdefault(phase, _Section(phase))
            sec.exit_code = sec.exit_code if sec.exit_code not in (None, 0) else 1
            sec.timed_out = sec.timed_out or "timed out" in str(verdict.get("result_reason"))
        for name in ("configure", "build"):
            if name in self.sections and self.sections[name].exit_code is None and (
                    phase != name or outcome not in (BUILD_FAILED, ENVIRONMENT)):
                self.sections[name].exit_code = 0
        if verdict.get("boot_status"):
            self.boot.status = str(verdict["boot_status"])
            self.boot.reason = self.boot.reason or str(verdict.get("result_reason") or "")

    def bulk_needles(self) -> tuple[str, ...] | None:
        """Substrings a caller holding a long text may jump to, skipping the lines between
        (they cannot matter); ``None``: every line must be fed (a boot console, a .config,
        context still being collected)."""
        sec = self.current
        if sec is None or sec.name in ("boot", "config") or sec.after or self._unmet_for \
                or self._command_pending:
            return None
        markers = {"farm": ("XENTRIAGE-",), "sectioned": ("===", "---")}.get(
            self.log_format, ("XENTRIAGE-", "===", "---"))
        if sec.strong is not None:
            return markers
        extra: tuple[str, ...] = ("Entering directory",) if "" not in self.ctx.prefixes.values(
        ) else ()
        if sec.name == "configure":
            extra += ("unmet direct",)
        return markers + rules.BULK_NEEDLES + extra

    # --- per line ---------------------------------------------------------------------------

    def _build_line(self, sec: _Section, line: str) -> None:
        if "Entering directory" in line:
            self.ctx.learn_line(line)
        if "unmet direct dependencies" in line or self._unmet_for:
            self._kconfig_warning(line)
        if not rules.triggered(line) and "in function" not in line:
            return
        obj = rules.in_function(line)
        if obj:
            self._in_function = obj
            return
        if rules.skipped(line):
            return
        found = rules.build_finding(line, self.ctx, self._in_function)
        if found is None:
            return
        if found.strong:
            sec.strong = found
            sec.evidence = [*self._before, line]
            sec.after = CONTEXT
        elif sec.weak is None:
            sec.weak = found
            if not sec.evidence:
                sec.evidence = [*self._before, line]

    def _kconfig_warning(self, line: str) -> None:
        m = _KCONFIG_UNMET_RE.search(line)
        if m:
            self._unmet_for = m.group(1)
            return
        m = _KCONFIG_SELECTED_RE.match(line)
        if m and self._unmet_for:
            self.selected_by.setdefault(self._unmet_for, []).append(m.group(1))
        elif not line.startswith(" ") and self._unmet_for and not line.strip().startswith("-"):
            self._unmet_for = None

    def _boot_line(self, line: str) -> None:
        boot = self.boot
        text = line.strip()
        if text:
            boot.last_line = text
        if "timeout: sending signal" in line:  # coreutils timeout --verbose
            assert self.current is not None
            self.current.timed_out = True
        if not boot.banner:
            boot.banner = BANNER in line
            if self.success_lines:  # a build without the banner (LIBUKBOOT_NOBANNER)
                boot.pre_banner.update(s for s in self.success_lines if s in line)
        elif self.success_lines and not boot.success_seen:
            boot.seen.update(s for s in self.success_lines if s in line)
            boot.success_seen = boot.seen >= set(self.success_lines)
        if boot.first_error is None and rules.triggered(line) and not (
                "Info:" in line or "WARN" in line):
            found = rules.boot_finding(line, self.ctx)
            if found is not None:
                boot.first_error = found
                sec = self.current
                assert sec is not None
                sec.evidence = [*self._before, line]
                sec.after = CONTEXT
        if not boot.fatal and _FATAL_BOOT_RE.search(line):
            boot.fatal = True

    # --- output -----------------------------------------------------------------------------

    def result(self) -> Classification:
        cfg = self.sections.get("configure")
        if cfg is not None and cfg.failed:
            return self._from_section(cfg, "defconfig failed")
        dropped = self.dropped or drops.dropped_symbols(self.requested, self.values,
                                                          self.selected_by)
        if dropped:
            return self._unsupported(dropped)
        build = self.sections.get("build")
        if build is not None and build.failed:
            return self._from_section(build, "build failed")
        if "boot" in self.sections or self.boot.status:
            return self._boot_result()
        return self._without_boot(build)

    def _from_section(self, sec: _Section, what: str) -> Classification:
        found = sec.strong or sec.weak
        if sec.timed_out and sec.strong is None:
            return self._make(ENVIRONMENT, f"{sec.name}-timeout", f"environment: {what}: "
                              "killed by the build timeout (worker too slow or a tool hung)",
                              sec, rule="build-timeout")
        if found is None:
            reason = str((self.verdict or {}).get("result_reason") or "")
            key = message(self.ctx.text(reason)) or f"{sec.name} exit {sec.exit_code}"
            if "cannot run" in reason or "no verdict" in reason:
                return self._make(ENVIRONMENT, key, f"environment: {reason[:200]}", sec)
            return self._make(BUILD_FAILED, f"{sec.name} {key}",
                              f"{what}: {reason[:200] or 'no error line in the log'}", sec)
        return self._make(found.cls, found.key, found.title, sec, found.rule, found.library)

    def _make(self, cls: str, key: str, title: str, sec: _Section | None, rule: str = "",
              library: str | None = None) -> Classification:
        phase = {"configure": "configure", "build": "build", "boot": "boot"}.get(
            sec.name if sec else "", "")
        evidence = [ln[:300] for ln in (sec.evidence if sec else []) if ln.strip()][
            : 2 * CONTEXT + 1]
        return Classification(cls, signature_of(cls, key) if cls != PASSED else "",
                              title[:300], key, phase, rule, library, evidence,
                              list(self.dropped))

    def _unsupported(self, dropped: list[dict[str, Any]]) -> Classification:
        self.dropped = dropped
        key, title = drops.summary(dropped)
        return self._make(UNSUPPORTED, key, title, self.sections.get("configure"),
                          "kconfig-drop")

    def _boot_result(self) -> Classification:
        boot, sec = self.boot, self.sections.get("boot")
        status = boot.status or self._derived_boot_status(sec)
        found = boot.first_error
        if status == "passed":
            return self._make(PASSED, "passed", "passed", sec)
        if status == "skipped":
            # The runner's reason ("no capable booter for xen/x86_64: xl not found"), with or
            # without the farm's "boot skipped: no capable worker (...)" around it.
            reason = re.sub(r"^boot skipped: no capable worker(?: \((.*)\))?$", r"\1",
                            boot.reason).strip() or "no capable worker"
            return self._make(BOOT_SKIPPED, "boot-skipped " + message(self.ctx.text(reason)),
                              f"boot skipped: no capable worker ({reason})", sec,
                              "boot-skipped")
        if status == "error" or (found is not None and found.cls == ENVIRONMENT):
            if found is not None and found.cls == ENVIRONMENT:
                return self._make(ENVIRONMENT, found.key, found.title, sec, found.rule)
            reason = boot.reason or "the boot runner failed"
            return self._make(ENVIRONMENT, "boot-error " + message(self.ctx.text(reason)),
                              f"environment: {reason[:200]}", sec, "boot-error")
        if status == "truncated":
            return self._make(ENVIRONMENT, "truncated boot", "environment: the log ends "
                              "during the boot without a verdict (worker lost or log "
                              "truncated)", sec, "truncated")
        if status == "timeout":
            stage = ("after the success line (the guest never exited)" if boot.success_seen
                     else "after the banner" if boot.banner else "before the banner")
            key = f"boot-timeout {stage}" + (f" {found.key}" if found else "")
            title = f"boot timed out {stage}" + (f": {found.title}" if found else "")
            return self._make(BOOT_TIMEOUT, key, title, sec, "boot-timeout")
        if found is not None:
            return self._make(BOOT_FAILED, found.key, found.title, sec, found.rule,
                              found.library)
        last = message(self.ctx.text(boot.last_line))
        if not boot.banner:
            return self._make(BOOT_FAILED, f"boot no-banner {last}",
                              f"guest stopped before the {BANNER!r} banner (last line: "
                              f"{boot.last_line[:120]!r})", sec, "no-banner")
        return self._make(BOOT_FAILED, "boot no-success-line",
                          "guest stopped without the success line: "
                          + "; ".join(s for s in self.success_lines if s not in boot.seen),
                          sec, "no-success-line")

    def _derived_boot_status(self, sec: _Section | None) -> str:
        """A plain log has no runner verdict: judge the console as workers.boot does."""
        if sec is not None and sec.timed_out:
            return "timeout"
        if self.boot.fatal:
            return "failed"
        if sec is None or sec.exit_code is None:
            return "truncated"  # no exit status and no runner verdict: the log stops here
        if self.boot.banner and (self.boot.success_seen or not self.success_lines):
            return "passed"
        if not self.boot.banner and self.success_lines and sec.exit_code == 0 and \
                self.boot.pre_banner >= set(self.success_lines):
            return "passed"  # another worker's image built without the banner
        return "failed"

    def _without_boot(self, build: _Section | None) -> Classification:
        verdict = self.verdict or {}
        outcome = ALIASES.get(str(verdict.get("cell_result")), verdict.get("cell_result"))
        reason = str(verdict.get("result_reason") or "")
        if outcome == ENVIRONMENT or (not verdict and build is None
                                      and "configure" not in self.sections):
            reason = reason or "the log has no phase of a cell (empty or not a cell's log)"
            return self._make(ENVIRONMENT, "environment " + message(self.ctx.text(reason)),
                              f"environment: {reason[:200]}", None, "worker")
        if outcome == BOOT_SKIPPED:
            return self._make(BOOT_SKIPPED, "boot-skipped " + message(self.ctx.text(reason)),
                              reason, build, "boot-skipped")
        if not verdict and build is not None and build.exit_code is None:
            # The log ends inside the build with no error: a worker lost or a truncated log.
            return self._make(ENVIRONMENT, "truncated build", "environment: the log ends "
                              "during the build without an error (worker lost or log "
                              "truncated)", build, "truncated")
        return self._make(PASSED if outcome in (None, PASSED) else str(outcome),
                          "passed" if outcome in (None, PASSED) else f"verdict {outcome}",
                          "built (no boot in the log)" if outcome in (None, PASSED)
                          else reason, build)
