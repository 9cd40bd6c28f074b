"""What this worker can build and boot: ``python -m workers.probe [--json]``.

Build capability is a compiler per arch (the native ``gcc`` or a cross ``<prefix>gcc`` on PATH)
plus ``make``; boot capability is each runner's availability per (platform, arch), with the
accelerator it would use. Every absence carries its reason, so the farm can report
"boot skipped: no capable worker" with the cause instead of failing the cell.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from workers import ARCHES, PLATFORMS
from workers.host import QEMU_BINARIES, kvm_status, native_arch, which
from workers.preflight import gcc_version
from workers.runners import runner_for

# Host tools a real Unikraft tree needs beyond make and a compiler, and what fails without
# them. Missing ones are the worker's problem (environment), listed in ``problems``.
HOST_TOOLS = {
    "flex": "Unikraft's Kconfig does not build (every cell fails at 'lex: not found')",
    "bison": "Unikraft's Kconfig does not build ('yacc: not found')",
    "script": "no `script` for linuxu runners that use it for a TTY (this farm's runner uses a "
              "pty of its own)",
}
# Libraries refuse older compilers (lib/ukgcov: "Require GCC version >= 13.0").
MIN_GCC_FOR = {"lib/ukgcov": (13, 0)}

CROSS_PREFIXES = {
    "x86_64": ("x86_64-linux-gnu-",),
    "arm64": ("aarch64-linux-gnu-", "aarch64-none-elf-", "aarch64-elf-"),
}


@dataclass(frozen=True)
class BuildCapability:
    arch: str
    ok: bool
    cross_compile: str  # the CROSS_COMPILE= value ("" for the native compiler)
    compiler: str
    reason: str


@dataclass(frozen=True)
class BootCapability:
    platform: str
    arch: str
    ok: bool
    accel: str
    reason: str


@dataclass(frozen=True)
class ProbeReport:
    hostname: str
    native_arch: str
    make: str | None
    kvm: dict[str, object]
    build: tuple[BuildCapability, ...]
    boot: tuple[BootCapability, ...]
    host_tools: dict[str, str | None] = field(default_factory=dict)  # name -> path or None
    gcc_version: str | None = None
    problems: tuple[str, ...] = ()  # what will fail here, the worker's fault, not the code's

    @property
    def build_archs(self) -> list[str]:
        return [b.arch for b in self.build if b.ok]

    @property
    def boot_cells(self) -> list[str]:
        return [f"{b.platform}/{b.arch}" for b in self.boot if b.ok]

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["build_archs"] = self.build_archs
        data["boot_cells"] = self.boot_cells
        return data


def probe_build(arch: str) -> BuildCapability:
    native = native_arch()
    if not which("make"):
        return BuildCapability(arch, False, "", "", "make not found")
    if arch == native and which("gcc"):
        return BuildCapability(arch, True, "", str(which("gcc")), "native gcc")
    for prefix in CROSS_PREFIXES.get(arch, ()):
        path = which(prefix + "gcc")
        if path:
            return BuildCapability(arch, True, prefix, path, f"cross compiler {prefix}gcc")
    tried = ", ".join(p + "gcc" for p in CROSS_PREFIXES.get(arch, ()))
    what = "gcc" if arch == native else f"a cross compiler ({tried})"
    return BuildCapability(arch, False, "", "", f"no {what} on PATH")


def probe_boot(platform: str, arch: str) -> BootCapability:
    avail = runner_for(platform).availability(arch)
    return BootCapability(platform, arch, avail.ok, avail.accel, avail.reason)


def host_problems(tools: dict[str, str | None], gcc: str | None,
                  build: tuple[BuildCapability, ...]) -> list[str]:
    problems = [f"{name} not found: {HOST_TOOLS[name]}" for name, path in tools.items()
                if path is None and name in HOST_TOOLS]
    if gcc:
        have = tuple(int(x) for x in gcc.split(".")[:2])
        for lib, need in MIN_GCC_FOR.items():
            if have < need:
                problems.append(f"gcc {gcc} is older than {need[0]}.{need[1]}: {lib} cannot "
                                "be built here")
    problems += [f"cannot build {b.arch}: {b.reason}" for b in build if not b.ok]
    problems += [f"{binary} not found: no kvm/{arch} boots here"
                 for arch, binary in QEMU_BINARIES.items() if not which(binary)]
    return problems


def probe() -> ProbeReport:
    native = native_arch()
    status = kvm_status(native)
    tools = {name: which(name) for name in HOST_TOOLS}
    gcc = gcc_version()
    build = tuple(probe_build(a) for a in ARCHES)
    return ProbeReport(
        hostname=socket.gethostname(),
        native_arch=native,
        make=which("make"),
        kvm={"arch": native, "usable": status.usable, "reason": status.reason},
        build=build,
        boot=tuple(probe_boot(p, a) for p in PLATFORMS for a in ARCHES),
        host_tools=tools,
        gcc_version=gcc,
        problems=tuple(host_problems(tools, gcc, build)),
    )


def render_text(report: ProbeReport) -> str:
    lines = [f"worker {report.hostname} ({report.native_arch})",
             f"KVM: {'usable' if report.kvm['usable'] else 'not usable'} ({report.kvm['reason']})",
             "build:"]
    for b in report.build:
        lines.append(f"  {b.arch:8} {'yes' if b.ok else 'no ':3}  {b.reason}")
    lines.append("boot:")
    for c in report.boot:
        accel = f" [{c.accel}]" if c.ok else ""
        lines.append(f"  {c.platform + '/' + c.arch:20} {'yes' if c.ok else 'no ':3}{accel}  "
                     f"{c.reason}")
    lines.append(f"gcc {report.gcc_version or 'not found'}; host tools: " + ", ".join(
        f"{n} {'yes' if p else 'NO'}" for n, p in report.host_tools.items()))
    lines += ["problems (environment, the worker's fault):",
              *[f"  {p}" for p in report.problems]] if report.problems else ["problems: none"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workers.probe",
                                 description="Report what this worker can build and boot.")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    report = probe()
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
