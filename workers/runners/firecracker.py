"""Firecracker: ``firecracker --no-api --config-file`` with a generated JSON machine config."""

from __future__ import annotations

import json

from workers.host import kvm_status, native_arch, which
from workers.runners import Availability, BootRequest, LaunchSpec


def machine_config(req: BootRequest) -> dict[str, object]:
    return {
        "boot-source": {"kernel_image_path": str(req.image.resolve()),
                        "boot_args": "console=ttyS0 reboot=k panic=1"},
        "drives": [],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": req.memory_mb or 128},
    }


class FirecrackerRunner:
    name = "firecracker"

    def availability(self, arch: str) -> Availability:
        if not which("firecracker"):
            return Availability(False, f"no capable booter for firecracker/{arch}: "
                                       "firecracker not found")
        if arch != native_arch():
            return Availability(False, f"no capable booter for firecracker/{arch}: "
                                       f"host is {native_arch()}")
        status = kvm_status(arch)
        if not status.usable:
            return Availability(False, f"no capable booter for firecracker/{arch}: "
                                       f"{status.reason}")
        return Availability(True, "firecracker with working KVM", "kvm")

    def launch(self, req: BootRequest) -> LaunchSpec:
        avail = self.availability(req.arch)
        if not avail.ok:
            raise RuntimeError(avail.reason)
        cfg = req.workdir / "firecracker.json"
        cfg.write_text(json.dumps(machine_config(req), indent=2))
        return LaunchSpec(argv=["firecracker", "--no-api", "--config-file", str(cfg)],
                          accel="kvm")
