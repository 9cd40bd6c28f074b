"""Boot runner options per platform, arch and cell: the matrix's ``[[runner]]`` tables.

A result depends on the machine the guest ran on: Unikraft's paging stops on QEMU's default
x86 CPU (no 1 GiB pages) and boots with ``-cpu max``; a library may need more memory. Each
``[[runner]]`` entry matches cells by glob (``app``, ``library`` (the set's name), ``platform``,
``arch``, as ``[[exclude]]`` does) and sets any of ``cpu``, ``memory`` (MB) and ``vmm_args``;
later entries override earlier ones key by key. Unset keys keep the runner's defaults
(``max`` on x86_64 TCG, ``cortex-a57`` on arm64 TCG, 64/128 MB). The verdict records what the
guest really ran on.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

_CPU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.,=+-]*$")  # qemu64,+pdpe1gb  cortex-a57


class _Table(Protocol):
    key: str

    def text(self, name: str, default: Any = None) -> Any: ...

    def integer(self, name: str, default: Any = None, minimum: int = 1) -> Any: ...

    def strs(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]: ...

    def done(self) -> None: ...


@dataclass(frozen=True)
class RunnerOptions:
    cpu: str | None = None
    memory: int | None = None
    vmm_args: tuple[str, ...] = ()

    def boot_options(self) -> list[str]:
        """The ``workers.boot`` options (``--vmm-arg=X``: X may itself start with ``-``)."""
        opts: list[str] = []
        if self.cpu:
            opts += ["--cpu", self.cpu]
        if self.memory:
            opts += ["--memory", str(self.memory)]
        return opts + [f"--vmm-arg={arg}" for arg in self.vmm_args]


@dataclass(frozen=True)
class RunnerRule:
    app: str = "*"
    library: str = "*"
    platform: str = "*"
    arch: str = "*"
    cpu: str | None = None
    memory: int | None = None
    vmm_args: tuple[str, ...] | None = None

    def matches(self, app: str, libset: str, platform: str, arch: str) -> bool:
        return all(fnmatch.fnmatchcase(value, pattern) for value, pattern in (
            (app, self.app), (libset, self.library), (platform, self.platform),
            (arch, self.arch)))


def rule_from_table(t: _Table, error: type[Exception]) -> RunnerRule:
    cpu = t.text("cpu")
    if cpu is not None and not _CPU_RE.match(cpu):
        raise error(f"{t.key}.cpu", f"{cpu!r} is not a QEMU CPU model")
    args = t.strs("vmm_args", ()) if "vmm_args" in getattr(t, "data", {}) else None
    rule = RunnerRule(t.text("app", "*"), t.text("library", "*"), t.text("platform", "*"),
                      t.text("arch", "*"), cpu, t.integer("memory", None, minimum=8), args)
    t.done()
    return rule


def options_for(rules: Iterable[RunnerRule], app: str, libset: str, platform: str,
                arch: str) -> RunnerOptions:
    cpu: str | None = None
    memory: int | None = None
    args: tuple[str, ...] = ()
    for rule in rules:
        if not rule.matches(app, libset, platform, arch):
            continue
        cpu = rule.cpu if rule.cpu is not None else cpu
        memory = rule.memory if rule.memory is not None else memory
        args = rule.vmm_args if rule.vmm_args is not None else args
    return RunnerOptions(cpu, memory, args)
