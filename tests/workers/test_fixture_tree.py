"""The fixture tree behaves like a Unikraft tree: configuration, images, incremental builds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.workers.conftest import (
    HELLO,
    NETDEV,
    UKTREE,
    CellFactory,
    config_values,
    make_cell,
    require_binary,
)


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120)


def test_plain_make_without_configuration_refuses(tmp_path: Path) -> None:
    require_binary("make")
    res = run(["make", "-C", str(UKTREE), f"A={HELLO}", f"O={tmp_path}",
               f"C={tmp_path}/.config"])
    assert res.returncode != 0
    assert "no configuration" in res.stderr and "defconfig" in res.stderr
    assert not (tmp_path / ".config").exists()


def test_defconfig_wants_an_absolute_fragment(tmp_path: Path) -> None:
    require_binary("make")
    res = run(["make", "-C", str(UKTREE), f"A={HELLO}", f"O={tmp_path}",
               f"C={tmp_path}/.config", "UK_DEFCONFIG=relative.frag", "defconfig"])
    assert res.returncode != 0 and "absolute" in res.stdout + res.stderr


def test_select_and_defaults(uk_cell: CellFactory) -> None:
    cell = uk_cell("kvm-x86-crc", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"])
    values = config_values(cell.config)
    assert values["CONFIG_LIBRING"] == "y"  # selected by LIBCRC
    assert values["CONFIG_KVM_VMM_QEMU"] == "y"  # the choice's default
    assert values["CONFIG_UK_NAME"] == '"hello"'  # the app's default wins
    assert cell.returncode == 0, cell.output
    assert cell.image("qemu").is_file()


def test_unmet_dependencies_are_dropped_silently(uk_cell: CellFactory) -> None:
    netdev = uk_cell("linuxu-netdev", "x86_64",
                     ["CONFIG_PLAT_LINUXU", "CONFIG_LIBNETDEV", "CONFIG_LIBRING"],
                     libs=[NETDEV], build=False)
    assert "CONFIG_LIBNETDEV" not in config_values(netdev.config)
    xen = uk_cell("xen-directmap", "x86_64", ["CONFIG_PLAT_XEN", "CONFIG_LIBDIRECTMAP"],
                  build=False)
    values = config_values(xen.config)
    assert values["CONFIG_LIBDIRECTMAP"] == "y" and "CONFIG_PLAT_XEN" not in values
    linuxu_arm = uk_cell("linuxu-arm64", "arm64", ["CONFIG_PLAT_LINUXU"], build=False)
    assert "CONFIG_PLAT_LINUXU" not in config_values(linuxu_arm.config)


def test_compile_error_on_one_arch_only(uk_cell: CellFactory) -> None:
    arm = uk_cell("kvm-arm64-cpuid", "arm64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCPUID"])
    assert arm.returncode != 0
    assert "cpuid.h" in arm.output and "error" in arm.output.lower()
    x86 = uk_cell("kvm-x86-cpuid", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCPUID"])
    assert x86.returncode == 0, x86.output


def test_xen_and_firecracker_images_build(uk_cell: CellFactory) -> None:
    x86 = uk_cell("x86-xen-fc-linuxu", "x86_64",
                  ["CONFIG_PLAT_XEN", "CONFIG_PLAT_KVM", "CONFIG_KVM_VMM_FIRECRACKER",
                   "CONFIG_PLAT_LINUXU"])
    assert x86.returncode == 0, x86.output
    for suffix in ("xen", "fc", "linuxu"):
        assert x86.image(suffix).is_file(), suffix
    if shutil.which("readelf"):
        notes = run(["readelf", "-n", str(x86.image("xen"))]).stdout
        assert "Xen" in notes  # the PVH entry note
    arm = uk_cell("arm-xen-fc", "arm64",
                  ["CONFIG_PLAT_XEN", "CONFIG_PLAT_KVM", "CONFIG_KVM_VMM_FIRECRACKER"])
    assert arm.returncode == 0, arm.output
    for suffix in ("xen", "fc"):
        # Raw arm64 Images: the "ARM\x64" magic at offset 0x38.
        assert arm.image(suffix).read_bytes()[0x38:0x3C] == b"ARM\x64", suffix


def test_incremental_rebuild(tmp_path: Path) -> None:
    # A private copy of the tree, so touching a source cannot disturb other tests.
    root = tmp_path / "tree"
    shutil.copytree(UKTREE, root)
    cell = make_cell(tmp_path / "build", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"],
                     root=root)
    assert cell.returncode == 0, cell.output
    assert cell.output.count("  CC ") >= 10
    again = run(cell.make_argv(root))
    assert again.returncode == 0
    assert "  CC " not in again.stdout and "  LD " not in again.stdout, again.stdout
    # Re-resolving an unchanged configuration must not trigger a rebuild either.
    assert run(cell.make_argv(root, "olddefconfig")).returncode == 0
    assert "  CC " not in run(cell.make_argv(root)).stdout
    (root / "lib" / "ring" / "ring.c").touch()
    one = run(cell.make_argv(root))
    assert one.returncode == 0
    assert [ln.split()[-1] for ln in one.stdout.splitlines() if "  CC " in ln] == [
        "libring/ring.c"]
    assert "  LD      hello_qemu-x86_64" in one.stdout
    # A changed header recompiles exactly the objects that include it.
    (root / "include" / "uk" / "crc.h").touch()
    hdr = run(cell.make_argv(root))
    rebuilt = sorted(ln.split()[-1] for ln in hdr.stdout.splitlines() if "  CC " in ln)
    assert rebuilt == ["libcrc/crc16.c", "libcrc/crc32.c", "libcrc/selftest.c"]
