"""The pure farm code: matrix loading/validation, expansion, fragments, change mapping, routing."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from farm import fragments, localfarm
from farm.changes import affected_cells
from farm.matrix import MatrixError, check_unique_names, load_matrix
from farm.routing import capabilities_from_probe, load_workers, route
from farm.table import render_table, rows_from_builds
from workers.cell import CellSpec

REPO = Path(__file__).resolve().parents[2]
CI_MATRIX = REPO / "ci" / "matrix.toml"

MINIMAL = """
[[tree]]
name = "t"
path = "tree"

[[app]]
name = "app"
path = "apps/app"
success_lines = ["hi"]

[[library]]
name = "a"
paths = ["lib/a/"]

[[library]]
name = "b"
paths = ["lib/b/", "include/b.h"]
depends = ["a"]
boot_timeout = 3

[[platform]]
name = "kvm"
symbols = ["CONFIG_PLAT_KVM", "CONFIG_KVM_VMM_QEMU"]
image_suffix = "qemu"

[[platform]]
name = "xen"
symbols = ["CONFIG_PLAT_XEN"]
image_suffix = "xen"

[[arch]]
name = "x86_64"
symbol = "CONFIG_ARCH_X86_64"

[[arch]]
name = "arm64"
symbol = "CONFIG_ARCH_ARM_64"
cross_compile = "aarch64-linux-gnu-"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "matrix.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_expansion_is_base_plus_each_library_on_every_platform_and_arch(tmp_path: Path) -> None:
    m = load_matrix(write(tmp_path, MINIMAL))
    names = [c.name for c in m.cells()]
    assert len(names) == 3 * 2 * 2
    assert "app-base-kvm-x86_64" in names and "app-b-xen-arm64" in names
    assert len(set(names)) == len(names)
    cell = next(c for c in m.cells() if c.name == "app-b-kvm-arm64")
    assert cell.real_builder == "kvm-arm64"
    assert [lib.name for lib in cell.enabled] == ["b", "a"]
    assert cell.boot_timeout == 3 and cell.success_lines == ("hi",)


def test_exclusions_and_extra_sets(tmp_path: Path) -> None:
    text = MINIMAL + """
[[exclude]]
platform = "xen"
arch = "arm64"
reason = "no arm64 dom0"

[library_sets]
extra = [["a", "b"]]
"""
    cells = load_matrix(write(tmp_path, text)).cells()
    assert not [c for c in cells if c.platform.name == "xen" and c.arch.name == "arm64"]
    assert "app-a+b-kvm-x86_64" in {c.name for c in cells}
    assert len(cells) == 4 * 3


@pytest.mark.parametrize(("bad", "key"), [
    (MINIMAL.replace('name = "kvm"', 'name = "kvm"\nsymbolz = []'), "platform[0].symbolz"),
    (MINIMAL.replace('symbol = "CONFIG_ARCH_X86_64"', 'symbol = "ARCH_X86"'), "arch[0].symbol"),
    (MINIMAL.replace('depends = ["a"]', 'depends = ["zz"]'), "library[1].depends"),
    (MINIMAL.replace('boot_timeout = 3', 'boot_timeout = true'), "library[1].boot_timeout"),
    (MINIMAL.replace('path = "tree"', 'url = "x"\npath = "tree"'), "tree[0].path"),
    (MINIMAL + '\n[[exclude]]\narch = "arm64"\n', "exclude[0].reason"),
    (MINIMAL + '\n[farm]\njobs = 0\n', "farm.jobs"),
    (MINIMAL + '\n[[library]]\nname = "a"\npaths = []\n', "library"),
    (MINIMAL.replace('name = "app"', 'name = "app"\ntree = "nope"'), "app[0].tree"),
    (MINIMAL + '\n[bogus]\n', "bogus"),
])
def test_validation_errors_name_the_key(tmp_path: Path, bad: str, key: str) -> None:
    with pytest.raises(MatrixError) as err:
        load_matrix(write(tmp_path, bad))
    assert err.value.key == key


def test_names_must_be_unique_across_real_and_virtual_builders(tmp_path: Path) -> None:
    cells = load_matrix(write(tmp_path, MINIMAL)).cells()
    check_unique_names(cells, ["kvm-x86_64"])
    with pytest.raises(MatrixError, match="app-a-kvm-x86_64"):
        check_unique_names(cells, ["app-a-kvm-x86_64"])


def test_fragment_and_make_commands(tmp_path: Path) -> None:
    m = load_matrix(write(tmp_path, MINIMAL.replace('paths = ["lib/a/"]',
                                                     'paths = ["lib/a/"]\nexternal = "ext/a"')))
    cell = next(c for c in m.cells() if c.name == "app-b-kvm-arm64")
    frag = fragments.fragment_text(cell)
    for line in ("CONFIG_ARCH_ARM_64=y", "CONFIG_PLAT_KVM=y", "CONFIG_KVM_VMM_QEMU=y",
                 "CONFIG_LIBB=y", "CONFIG_LIBA=y"):
        assert line in frag.splitlines()
    cmd = fragments.defconfig_command(cell, "/t", "/w/cells/x")
    assert cmd[:3] == ["make", "-C", "/t"]
    assert "C=/w/cells/x/.config" in cmd and "O=/w/cells/x" in cmd
    assert "L=/t/ext/a" in cmd and "CROSS_COMPILE=aarch64-linux-gnu-" in cmd
    assert cmd[-2:] == [f"UK_DEFCONFIG=/w/cells/x/{fragments.FRAGMENT_NAME}", "defconfig"]
    spec = fragments.cell_spec(cell, "/t", "/w/cells/x", m.farm)
    assert spec.build[:3] == ["make", "-C", "/t"] and spec.build[-1] == "-j2"
    assert spec.path_prepend == ["/usr/lib/ccache"]  # ccache = true in the matrix
    assert spec.image_glob == "*_qemu-arm64" and spec.build_dir == "/w/cells/x"
    assert spec.boot[:4] == ["--platform", cell.platform.boot_platform, "--arch", "arm64"]
    assert spec.kconfig_libs == ["/t/ext/a"] and spec.fragment == frag
    # What the master renders is exactly what the worker parses back.
    assert CellSpec.from_json(spec.to_json()) == spec


def test_symbol_values_in_fragment(tmp_path: Path) -> None:
    text = MINIMAL.replace('success_lines = ["hi"]', 'success_lines = ["hi"]\nsymbols = '
                           '{ CONFIG_UK_NAME = "hello", CONFIG_X = false, CONFIG_N = 3 }')
    cell = load_matrix(write(tmp_path, text)).cells()[0]
    lines = fragments.fragment_text(cell).splitlines()
    assert 'CONFIG_UK_NAME="hello"' in lines and "# CONFIG_X is not set" in lines
    assert "CONFIG_N=3" in lines


def test_change_touching_one_library_selects_only_its_cells(tmp_path: Path) -> None:
    text = MINIMAL.replace('path = "tree"', 'path = "tree"\nignore_paths = ["doc/"]')
    cells = load_matrix(write(tmp_path, text)).cells()
    impact = affected_cells(["lib/b/b.c"], cells)
    assert {c.libset for c in impact.cells} == {"b"} and len(impact.cells) == 4
    # b depends on a: a change to a rebuilds the a and b cells, never the base ones.
    assert {c.libset for c in affected_cells(["lib/a/x.c"], cells).cells} == {"a", "b"}
    assert {c.libset for c in affected_cells(["include/b.h"], cells).cells} == {"b"}
    assert affected_cells(["doc/x.txt"], cells).cells == ()
    assert len(affected_cells(["lib/b/b.c", "plat/kvm/setup.c"], cells).cells) == len(cells)
    assert len(affected_cells(["apps/app/main.c"], cells).cells) == len(cells)
    assert len(affected_cells([], cells).cells) == len(cells)


def test_probe_parsing_and_routing(tmp_path: Path) -> None:
    m = load_matrix(write(tmp_path, MINIMAL))
    archs, boots, reasons = capabilities_from_probe({
        "build": [{"arch": "x86_64", "ok": True},
                  {"arch": "arm64", "ok": False, "reason": "no aarch64-linux-gnu-gcc"}],
        "boot": [{"platform": "qemu", "arch": "x86_64", "ok": True}],
    })
    assert archs == {"x86_64"} and boots == {("qemu", "x86_64")}
    assert reasons == {"build/arm64": "no aarch64-linux-gnu-gcc"}
    (tmp_path / "w.json").write_text(json.dumps({"workers": [
        {"name": "full", "probe": {"build": ["x86_64", "arm64"],
                                   "boot": ["qemu/x86_64", "qemu/arm64"]}},
        {"name": "bare", "probe": {"build": ["x86_64"], "boot": []}},
    ]}))
    specs = load_workers(tmp_path / "w.json")
    kvm, xen = m.platforms
    x86, arm = m.archs
    assert route(kvm, x86, specs).workers == ("full",)  # only the booter
    assert route(kvm, x86, specs).boot_capable
    assert route(xen, x86, specs).workers == ("full", "bare")  # nobody boots xen
    assert not route(xen, x86, specs).boot_capable
    assert route(xen, arm, specs).workers == ("full",)  # only full builds arm64


def test_workers_file_validation(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps({"workers": [{"name": "a", "pasword": "x"}]}))
    with pytest.raises(MatrixError) as err:
        load_workers(tmp_path / "w.json")
    assert err.value.key == "workers[0].pasword"


def test_committed_matrix_loads_and_has_every_platform_and_arch() -> None:
    m = load_matrix(CI_MATRIX)
    cells = m.cells()
    assert {c.platform.name for c in cells} == {"kvm", "fc", "xen", "linuxu"}
    assert {c.arch.name for c in cells} == {"x86_64", "arm64"}
    assert m.tree("fixture").path == (REPO / "tests" / "fixtures" / "uktree").resolve()


def test_result_table_keeps_latest_build_per_cell() -> None:
    builds = [
        {"buildid": 1, "complete": True, "results": 2, "state_string": "failed",
         "props": {"cell": "c1", "cell_result": "build-failed", "result_reason": "old"}},
        {"buildid": 3, "complete": True, "results": 0, "state_string": "ok",
         "props": {"cell": "c1", "cell_result": "passed", "result_reason": "booted",
                   "image_size": 4096, "build_seconds": 1.25, "boot_seconds": 0.5,
                   "workername": "full"}},
        {"buildid": 2, "complete": True, "results": 3, "state_string": "skipped",
         "props": {"cell": "c2", "cell_result": "unsupported",
                   "result_reason": "unsupported: CONFIG_LIBX dropped"}},
    ]
    rows = rows_from_builds(builds)
    assert [(r.cell, r.result) for r in rows] == [("c1", "passed"), ("c2", "unsupported")]
    text = render_table(rows)
    assert "4096" in text and "1.2s" in text and "full" in text
    assert text.splitlines()[-1] == "2 cells: 1 passed, 1 unsupported"


def test_cpu_lists() -> None:
    first = min(os.sched_getaffinity(0))
    assert localfarm.parse_cpus(f"{first}") == {first}
    assert localfarm.parse_cpus(f"{first}-{first}") == {first}
    for bad in ("", "a", "0-x", "100000"):
        with pytest.raises(localfarm.FarmError):
            localfarm.parse_cpus(bad)


def test_runner_options_per_platform_arch_and_cell(tmp_path: Path) -> None:
    text = MINIMAL + """
[[runner]]
platform = "kvm"
arch = "x86_64"
cpu = "max"
memory = 128

[[runner]]
library = "b"
platform = "kvm"
arch = "x86_64"
cpu = "qemu64,+pdpe1gb"
vmm_args = ["-smp", "2"]
"""
    cells = {c.name: c for c in load_matrix(write(tmp_path, text)).cells()}
    base, b = cells["app-base-kvm-x86_64"], cells["app-b-kvm-x86_64"]
    assert (base.runner.cpu, base.runner.memory, base.runner.vmm_args) == ("max", 128, ())
    # Later entries override key by key: b keeps the memory, gets its own CPU and arguments.
    assert (b.runner.cpu, b.runner.memory, b.runner.vmm_args) == ("qemu64,+pdpe1gb", 128,
                                                                  ("-smp", "2"))
    assert cells["app-b-kvm-arm64"].runner.cpu is None  # the runner's default (cortex-a57)
    opts = fragments.boot_options(b)
    assert opts[-6:] == ["--cpu", "qemu64,+pdpe1gb", "--memory", "128", "--vmm-arg=-smp",
                         "--vmm-arg=2"]
    with pytest.raises(MatrixError) as err:
        load_matrix(write(tmp_path, MINIMAL + '\n[[runner]]\ncpu = "max; rm -rf"\n'))
    assert err.value.key == "runner[0].cpu"
    with pytest.raises(MatrixError) as err:
        load_matrix(write(tmp_path, MINIMAL + '\n[[runner]]\ncpus = "max"\n'))
    assert err.value.key == "runner[0].cpus"


def test_names_with_dashes_and_libraries_limited_per_tree(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "b"', 'name = "posix-b"').replace(
        'path = "tree"', 'path = "tree"\nlibraries = ["a"]\nplatforms = ["kvm"]') + """
[[tree]]
name = "t2"
path = "tree2"

[[app]]
name = "app-two"
tree = "t2"
path = "apps/app"
"""
    names = {c.name for c in load_matrix(write(tmp_path, text)).cells()}
    assert "app-a-kvm-x86_64" in names and "app-posix-b-kvm-x86_64" not in names
    assert not {n for n in names if n.startswith("app-") and "-xen-" in n
                and not n.startswith("app-two-")}
    assert {"app-two-posix-b-xen-arm64", "app-two-base-kvm-x86_64"} <= names
    with pytest.raises(MatrixError) as err:
        load_matrix(write(tmp_path, MINIMAL.replace('path = "tree"',
                                                    'path = "tree"\nlibraries = ["zz"]')))
    assert err.value.key == "tree[0].libraries"


def test_the_documented_real_tree_matrix_loads() -> None:
    m = load_matrix(REPO / "docs" / "examples" / "matrix-unikraft-0.16.3.toml")
    names = {c.name for c in m.cells()}
    assert len(names) == 22
    assert {"helloworld-posix-timerfd-kvm-arm64", "helloworld-ukvmem-linuxu-x86_64",
            "helloworld-ukgcov-kvm-x86_64"} <= names
    assert not {n for n in names if "ukgcov" in n and "-kvm-" not in n}
