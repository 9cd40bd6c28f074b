"""kvm platform under QEMU: the command lines Unikraft images boot with, KVM only if proven."""

from __future__ import annotations

from workers.host import QEMU_BINARIES, kvm_status, which
from workers.runners import Availability, BootRequest, LaunchSpec

DEFAULT_MEMORY_MB = {"x86_64": 64, "arm64": 128}
# QEMU's default x86 model, qemu64, lacks features real kernels use (1 GiB pages: Unikraft's
# paging stops with "1GiB pages not supported"): TCG runs `max`, every feature TCG emulates.
# cortex-a57 exists only under TCG; arm64 KVM needs the host CPU model. x86_64 KVM keeps
# QEMU's default: under nested virtualisation `-cpu host`/`max` abort on MSRs the outer
# hypervisor refuses ("failed to set MSR 0x10a"), the default model boots.
DEFAULT_CPU: dict[tuple[str, str], str | None] = {
    ("x86_64", "tcg"): "max", ("x86_64", "kvm"): None,
    ("arm64", "tcg"): "cortex-a57", ("arm64", "kvm"): "host"}


def default_cpu(arch: str, accel: str) -> str | None:
    return DEFAULT_CPU.get((arch, accel), "max")


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
        cpu = req.cpu or default_cpu(req.arch, accel)
        if req.arch == "x86_64":
            argv = [QEMU_BINARIES["x86_64"], "-kernel", image, "-nographic", "-m", memory,
                    "-no-reboot", "-accel", accel, *(["-cpu", cpu] if cpu else [])]
        else:
            argv = [QEMU_BINARIES["arm64"], "-machine", "virt", "-cpu", cpu or "max", "-m", memory,
                    "-nographic", "-no-reboot", "-kernel", image, "-accel", accel]
        return LaunchSpec(argv=[*argv, *req.extra_args], accel=accel)
