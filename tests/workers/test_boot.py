"""Real boots of fixture images through ``python -m workers.boot`` (QEMU TCG, linuxu)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.workers.conftest import REPO, CellFactory, require_binary
from workers.boot import RESULT_MARKER
from workers.runners.xen import XenRunner

HELLO_LINE = "Hello from xentriage fixture"


def boot(*args: str, timeout: float = 60) -> tuple[int, dict[str, Any], str]:
    res = subprocess.run([sys.executable, "-m", "workers.boot", *args], capture_output=True,
                         text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=timeout)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(RESULT_MARKER + " ")]
    assert len(lines) == 1, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith(lines[0])  # the result is the last line
    return res.returncode, json.loads(lines[0].split(" ", 1)[1]), res.stdout


@pytest.fixture(scope="module")
def kvm_x86(uk_cell: CellFactory) -> Path:
    require_binary("qemu-system-x86_64")
    cell = uk_cell("kvm-x86-crc", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"])
    assert cell.returncode == 0, cell.output
    return cell.image("qemu")


def test_kvm_x86_64_passes(kvm_x86: Path, tmp_path: Path) -> None:
    log, result = tmp_path / "console.log", tmp_path / "result.json"
    code, res, out = boot("--platform", "kvm", "--arch", "x86_64", "--accel", "tcg",
                          "--success-line", HELLO_LINE, "--log", str(log),
                          "--result-json", str(result), str(kvm_x86))
    assert (code, res["status"]) == (0, "passed"), out
    assert res["accel"] == "tcg" and res["boot_seconds"] < 30
    assert res["command"][:3] == ["qemu-system-x86_64", "-kernel", str(kvm_x86)]
    console = log.read_text()
    assert "Powered by" in console and "[libcrc] initialised" in console
    assert "[libring] initialised" in console and HELLO_LINE in out
    assert json.loads(result.read_text())["status"] == "passed"


def test_kvm_x86_64_with_automatic_accelerator(kvm_x86: Path) -> None:
    # Whatever the KVM probe decides here, the same runner must boot the image.
    code, res, out = boot("--platform", "kvm", "--arch", "x86_64", "--timeout", "40",
                          "--success-line", HELLO_LINE, str(kvm_x86))
    assert (code, res["status"]) == (0, "passed"), out
    assert res["accel"] in ("kvm", "tcg")


def test_kvm_arm64_passes(uk_cell: CellFactory) -> None:
    require_binary("qemu-system-aarch64")
    cell = uk_cell("kvm-arm64-crc", "arm64", ["CONFIG_PLAT_KVM", "CONFIG_LIBCRC"])
    assert cell.returncode == 0, cell.output
    code, res, out = boot("--platform", "kvm", "--arch", "arm64", "--success-line", HELLO_LINE,
                          str(cell.image("qemu")))
    assert (code, res["status"]) == (0, "passed"), out
    assert "-cpu" in res["command"] and "cortex-a57" in res["command"]
    assert "kvm-qemu/arm64" in out


def test_linuxu_passes_on_a_pty_and_needs_one(uk_cell: CellFactory) -> None:
    cell = uk_cell("linuxu-entropy", "x86_64", ["CONFIG_PLAT_LINUXU", "CONFIG_LIBENTROPY"])
    assert cell.returncode == 0, cell.output
    image = cell.image("linuxu")
    code, res, out = boot("--platform", "linuxu", "--arch", "x86_64",
                          "--success-line", HELLO_LINE, str(image))
    assert (code, res["status"]) == (0, "passed"), out
    assert "[libentropy] initialised" in out  # the library that panics on kvm/x86_64
    direct = subprocess.run([str(image)], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=10)
    assert direct.returncode != 0 and "not a terminal" in direct.stderr


def test_panic_is_a_failure_with_the_panic_line(uk_cell: CellFactory) -> None:
    require_binary("qemu-system-x86_64")
    cell = uk_cell("kvm-x86-entropy", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBENTROPY"])
    assert cell.returncode == 0, cell.output
    code, res, out = boot("--platform", "kvm", "--arch", "x86_64", "--accel", "tcg",
                          "--success-line", HELLO_LINE, str(cell.image("qemu")))
    assert (code, res["status"]) == (1, "failed"), out
    assert res["reason"].startswith("PANIC: [libentropy]")
    assert "Assertion failed" in res["reason"]
    assert "lib/entropy/pool.c" in res["reason"]  # tree-relative, the same on every worker


def test_hang_is_a_timeout_within_the_timeout(uk_cell: CellFactory) -> None:
    require_binary("qemu-system-x86_64")
    cell = uk_cell("kvm-x86-syncwait", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBSYNCWAIT"])
    assert cell.returncode == 0, cell.output
    start = time.monotonic()
    code, res, out = boot("--platform", "kvm", "--arch", "x86_64", "--accel", "tcg",
                          "--timeout", "2", "--success-line", HELLO_LINE,
                          str(cell.image("qemu")))
    assert (code, res["status"]) == (2, "timeout"), out
    assert time.monotonic() - start < 10
    assert "waiting for the first clock tick" in res["reason"]


def test_xen_without_dom0_is_skipped(uk_cell: CellFactory) -> None:
    avail = XenRunner().availability("x86_64")
    if avail.ok:
        pytest.skip("this machine is a Xen dom0")
    cell = uk_cell("x86-xen-fc-linuxu", "x86_64",
                   ["CONFIG_PLAT_XEN", "CONFIG_PLAT_KVM", "CONFIG_KVM_VMM_FIRECRACKER",
                    "CONFIG_PLAT_LINUXU"])
    code, res, _ = boot("--platform", "xen", "--arch", "x86_64", str(cell.image("xen")))
    assert (code, res["status"]) == (3, "skipped")
    assert res["reason"].startswith("no capable booter for xen/x86_64")


def test_errors_exit_4(tmp_path: Path) -> None:
    code, res, _ = boot("--platform", "kvm", "--arch", "x86_64", str(tmp_path / "missing"))
    assert (code, res["status"]) == (4, "error")
    usage = subprocess.run([sys.executable, "-m", "workers.boot", "--platform", "nope"],
                           capture_output=True, cwd=REPO, timeout=30)
    assert usage.returncode == 4


def test_guest_dies_with_a_runner_killed_hard(uk_cell: CellFactory) -> None:
    """A worker stopped mid-build SIGKILLs its boot runner: the hung guest must not outlive it."""
    import os
    import signal
    import subprocess
    import sys

    require_binary("qemu-system-x86_64")
    cell = uk_cell("kvm-x86-syncwait", "x86_64", ["CONFIG_PLAT_KVM", "CONFIG_LIBSYNCWAIT"])
    image = str(cell.image("qemu"))
    runner = subprocess.Popen(
        [sys.executable, "-m", "workers.boot", "--platform", "kvm", "--arch", "x86_64",
         "--accel", "tcg", "--timeout", "300", image],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert runner.stdout is not None
    deadline = time.monotonic() + 30
    guests: list[int] = []
    while time.monotonic() < deadline and not guests:
        out = subprocess.run(["pgrep", "-f", image], capture_output=True, text=True).stdout
        guests = [int(p) for p in out.split() if int(p) != runner.pid]
        time.sleep(0.2)
    assert guests, "the guest never started"
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    deadline = time.monotonic() + 10
    alive = guests
    while time.monotonic() < deadline and alive:
        alive = [p for p in guests if _alive(p)]
        time.sleep(0.1)
    for p in alive:  # do not leak a spinning guest whatever the outcome
        os.kill(p, signal.SIGKILL)
    assert not alive, "the guest outlived its runner"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
