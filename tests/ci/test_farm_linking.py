"""End to end: a real Buildbot master and workers on a copy of the fixture tree push every cell
result, signed, to the CI intake; the linker retries new failures once, then files one bug
per cause in the Bugzilla double; fixing the broken library resolves its bug with the fixing
revision, breaking it again reopens it; the service stopped for a run loses nothing (sweep).

A subset of the matrix (the farm's cell patterns) keeps the run to a few dozen builds.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from farm import localfarm
from tests.bugzilla_double.double import BugzillaDouble
from tests.farm.conftest import REPO, require_binaries
from tests.rules.world import KEY_ENV, double_options, write_config
from triage.ci.history import judge_all
from triage.ci.service import IntakeService, ci_pass
from triage.store import Store
from triage.store import ci as ci_rows

CELLS = ("hello-cpuid-kvm-arm64,hello-cpuid-kvm-x86_64,hello-entropy-kvm-x86_64,"
         "hello-netdev-xen-x86_64,hello-hosttool-kvm-x86_64,hello-base-xen-x86_64,"
         "hello-base-kvm-x86_64,hello-flaky-kvm-x86_64")
CPUID = "hello-cpuid-kvm-arm64"
FLAKY = "hello-flaky-kvm-x86_64"

# tests/ci/flaky_library fails the first build of each cell directory and builds every later
# time: its state is a marker in the worker's build directory, so the retry of the same
# revision passes. Only this test's copy of the tree and matrix have it (the committed
# ci/matrix.toml and the counts the README quotes are unchanged).
FLAKY_LIBRARY = Path(__file__).with_name("flaky_library")
FLAKY_MATRIX = """
[[library]]
name = "flaky"
paths = ["lib/flaky/"]
"""
SECRET_ENV = "XT_CI_E2E_HMAC"


class World:
    def __init__(self, state: localfarm.FarmState, tree: Path, settings: Any, store: Store,
                 double: Any) -> None:
        self.state, self.tree, self.settings, self.store, self.double = (state, tree, settings,
                                                                         store, double)
        self.intake: IntakeService | None = None

    def start_intake(self) -> None:
        self.intake = IntakeService(self.settings, self.store)
        self.intake.start()

    def stop_intake(self) -> None:
        assert self.intake is not None
        self.intake.stop()
        self.intake = None

    def run(self, cells: str = CELLS, timeout: float = 600) -> None:
        """Force the cells, then wait until the farm is idle and no cell awaits its retry."""
        localfarm.force(self.state, cells)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            localfarm.wait_idle(self.state, timeout)
            time.sleep(2.0)  # the last pushes, the debounced link and its retries
            if localfarm.api_get(self.state, "buildrequests", complete="false",
                                 limit=1)["buildrequests"]:
                continue
            if self.intake is None:
                return
            with self.store.session() as s:
                verdicts = judge_all(ci_rows.all_results(s))
            if not any(v.state == "awaiting-retry" for v in verdicts.values()):
                time.sleep(1.0)
                return
        raise AssertionError("the farm did not settle")

    def ci_bugs(self) -> list[dict[str, Any]]:
        out = []
        for i in range(1, 40):
            try:
                bug = self.double.bug(i)
            except Exception:
                break
            if "[ci:" in bug.get("whiteboard", ""):
                out.append(bug)
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_binaries()
    base = tmp_path_factory.mktemp("ci-e2e")
    tree = base / "uktree"
    shutil.copytree(REPO / "tests" / "fixtures" / "uktree", tree)
    shutil.copytree(FLAKY_LIBRARY, tree / "lib" / "flaky")
    matrix_text = (REPO / "ci" / "matrix.toml").read_text(encoding="utf-8")
    hosttool = matrix_text.index('paths = ["lib/hosttool/"]')
    hosttool = matrix_text.index("\n", hosttool) + 1
    matrix_text = matrix_text[:hosttool] + FLAKY_MATRIX + matrix_text[hosttool:]
    matrix = base / "matrix.toml"
    matrix.write_text(matrix_text.replace('path = "../tests/fixtures/uktree"',
                                          f'path = "{tree}"'), encoding="utf-8")
    secret = base / "ci-hmac.key"
    secret.write_text("e2e-shared-secret\n", encoding="utf-8")
    double = BugzillaDouble(**double_options()).start()
    os.environ[KEY_ENV] = double.admin_api_key
    port = localfarm.free_port()
    www = localfarm.free_port()
    _, settings = write_config(base, double, f"""
[safety]
production = true
[ci]
intake_port = {port}
hmac_secret_file = "{secret}"
buildbot_url = "http://127.0.0.1:{www}/"
master_name = "farm"
components = {{ cpuid = "Xen/Hypervisor" }}
worker_owners = {{ full = "farm-admin@example.org" }}
[bisect]
enabled = false
""")
    store = Store(settings.store_url)
    store.migrate()
    plans = [localfarm.WorkerPlan("full", max_builds=2),
             localfarm.WorkerPlan("bare", max_builds=2, hide_tools=localfarm.NO_CROSS_NO_QEMU)]
    probes = {p.name: localfarm.probe(localfarm.worker_env(p, base)) for p in plans}
    state_dir = base / "farm"
    try:
        state = localfarm.up(state_dir, matrix, plans, probes=probes, www_port=www,
                             master_settings={"ci_intake_url": f"http://127.0.0.1:{port}",
                                              "ci_secret_file": str(secret),
                                              "ci_master_name": "farm"})
        w = World(state, tree, settings, store, double)
        w.start_intake()
        yield w
        if w.intake is not None:
            w.stop_intake()
    finally:
        localfarm.down(state_dir)
        store.dispose()
        double.close()
        assert not double.internal_errors, double.internal_errors
        os.environ.pop(KEY_ENV, None)


def test_one_bug_per_cause_then_nothing_twice(world: World) -> None:
    world.run()
    bugs = world.ci_bugs()
    by_summary = {b["summary"]: b for b in bugs}
    # Exactly the known-bad causes: cpuid.h on arm64 (build) and entropy's panic (boot).
    assert len(bugs) == 2, [b["summary"] for b in bugs]
    cpuid = next(b for s, b in by_summary.items() if "cpuid.h" in s)
    text = world.double.comments(cpuid["id"])[0]["text"]
    assert CPUID in text and "Class: build-failed" in text and "/builds/" in text
    assert "Never passed" in text  # the first run of the cell: no last good revision
    assert cpuid["component"] == "Hypervisor"
    entropy = next(b for b in bugs if b is not cpuid)
    assert "hello-entropy-kvm-x86_64" in world.double.comments(entropy["id"])[0]["text"]
    with world.store.session() as s:
        results = ci_rows.all_results(s)
    # Every new failure was retried once (two builds of each failing cell) before filing.
    assert sum(r.cell == CPUID for r in results) == 2
    # Nothing for boot-skipped, unsupported or environment cells.
    joined = " ".join(b["summary"] + world.double.comments(b["id"])[0]["text"] for b in bugs)
    for cell in ("hello-netdev-xen-x86_64", "hello-hosttool-kvm-x86_64",
                 "hello-base-xen-x86_64"):
        assert cell not in joined
    comments = {b["id"]: len(world.double.comments(b["id"])) for b in bugs}
    world.run()
    assert len(world.ci_bugs()) == 2
    assert {b["id"]: len(world.double.comments(b["id"])) for b in bugs} == comments


def test_a_flaky_cell_files_nothing_and_counts_as_flaky(world: World) -> None:
    from triage.ci.status import load_status, render

    with world.store.session() as s:
        builds = [r for r in ci_rows.all_results(s) if r.cell == FLAKY]
    # Failed at its first build, passed on the retry of the same revision (and again at the
    # second run of the test above), with the real master, worker and reporter.
    assert [r.result for r in builds][:2] == ["build-failed", "passed"]
    assert all(r.result == "passed" for r in builds[2:])
    assert len({r.revision for r in builds}) == 1 and builds[0].signature
    # No bug for its signature; its cell is named only as a comparable cell that passes.
    bugs = world.ci_bugs()
    assert not any(builds[0].signature in b["whiteboard"] for b in bugs)
    joined = " ".join(b["summary"] + " ".join(c["text"] for c in world.double.comments(b["id"]))
                      for b in bugs)
    assert "flaky.c" not in joined and "attempt.h" not in joined
    status = load_status(world.store, world.settings.ci.worker_owners)
    assert (FLAKY, 1.0) in status.flaky
    assert not any(FLAKY in sig.cells for sig in status.signatures)
    assert f"flaky: {FLAKY} (flake rate 100%)" in render(status)


def test_environment_failure_mailed_once_to_the_worker_owner(world: World) -> None:
    from email import message_from_bytes, policy

    # Production without an SMTP server configured: the outbox is the transport.
    outbox = world.settings.state_dir / "outbox"
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted(outbox.glob("*.eml"))]
    env = [m for m in mails if "environment failure" in str(m["Subject"])]
    # hello-hosttool-kvm-x86_64 ran on "full" (the worker that boots kvm) at both runs above:
    # one mail for its cause and day, to the owner ci.worker_owners names.
    with world.store.session() as s:
        env_results = [(r.cell, r.worker, r.reason, r.signature) for r in ci_rows.all_results(s)
                       if r.result == "environment"]
    assert len(env) == 1, ([str(m["Subject"]) for m in mails], env_results)
    assert env[0]["To"] == "farm-admin@example.org"
    body = env[0].get_body(preferencelist=("plain",)).get_content()
    assert "hello-hosttool-kvm-x86_64" in body and "xentriage-fixture-tablegen" in body


def test_fixing_resolves_and_breaking_again_reopens(world: World) -> None:
    source = world.tree / "lib" / "cpuid" / "cpuid.c"
    broken = source.read_text(encoding="utf-8")
    fixed = broken.replace("#include <cpuid.h>", "#if defined(__x86_64__)\n#include <cpuid.h>")
    fixed = re.sub(r"(UK_LIB_INITCALL\(cpuid_report\);)", r"\1\n#endif", fixed)
    source.write_text(fixed, encoding="utf-8")
    world.run("hello-cpuid-kvm-*")
    (bug,) = [b for b in world.ci_bugs() if "cpuid.h" in b["summary"]]
    assert (bug["status"], bug["resolution"]) == ("RESOLVED", "FIXED")
    with world.store.session() as s:
        latest = [r for r in ci_rows.all_results(s) if r.cell == CPUID][-1]
    assert latest.result == "passed"
    last = world.double.comments(bug["id"])[-1]["text"]
    assert f"fixed at revision {latest.revision}" in last
    source.write_text(broken, encoding="utf-8")
    world.run("hello-cpuid-kvm-*")
    (again,) = [b for b in world.ci_bugs() if "cpuid.h" in b["summary"]]
    assert again["id"] == bug["id"] and again["status"] == "CONFIRMED"
    assert "reopening" in world.double.comments(bug["id"])[-1]["text"]


def test_service_stopped_for_a_run_then_the_sweep(world: World) -> None:
    with world.store.session() as s:
        before = ci_rows.result_count(s)
    world.stop_intake()
    first = localfarm.max_build_id(world.state)
    world.run("hello-base-kvm-x86_64,hello-cpuid-kvm-x86_64")
    with world.store.session() as s:
        assert ci_rows.result_count(s) == before  # the pushes were lost
    world.start_intake()
    swept = ci_pass(world.settings, world.store, production=True)
    assert swept.sweep is not None and swept.error == ""
    builds = localfarm.builds_since(world.state, first)
    with world.store.session() as s:
        results = ci_rows.all_results(s)
    assert len(results) == before + len(builds)
    # every cell build the farm ever ran is stored, pushed or swept
    assert len(results) == len(localfarm.builds_since(world.state, 0))
    ids = [(r.master, r.build_id) for r in results]
    assert len(ids) == len(set(ids))
    # a second sweep stores nothing more
    assert ci_pass(world.settings, world.store, production=True).sweep.stored == 0  # type: ignore[union-attr]
