"""One runner per platform: whether it can boot an arch here, and the command that boots it.

A runner only builds the command line (plus any files it needs, e.g. a Xen domain config and
the commands that clean up after it); ``workers.boot`` runs it and judges the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class BootRequest:
    platform: str
    arch: str
    image: Path
    workdir: Path  # scratch space for generated configs
    vmm: str = "qemu"
    accel: str = "auto"  # auto | kvm | tcg (QEMU only)
    memory_mb: int | None = None
    name: str = "xentriage"  # a guest name for hypervisors that need one
    cpu: str | None = None  # QEMU -cpu model; None: the runner's default for arch and accel
    extra_args: tuple[str, ...] = ()  # appended to the VMM's command line


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str
    accel: str = ""  # kvm | tcg | native | xen | ""


@dataclass
class LaunchSpec:
    argv: list[str]
    use_pty: bool = False
    cleanup: list[list[str]] = field(default_factory=list)  # run after the guest stops
    accel: str = ""


class Runner(Protocol):
    name: str

    def availability(self, arch: str) -> Availability: ...

    def launch(self, req: BootRequest) -> LaunchSpec: ...


def runner_for(platform: str, vmm: str = "qemu") -> Runner:
    # Imported here: each runner module imports this one for the dataclasses.
    from workers.runners.firecracker import FirecrackerRunner
    from workers.runners.kvm import QemuKvmRunner
    from workers.runners.linuxu import LinuxuRunner
    from workers.runners.xen import XenRunner

    if platform == "firecracker" or (platform == "kvm" and vmm == "firecracker"):
        return FirecrackerRunner()
    if platform == "kvm":
        return QemuKvmRunner()
    if platform == "linuxu":
        return LinuxuRunner()
    if platform == "xen":
        return XenRunner()
    raise ValueError(f"unknown platform {platform!r}")
