"""workers.kinds.rumprun on the fixture tree, without Buildbot: checkout checks, the prebuilt
platform option, the static support table."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from farm import fragments
from farm.matrix import load_matrix
from workers.cell import CellSpec, run_cell

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "rumptree"


def spec_for(cell_name: str, builder: Path, tree_root: Path = FIXTURE) -> CellSpec:
    m = load_matrix(REPO / "ci" / "matrix-rumprun.toml")
    cell = next(c for c in m.cells() if c.name == cell_name)
    return fragments.cell_spec(cell, str(tree_root), str(builder / "cells" / cell_name), m.farm)


def test_empty_submodule_is_environment_before_any_build(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE, tree)
    shutil.rmtree(tree / "src-netbsd")
    (tree / "src-netbsd").mkdir()
    res = run_cell(spec_for("hello-hw_generic-hw-x86_64", tmp_path / "b", tree), io.StringIO())
    assert res.cell_result == "environment" and "src-netbsd" in res.result_reason
    assert not (tmp_path / "b" / "rumprun-cache").exists()


def test_arm64_is_unsupported_from_the_table(tmp_path: Path) -> None:
    out = io.StringIO()
    res = run_cell(spec_for("hello-hw_generic-hw-arm64", tmp_path), out)
    assert res.cell_result == "unsupported" and res.signature
    assert "build-rr.sh" not in out.getvalue()


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_prebuilt_platform_is_used_instead_of_a_build(tmp_path: Path) -> None:
    first = run_cell(spec_for("hello-hw_generic-hw-x86_64", tmp_path / "a"), io.StringIO())
    assert first.cell_result == "passed", first.result_reason
    dest = next((tmp_path / "a" / "rumprun-cache" / "platform").glob("hw-x86_64-*")) / "dest"
    spec = spec_for("hello-hw_virtio-hw-x86_64", tmp_path / "b")
    spec = replace(spec, kind_spec={**spec.kind_spec, "prebuilt": str(dest)})
    out = io.StringIO()
    res = run_cell(spec, out)
    assert res.cell_result == "passed", res.result_reason
    assert res.runner["platform_build"] == {"cached": True, "prebuilt": str(dest)}
    assert "build-rr.sh" not in out.getvalue()
    spec = replace(spec, kind_spec={**spec.kind_spec, "prebuilt": str(tmp_path / "nothing")})
    assert run_cell(spec, io.StringIO()).cell_result == "environment"
