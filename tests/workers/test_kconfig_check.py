"""kconfig_check on fixture cells, and its Kconfig reader on Unikraft-style files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.workers.conftest import HELLO, NETDEV, REPO, UKTREE, CellBuild, CellFactory
from workers.kconfig_check import RESULT_MARKER
from workers.kconfig_model import evaluate, load_model, parse_expr, unmet_parts


def check(cell: CellBuild, *extra: str, libs: bool = True) -> tuple[int, dict[str, Any], str]:
    argv = [sys.executable, "-m", "workers.kconfig_check", "--root", str(UKTREE),
            "--app", str(HELLO), "--fragment", str(cell.fragment), "--config", str(cell.config)]
    if libs:
        for lib in cell.libs:
            argv += ["--lib", str(lib)]
    res = subprocess.run([*argv, *extra], capture_output=True, text=True, cwd=REPO, timeout=60)
    last = res.stdout.splitlines()[-1]
    assert last.startswith(RESULT_MARKER + " "), res.stdout + res.stderr
    return res.returncode, json.loads(last.split(" ", 1)[1]), res.stdout


def test_all_kept(uk_cell: CellFactory) -> None:
    cell = uk_cell("kvm-x86-crc", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"])
    code, res, _ = check(cell)
    assert (code, res["status"], res["dropped"]) == (0, "ok", [])


def test_library_with_unmet_dependency(uk_cell: CellFactory) -> None:
    cell = uk_cell("linuxu-netdev", "x86_64",
                   ["CONFIG_PLAT_LINUXU", "CONFIG_LIBNETDEV", "CONFIG_LIBRING"],
                   libs=[NETDEV], build=False)
    code, res, out = check(cell)
    assert code == 3 and res["status"] == "dropped"
    [dropped] = res["dropped"]
    assert dropped["symbol"] == "CONFIG_LIBNETDEV" and dropped["kind"] == "library"
    assert dropped["unmet"] == ["PLAT_KVM (is n)"]
    assert dropped["depends_on"] == "PLAT_KVM && LIBRING"
    assert "CONFIG_LIBNETDEV dropped: unmet dependency PLAT_KVM" in out
    assert not res["platform_dropped"]


def test_library_that_drops_the_platform(uk_cell: CellFactory) -> None:
    cell = uk_cell("xen-directmap", "x86_64", ["CONFIG_PLAT_XEN", "CONFIG_LIBDIRECTMAP"],
                   build=False)
    code, res, out = check(cell)
    assert code == 3 and res["platform_dropped"]
    [dropped] = res["dropped"]
    assert dropped["symbol"] == "CONFIG_PLAT_XEN"
    assert dropped["unmet"] == ["!LIBDIRECTMAP (LIBDIRECTMAP is y)"]
    assert "the platform itself was dropped" in out


def test_platform_unsupported_on_an_arch(uk_cell: CellFactory) -> None:
    cell = uk_cell("linuxu-arm64", "arm64", ["CONFIG_PLAT_LINUXU"], build=False)
    code, res, _ = check(cell)
    assert code == 3 and res["platform_dropped"]
    assert res["dropped"][0]["unmet"] == ["ARCH_X86_64 (is n)"]


def test_undefined_symbol_and_missing_files(uk_cell: CellFactory, tmp_path: Path) -> None:
    cell = uk_cell("kvm-x86-crc", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"])
    frag = tmp_path / "frag"
    frag.write_text(cell.fragment.read_text() + "CONFIG_LIBNOSUCH=y\n")
    bogus = CellBuild(cell.build_dir, frag, cell.config, "x86_64", (), 0, "")
    code, res, _ = check(bogus)
    assert code == 3 and "not defined by any Config.uk" in res["dropped"][0]["reason"]
    missing = CellBuild(cell.build_dir, tmp_path / "nope", cell.config, "x86_64", (), 0, "")
    code, res, _ = check(missing)
    assert code == 4 and res["status"] == "error"


def test_reader_follows_sources_with_context(tmp_path: Path) -> None:
    # The shape of a real Unikraft tree: sources through $(UK_BASE), plat blocks under
    # `if`, menus with dependencies, choices, and files only reachable by the catch-all walk.
    (tmp_path / "plat" / "kvm").mkdir(parents=True)
    (tmp_path / "lib" / "ukrandom").mkdir(parents=True)
    (tmp_path / "Config.uk").write_text(
        'mainmenu "Unikraft"\nsource "$(UK_BASE)/arch/Config.uk"\n'
        'source "$(UK_BASE)/plat/Config.uk"\nsource "$(KCONFIG_LIB_IN)"\n')
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "Config.uk").write_text(
        "choice\n\tprompt \"Architecture\"\nconfig ARCH_X86_64\n\tbool \"x86\"\n"
        "config ARCH_ARM_64\n\tbool \"arm64\"\nendchoice\n")
    (tmp_path / "plat" / "Config.uk").write_text(
        'menuconfig PLAT_KVM\n\tbool "KVM guest"\n\tdefault n\n\thelp\n\t  text with if\n'
        'if (PLAT_KVM)\n\tsource "$(UK_BASE)/plat/kvm/Config.uk"\nendif\n'
        'menu "Xen"\n\tdepends on ARCH_X86_64 || ARCH_ARM_64\n'
        'config PLAT_XEN\n\tbool "Xen guest" if !LIBPOSIX_MMAP\nendmenu\n')
    (tmp_path / "plat" / "kvm" / "Config.uk").write_text(
        'config KVM_PCI\n\tbool "PCI bus"\n\tdepends on ARCH_X86_64\n')
    (tmp_path / "lib" / "ukrandom" / "Config.uk").write_text(
        'menuconfig LIBUKRANDOM\n\tbool "ukrandom"\n\tselect LIBUKDEBUG\n'
        '\tdepends on ARCH_X86_64 && HAVE_RDSEED = y\n')
    model = load_model(tmp_path)
    assert model.errors == []
    values = {"ARCH_ARM_64": "y", "PLAT_KVM": "y", "LIBPOSIX_MMAP": "y"}
    kvm_pci = model.symbols["KVM_PCI"]
    assert [p for d in kvm_pci.deps for p in unmet_parts(d, values)] == ["ARCH_X86_64 (is n)"]
    assert len(kvm_pci.deps) == 2  # the enclosing `if (PLAT_KVM)` plus its own
    xen = model.symbols["PLAT_XEN"]
    assert [p for d in xen.deps for p in unmet_parts(d, values)] == [
        "!LIBPOSIX_MMAP (LIBPOSIX_MMAP is y)"]
    rnd = model.symbols["LIBUKRANDOM"]
    parts = [p for d in rnd.deps for p in unmet_parts(d, {"ARCH_X86_64": "y"})]
    assert parts == ["HAVE_RDSEED = y"]
    assert model.symbols["LIBUKDEBUG"].selected_by == ["LIBUKRANDOM"]
    assert evaluate(parse_expr("!(A || B) && C != n"), {"C": "y"})
