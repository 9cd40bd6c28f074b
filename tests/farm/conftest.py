"""A real local farm for the integration tests: one Buildbot master and two workers, as
subprocesses on 127.0.0.1, running the committed matrix over the fixture tree.

The two workers differ in capabilities: ``full`` has the arm64 cross compiler and QEMU;
``bare`` gets a PATH from which ``aarch64-linux-gnu-*``, ``qemu-system-*``, ``firecracker`` and
``xl`` are removed (a directory of symlinks to everything else), and its capabilities come
from running ``workers.probe`` with that same PATH, so it is declared and routed as the machine
it really is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farm import localfarm

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "ci" / "matrix.toml"
NEEDED = ("make", "gcc", "aarch64-linux-gnu-gcc", "qemu-system-x86_64", "qemu-system-aarch64")


def require_binaries() -> None:
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"missing Debian binaries: {', '.join(missing)}")
    assert not missing, f"CI: missing binaries {missing}"


class RunningFarm:
    def __init__(self, state: localfarm.FarmState, probes: dict[str, dict[str, Any]]) -> None:
        self.state = state
        self.probes = probes

    def run_all(self, timeout: float = 420) -> list[dict[str, Any]]:
        before = localfarm.max_build_id(self.state)
        localfarm.force(self.state, "*")
        localfarm.wait_idle(self.state, timeout)
        return localfarm.builds_since(self.state, before)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFarm]:
    require_binaries()
    state_dir = tmp_path_factory.mktemp("farm")
    # With two CPUs or more, pin the master and the bare worker (farm up --master-cpus /
    # --worker-cpus); the full worker runs anywhere.
    cpus = sorted(os.sched_getaffinity(0))
    pinned = len(cpus) >= 2
    plans = [
        localfarm.WorkerPlan("full", max_builds=2),
        localfarm.WorkerPlan("bare", max_builds=2, hide_tools=localfarm.NO_CROSS_NO_QEMU,
                             cpus=frozenset(cpus[-1:]) if pinned else None),
    ]
    probes = {p.name: localfarm.probe(localfarm.worker_env(p, state_dir)) for p in plans}
    try:
        state = localfarm.up(state_dir, MATRIX, plans, probes=probes,
                             master_cpus=frozenset(cpus[:1]) if pinned else None)
        yield RunningFarm(state, probes)
    finally:
        localfarm.down(state_dir)
