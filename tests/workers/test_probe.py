"""The capability probe: output shape, the KVM proof boot, caching."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.workers.conftest import REPO, require_binary
from workers import ARCHES, PLATFORMS, host
from workers.host import KVM_PROBE_MARKER, boot_probe_image, kvm_status


def test_probe_json_shape() -> None:
    res = subprocess.run([sys.executable, "-m", "workers.probe", "--json"], capture_output=True,
                         text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["native_arch"] in ARCHES
    assert set(report["kvm"]) == {"arch", "usable", "reason"}
    assert {b["arch"] for b in report["build"]} == set(ARCHES)
    for b in report["build"]:
        assert set(b) == {"arch", "ok", "cross_compile", "compiler", "reason"} and b["reason"]
    cells = {(c["platform"], c["arch"]) for c in report["boot"]}
    assert cells == {(p, a) for p in PLATFORMS for a in ARCHES}
    for c in report["boot"]:
        assert c["reason"], c  # every absence (and presence) says why
        assert c["ok"] == (f"{c['platform']}/{c['arch']}" in report["boot_cells"])
    assert report["build_archs"] == [b["arch"] for b in report["build"] if b["ok"]]
    # This machine: gcc and the aarch64 cross compiler, QEMU for both arches, native linuxu.
    if "aarch64-linux-gnu-gcc" in res.stdout:
        assert set(report["build_archs"]) == set(ARCHES)
    by_cell = {f"{c['platform']}/{c['arch']}": c for c in report["boot"]}
    assert by_cell["linuxu/arm64"]["ok"] is (report["native_arch"] == "arm64")
    assert by_cell["kvm/arm64"]["accel"] in ("tcg", "kvm", "")


def test_probe_text_output() -> None:
    res = subprocess.run([sys.executable, "-m", "workers.probe"], capture_output=True,
                         text=True, cwd=REPO, timeout=120, env={"XENTRIAGE_NO_KVM": "1",
                                                                "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert "disabled by XENTRIAGE_NO_KVM" in res.stdout
    assert "linuxu/x86_64" in res.stdout and "xen/arm64" in res.stdout


def test_the_kvm_probe_image_really_boots() -> None:
    # Under TCG the probe image must print its marker; otherwise a failing KVM probe would
    # prove nothing about KVM.
    require_binary("qemu-system-x86_64")
    status = boot_probe_image(accel="tcg", timeout=20)
    assert status.usable, status.reason
    assert KVM_PROBE_MARKER.encode() in host.x86_probe_image()


def test_kvm_status_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_probe() -> host.KvmStatus:
        calls.append(1)
        return host.KvmStatus(False, "hangs")

    kvm_status.cache_clear()
    monkeypatch.delenv("XENTRIAGE_NO_KVM", raising=False)
    monkeypatch.setattr(host, "boot_probe_image", fake_probe)
    monkeypatch.setattr(host, "native_arch", lambda: "x86_64")
    monkeypatch.setattr(host.os.path, "exists", lambda p: True)
    monkeypatch.setattr(host.os, "access", lambda p, m: True)
    monkeypatch.setattr(host, "which", lambda name: "/usr/bin/" + name)
    try:
        assert kvm_status("x86_64") == host.KvmStatus(False, "hangs")
        assert kvm_status("x86_64").reason == "hangs"
        assert calls == [1]
        assert not kvm_status("arm64").usable and calls == [1]  # not native: no probe boot
    finally:
        kvm_status.cache_clear()


def test_probe_names_host_problems_before_any_build(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """flex and bison (Unikraft's Kconfig), the GCC version and QEMU are checked up front: a
    worker without them is reported as the worker's problem, not found out by a red cell."""
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("make", "gcc", "cc1", "as", "ld"):
        real = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True,
                              text=True).stdout.strip()
        if real:
            os.symlink(real, bin_dir / name)
    res = subprocess.run([sys.executable, "-m", "workers.probe", "--json"], capture_output=True,
                         text=True, cwd=REPO, timeout=120,
                         env={"PATH": str(bin_dir), "XENTRIAGE_NO_KVM": "1"})
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["host_tools"]["flex"] is None and report["host_tools"]["bison"] is None
    problems = "\n".join(report["problems"])
    assert "flex not found" in problems and "bison not found" in problems
    assert "qemu-system-x86_64 not found" in problems
    assert report["gcc_version"] and report["gcc_version"][0].isdigit()
