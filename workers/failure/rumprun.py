"""Rumprun's console protocol and build causes in the farm's failure vocabulary (pure).

A Rumprun guest never powers off: it prints ``halted`` and halts the CPU, so the verdict is read
from the console (``=== main() of "X" returned N ===``, ``=== ERROR: _exit(N) called ===``,
``FATAL TRAP``), never from the VMM's exit status. Lines the issue measured as noise (the
buildrump.sh NOTICE, binutils' RWX/executable-stack warnings, the invariant-TSC warning) never
decide anything here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workers.failure.model import (
    BOOT_FAILED,
    BOOT_TIMEOUT,
    ENVIRONMENT,
    PASSED,
    signature_of,
)

_CALLING_RE = re.compile(r'^=== calling "(?P<app>[^"]*)" main\(\) ===')
_RETURNED_RE = re.compile(r'^=== main\(\) of "(?P<app>[^"]*)" returned (?P<rc>-?\d+) ===')
_EXIT_RE = re.compile(r"^=== (?:ERROR: )?_exit\((?P<rc>-?\d+)\) called ===")
_TRAP_RE = re.compile(r"FATAL TRAP:?\s*(?P<what>.*)")
HALTED = "halted"

# Platform-build causes that are the worker's, not the code's: (pattern, key, title).
_ENVIRONMENT_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"multiple definition of [`'\u2018]debug_file"), "rumprun-host-fno-common",
     "toolchain newer than the code: the host tools need HOST_CFLAGS=-fcommon "
     "(gcc >= 10 defaults to -fno-common)"),
    (re.compile(r"-Werror=cast-function-type|\[-Werror=address\]"), "rumprun-werror",
     "toolchain newer than the code: new warnings are errors (NOGCCERROR=1 builds it)"),
    (re.compile(r"submodules missing|Your git submodules are out-of-date"),
     "rumprun-submodules", "checkout incomplete: the rumprun submodules are missing"),
    (re.compile(r"invalid object (?:\d+ )?[0-9a-f]{40}|unable to read [0-9a-f]{40}|"
                r"missing blob|object file .* is empty"),
     "rumprun-missing-blobs", "checkout incomplete: blobs of the source tree are missing"),
)


@dataclass(frozen=True)
class Judged:
    cls: str
    title: str
    signature: str
    exit_code: int | None = None


def platform_environment(line: str) -> tuple[str, str] | None:
    """(signature key, title) when a platform-build line shows a worker-side cause."""
    for pattern, key, title in _ENVIRONMENT_RULES:
        if pattern.search(line):
            return key, title
    return None


class RumprunConsole:
    """Feeds on console lines; says when to stop QEMU and what the boot's verdict is."""

    def __init__(self, success_lines: tuple[str, ...] = ()) -> None:
        self.success_lines = success_lines
        self.seen_success: set[str] = set()
        self.app: str | None = None
        self.returned: int | None = None
        self.exit_code: int | None = None
        self.trap: str | None = None
        self.halted = False
        self.lines = 0

    def feed(self, raw: str) -> bool:
        """True once the guest is done (``halted`` or a fatal trap): stop the VMM."""
        line = raw.strip().replace("\r", "")
        if not line:
            return False
        self.lines += 1
        for wanted in self.success_lines:
            if wanted in line:
                self.seen_success.add(wanted)
        if m := _CALLING_RE.match(line):
            self.app = m["app"]
        elif m := _RETURNED_RE.match(line):
            self.returned = int(m["rc"])
        elif m := _EXIT_RE.match(line):
            self.exit_code = int(m["rc"])
        elif m := _TRAP_RE.search(line):
            self.trap = m["what"].strip() or "trap"
            return True  # a trapped Rumprun guest hangs: nothing more will come
        elif line == HALTED:
            self.halted = True
            return True
        return False

    def verdict(self, timed_out: bool, timeout: float) -> Judged:
        app = self.app or "?"
        if self.trap is not None:
            what = re.sub(r"\b0x[0-9a-f]+\b|\b\d+\b", "N", self.trap)
            return Judged(BOOT_FAILED, f"FATAL TRAP: {self.trap}",
                          signature_of(BOOT_FAILED, f"rumprun-trap {what}"))
        code = self.exit_code if self.exit_code is not None else self.returned
        if self.halted and code not in (None, 0):
            return Judged(BOOT_FAILED, f'main() of "{app}" returned {code}',
                          signature_of(BOOT_FAILED, f"rumprun-exit {code}"), code)
        if self.halted and code == 0:
            missing = [s for s in self.success_lines if s not in self.seen_success]
            if missing:
                return Judged(BOOT_FAILED, f"exited 0 without printing {missing[0]!r}",
                              signature_of(BOOT_FAILED, f"rumprun-missing {missing[0]}"), 0)
            return Judged(PASSED, f'main() of "{app}" returned 0, halted', "", 0)
        if self.halted:
            return Judged(BOOT_FAILED, "halted before main() returned",
                          signature_of(BOOT_FAILED, "rumprun-halted-early"))
        if self.app is None:
            # Nothing on the serial line: typically the console went elsewhere (-vga none).
            return Judged(BOOT_TIMEOUT, f"no Rumprun console output within {timeout:g} s "
                                        "(wrong console setting?)",
                          signature_of(BOOT_TIMEOUT, "rumprun-silent"))
        if timed_out:
            return Judged(BOOT_TIMEOUT, f'main() of "{app}" did not return within {timeout:g} s',
                          signature_of(BOOT_TIMEOUT, "rumprun-hang"))
        return Judged(BOOT_FAILED, "the VMM exited before the guest halted",
                      signature_of(BOOT_FAILED, "rumprun-vmm-exit"))


def environment(title: str, key: str) -> Judged:
    return Judged(ENVIRONMENT, title, signature_of(ENVIRONMENT, key))
