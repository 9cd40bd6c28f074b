"""Tree kinds in the matrix (farm.kinds): validation, Rumprun cell expansion, specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from farm import fragments
from farm.matrix import MatrixError, load_matrix, parse_matrix
from workers.cell import CellSpec

REPO = Path(__file__).resolve().parents[2]


def doc(**extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "tree": [{"name": "rr", "kind": "rumprun", "path": "tree"}],
        "rumprun_app": [{"name": "hello", "tree": "rr", "sources": ["hello.c"]}],
        "arch": [{"name": "x86_64", "symbol": "CONFIG_ARCH_X86_64"},
                 {"name": "arm64", "symbol": "CONFIG_ARCH_ARM_64"}],
    }
    d.update(extra)
    return d


def test_rumprun_cells_are_app_bake_platform_arch() -> None:
    m = parse_matrix(doc(), Path("/x"))
    names = sorted(c.name for c in m.cells())
    assert len(names) == (3 + 2) * 2  # hw: 3 bake configurations, xen: 2; two archs
    assert "hello-hw_virtio_scsi-hw-arm64" in names and "hello-xen_pci-xen-x86_64" in names
    assert set(m.real_builders()) == {"hw-x86_64", "hw-arm64", "xen-x86_64", "xen-arm64"}


def test_kind_and_options_are_validated() -> None:
    with pytest.raises(MatrixError, match=r"tree\[0\]\.kind"):
        parse_matrix(doc(tree=[{"name": "rr", "kind": "linux", "path": "t"}]), Path("/x"))
    with pytest.raises(MatrixError, match=r"rumprun\.platforms"):
        parse_matrix(doc(tree=[{"name": "rr", "kind": "rumprun", "path": "t",
                                "rumprun": {"platforms": ["kvm"]}}]), Path("/x"))
    with pytest.raises(MatrixError, match=r"rumprun\.bogus"):
        parse_matrix(doc(tree=[{"name": "rr", "kind": "rumprun", "path": "t",
                                "rumprun": {"bogus": 1}}]), Path("/x"))
    with pytest.raises(MatrixError, match=r"rumprun_app\[0\]\.bakes"):
        parse_matrix(doc(rumprun_app=[{"name": "h", "tree": "rr", "sources": ["h.c"],
                                       "bakes": ["hw_nope"]}]), Path("/x"))
    with pytest.raises(MatrixError, match=r"rumprun_app\[0\]\.tree"):
        parse_matrix(doc(rumprun_app=[{"name": "h", "tree": "nope", "sources": ["h.c"]}]),
                     Path("/x"))
    with pytest.raises(MatrixError, match=r"rumprun_app\[0\]\.sources"):
        parse_matrix(doc(rumprun_app=[{"name": "h", "tree": "rr"}]), Path("/x"))


def test_spec_carries_the_build_workarounds_and_a_builder_level_cache() -> None:
    m = load_matrix(REPO / "ci" / "matrix-rumprun.toml")
    cell = next(c for c in m.cells() if c.name == "hello-hw_generic-hw-x86_64")
    spec = fragments.cell_spec(cell, "/t", "/b/cells/" + cell.name, m.farm)
    again = CellSpec.from_json(spec.to_json())
    assert again.kind == "rumprun"
    ks = again.kind_spec
    assert ks["build_options"] == ["--", "-F", "CFLAGS=-fcommon", "-V", "NOGCCERROR=1"]
    assert ks["build_env"] == {"HOST_CFLAGS": "-O -fcommon", "NOGCCERROR": "1"}
    assert ks["cache_dir"] == "/b/rumprun-cache" and ks["sources"] == ["/t/apps/hello.c"]
    nocommon = next(c for c in m.cells() if c.tree.name == "rumpfixture-nocommon")
    assert nocommon.tree.rumprun.build_env["HOST_CFLAGS"] == "-O"


def test_unikraft_matrix_is_unchanged() -> None:
    m = load_matrix(REPO / "ci" / "matrix.toml")
    assert all(c.tree.kind == "unikraft" and not c.bake for c in m.cells())
    assert not m.rumprun_apps


def test_prebuilt_platform_is_validated_and_passed_per_platform() -> None:
    tree = {"name": "rr", "kind": "rumprun", "path": "t",
            "rumprun": {"prebuilt": {"hw": "/srv/rumprun/rumprun"}}}
    m = parse_matrix(doc(tree=[tree]), Path("/x"))
    specs = {c.platform.name: fragments.cell_spec(c, "/t", "/b/cells/x", m.farm)
             for c in m.cells()}
    assert specs["hw"].kind_spec["prebuilt"] == "/srv/rumprun/rumprun"
    assert specs["xen"].kind_spec["prebuilt"] == ""
    tree["rumprun"] = {"prebuilt": {"hw": "relative/dir"}}
    with pytest.raises(MatrixError, match=r"prebuilt\.hw"):
        parse_matrix(doc(tree=[tree]), Path("/x"))
