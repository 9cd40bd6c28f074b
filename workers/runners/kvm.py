"""kvm platform under QEMU: the command lines Unikraft images boot with, KVM only if proven."""

from __future__ import annotations

from workers.host import QEMU_BINARIES, kvm_status, which
from workers.runners import Availability, BootRequest, LaunchSpec

DEFAULT_MEMORY_MB = {"x86_64": 64, "arm64": 128}


class QemuKvmRunner:
    name = "kvm"

    @staticmethod
    def _binary_missing(arch: str) -> str | None:
        binary = QEMU_BINARIES.get(arch)
        if binary is None:
            return f"no QEMU binary known for {arch}"
        if not which(binary):
            return f"no capable booter for kvm/{arch}: {binary} not found"
        return None

    def availability(self, arch: str) -> Availability:
        missing = self._binary_missing(arch)
        if missing:
            return Availability(False, missing)
        status = kvm_status(arch)
        if status.usable:
            return Availability(True, status.reason, "kvm")
        return Availability(True, f"TCG: {status.reason}", "tcg")

    def launch(self, req: BootRequest) -> LaunchSpec:
        missing = self._binary_missing(req.arch)
        if missing:
            raise RuntimeError(missing)
        # An explicit accelerator skips the (slow) KVM boot probe.
        accel = self.availability(req.arch).accel if req.accel == "auto" else req.accel
        memory = str(req.memory_mb or DEFAULT_MEMORY_MB[req.arch])
        image = str(req.image)
        if req.arch == "x86_64":
            argv = [QEMU_BINARIES["x86_64"], "-kernel", image, "-nographic", "-m", memory,
                    "-no-reboot", "-accel", accel]
        else:
            # cortex-a57 exists only under TCG; KVM needs the host CPU model.
            cpu = "host" if accel == "kvm" else "cortex-a57"
            argv = [QEMU_BINARIES["arm64"], "-machine", "virt", "-cpu", cpu, "-m", memory,
                    "-nographic", "-no-reboot", "-kernel", image, "-accel", accel]
        return LaunchSpec(argv=argv, accel=accel)
