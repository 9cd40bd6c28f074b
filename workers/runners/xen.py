"""xen: ``xl create -c`` with a generated domain config, on a running dom0 only."""

from __future__ import annotations

import os
from pathlib import Path

from workers.host import native_arch, which
from workers.runners import Availability, BootRequest, LaunchSpec

CAPABILITIES = Path("/proc/xen/capabilities")


def dom0_running() -> bool:
    try:
        return "control_d" in CAPABILITIES.read_text()
    except OSError:
        return False


def domain_config(req: BootRequest, name: str) -> str:
    lines = [
        f'name = "{name}"',
        f'kernel = "{req.image.resolve()}"',
        f"memory = {req.memory_mb or 64}",
        "vcpus = 1",
        # Leave nothing behind: a stopped guest is destroyed whatever the reason.
        'on_poweroff = "destroy"',
        'on_reboot = "destroy"',
        'on_crash = "destroy"',
    ]
    if req.arch == "x86_64":
        lines.insert(1, 'type = "pvh"')
    return "\n".join(lines) + "\n"


class XenRunner:
    name = "xen"

    def availability(self, arch: str) -> Availability:
        if not which("xl"):
            return Availability(False, f"no capable booter for xen/{arch}: xl not found")
        if not dom0_running():
            return Availability(False, f"no capable booter for xen/{arch}: not a Xen dom0")
        if arch != native_arch():
            return Availability(False, f"no capable booter for xen/{arch}: dom0 is "
                                       f"{native_arch()}")
        return Availability(True, "xl on a running dom0", "xen")

    def launch(self, req: BootRequest) -> LaunchSpec:
        avail = self.availability(req.arch)
        if not avail.ok:
            raise RuntimeError(avail.reason)
        name = f"{req.name}-{os.getpid()}"
        cfg = req.workdir / f"{name}.cfg"
        cfg.write_text(domain_config(req, name))
        # -c attaches the console; killing xl does not stop the domain, hence the cleanup.
        return LaunchSpec(argv=["xl", "create", "-c", str(cfg)],
                          cleanup=[["xl", "destroy", name]], accel="xen")
