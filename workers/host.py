"""Facts about this machine that runners and the probe share; the KVM check is cached.

``/dev/kvm`` existing proves little: under nested virtualisation it opens and even creates a VM,
yet a guest under ``-accel kvm`` hangs silently. So KVM counts as usable only after a known
image printed its marker under ``-accel kvm`` within a short timeout.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import struct
import tempfile
from dataclasses import dataclass

from workers.process import STOP, run_streaming

QEMU_BINARIES = {"x86_64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}
KVM_PROBE_MARKER = "XENTRIAGE-KVM-OK"
KVM_PROBE_TIMEOUT = float(os.environ.get("XENTRIAGE_KVM_PROBE_TIMEOUT", "5"))


def native_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def which(name: str, path: str | None = None) -> str | None:
    return shutil.which(name, path=path)


def x86_probe_image() -> bytes:
    """A flat multiboot (a.out kludge) image: print the marker on COM1, then ACPI power-off.

    Hand-assembled 32-bit code, so the probe needs no compiler and no tree:
        mov esi, msg; l: lodsb; test al,al; jz done; mov dx,0x3f8; out dx,al; jmp l
        done: mov dx,0x604; mov ax,0x2000; out dx,ax; hlt; jmp $-1
    """
    load = 0x100000
    header_len = 32
    code_len = 30
    msg = (KVM_PROBE_MARKER + "\n").encode() + b"\0"
    code = (
        b"\xbe" + struct.pack("<I", load + header_len + code_len)
        + b"\xac\x84\xc0\x74\x07\x66\xba\xf8\x03\xee\xeb\xf4"
        + b"\x66\xba\x04\x06\x66\xb8\x00\x20\x66\xef\xf4\xeb\xfd"
    )
    assert len(code) == code_len
    magic, flags = 0x1BADB002, 0x00010000
    end = load + header_len + code_len + len(msg)
    header = struct.pack(
        "<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF,
        load, load, end, end, load + header_len,
    )
    return header + code + msg


@dataclass(frozen=True)
class KvmStatus:
    usable: bool
    reason: str


def qemu_kvm_argv(image: str) -> list[str]:
    return [QEMU_BINARIES["x86_64"], "-accel", "kvm", "-kernel", image, "-nographic",
            "-m", "16", "-no-reboot"]


def boot_probe_image(argv_for: list[str] | None = None, timeout: float = KVM_PROBE_TIMEOUT,
                     accel: str = "kvm") -> KvmStatus:
    """Boot the probe image under QEMU with ``accel`` and report whether the marker appeared."""
    with tempfile.TemporaryDirectory(prefix="xentriage-kvmprobe-") as tmp:
        image = os.path.join(tmp, "probe.img")
        with open(image, "wb") as fh:
            fh.write(x86_probe_image())
        argv = argv_for or qemu_kvm_argv(image)
        if accel != "kvm":
            argv = [a if a != "kvm" else accel for a in argv]
        seen: list[str] = []

        def on_line(line: str) -> bool:
            seen.append(line)
            return STOP if KVM_PROBE_MARKER in line else False

        out = run_streaming(argv, on_line, timeout=timeout)
    if out.stopped or any(KVM_PROBE_MARKER in s for s in seen):
        return KvmStatus(True, f"probe image booted under -accel {accel} in {out.seconds:.1f} s")
    if out.timed_out:
        return KvmStatus(False, f"probe image printed nothing under -accel {accel} within "
                                f"{timeout:g} s (nested virtualisation?)")
    last = next((s.strip() for s in reversed(seen) if s.strip()), "no output")
    return KvmStatus(False, f"probe image failed under -accel {accel}: {last}")


@functools.cache
def kvm_status(arch: str) -> KvmStatus:
    """Whether ``-accel kvm`` really runs guests of ``arch`` here (cached for the process)."""
    if os.environ.get("XENTRIAGE_NO_KVM"):
        return KvmStatus(False, "disabled by XENTRIAGE_NO_KVM")
    if arch != native_arch():
        return KvmStatus(False, f"KVM runs only native guests ({native_arch()})")
    if not os.path.exists("/dev/kvm"):
        return KvmStatus(False, "/dev/kvm does not exist")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return KvmStatus(False, "/dev/kvm is not accessible to this user")
    if arch != "x86_64":
        return KvmStatus(False, "the KVM boot probe exists for x86_64 hosts only; using TCG")
    if not which(QEMU_BINARIES[arch]):
        return KvmStatus(False, f"{QEMU_BINARIES[arch]} not found")
    return boot_probe_image()
