"""``XENTRIAGE_KEEP_CONFIG``: a caller that knows no Kconfig input changed keeps the build
directory's .config; without the stamp of a finished configure, or with another fragment, the
cell configures as always (and without the variable, as the farm runs it, always)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farm import fragments
from farm.matrix import load_matrix
from workers.cell import CONFIGURED_NAME, KEEP_CONFIG_ENV, RESULT_MARKER

from .conftest import REPO, require_binary

MATRIX = load_matrix(REPO / "ci" / "matrix.toml")
CELL = next(c for c in MATRIX.cells() if c.name == "hello-base-kvm-x86_64")
KEPT = "kept the .config of the last configure"


def run(build_dir: Path, keep: str | None, fragment_extra: str = "") -> tuple[str, dict[str, Any]]:
    spec = fragments.cell_spec(CELL, str(CELL.tree.path), str(build_dir), MATRIX.farm)
    doc = json.loads(spec.to_json())
    doc["fragment"] += fragment_extra
    env = {k: v for k, v in os.environ.items() if k != KEEP_CONFIG_ENV}
    if keep is not None:
        env[KEEP_CONFIG_ENV] = keep
    proc = subprocess.run([sys.executable, "-m", "workers.cell", "--spec-json", json.dumps(doc)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    last = proc.stdout.splitlines()[-1]
    assert last.startswith(RESULT_MARKER), proc.stdout[-2000:]
    return proc.stdout, json.loads(last[len(RESULT_MARKER):])


@pytest.fixture(scope="module")
def tools() -> None:
    for binary in ("make", "gcc", "qemu-system-x86_64"):
        require_binary(binary)


def test_keep_config_only_after_a_finished_configure_of_the_same_spec(tools: None,
                                                                     tmp_path: Path) -> None:
    out, verdict = run(tmp_path, "1")  # nothing configured yet: configures
    assert KEPT not in out and verdict["cell_result"] == "passed"
    assert (tmp_path / CONFIGURED_NAME).is_file()
    out, kept = run(tmp_path, "1")
    assert KEPT in out and kept["cell_result"] == "passed", kept
    assert kept["configure_seconds"] < verdict["configure_seconds"]
    out, _ = run(tmp_path, None)  # the farm: never kept
    assert KEPT not in out
    out, other = run(tmp_path, "1", "CONFIG_LIBCRC=y\n")  # another fragment: configures
    assert KEPT not in out and other["cell_result"] == "passed"
    (tmp_path / CONFIGURED_NAME).unlink()  # as a configure killed half-way leaves it
    out, _ = run(tmp_path, "1", "CONFIG_LIBCRC=y\n")
    assert KEPT not in out
