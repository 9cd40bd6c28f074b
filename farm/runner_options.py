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
from typing import Annotated

from triage.validation import Matches, Range

_CPU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.,=+-]*$")  # qemu64,+pdpe1gb  cortex-a57


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
    cpu: Annotated[str, Matches(_CPU_RE.pattern, "a QEMU CPU model")] | None = None
    memory: Annotated[int, Range(8)] | None = None  # MB
    vmm_args: tuple[str, ...] | None = None

    def matches(self, app: str, libset: str, platform: str, arch: str) -> bool:
        return all(fnmatch.fnmatchcase(value, pattern) for value, pattern in (
            (app, self.app), (libset, self.library), (platform, self.platform),
            (arch, self.arch)))


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
