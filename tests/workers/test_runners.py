"""Xen and Firecracker runners against stand-in ``xl``/``firecracker`` executables.

Neither hypervisor runs here, so small scripts take their place on PATH: they check the
generated configuration and print a console, which exercises the whole boot path (command
line, config files, console judging, cleanup) without pretending to boot a real guest.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from workers import host
from workers.boot import boot
from workers.runners import BootRequest
from workers.runners import firecracker as fc_mod
from workers.runners import xen as xen_mod


def script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr(host, "native_arch", lambda: "x86_64")
    monkeypatch.setattr(xen_mod, "native_arch", lambda: "x86_64")
    monkeypatch.setattr(fc_mod, "native_arch", lambda: "x86_64")
    return bindir


def request(tmp_path: Path, platform: str, arch: str = "x86_64", vmm: str = "qemu") -> BootRequest:
    image = tmp_path / "hello_img"
    image.write_bytes(b"\0")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return BootRequest(platform=platform, arch=arch, image=image, workdir=work, vmm=vmm,
                       name="xentriage-test")


def test_xen_boot_with_domain_config_and_cleanup(tmp_path: Path, fake_bin: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xen_mod, "dom0_running", lambda: True)
    log = tmp_path / "xl.log"
    script(fake_bin / "xl", f'echo "$@" >> {log}\n'
           'if [ "$1" = create ]; then cat "$3" >> ' + str(log) + '\n'
           ' echo "Powered by fake"; echo "Hello from xentriage fixture"; fi\n')
    out = io.StringIO()
    res = boot(request(tmp_path, "xen"), timeout=10, success_lines=["Hello from"], out=out)
    assert res.status == "passed", (res, out.getvalue())
    calls = log.read_text()
    assert 'type = "pvh"' in calls and 'on_crash = "destroy"' in calls
    assert f'kernel = "{tmp_path / "hello_img"}"' in calls
    assert "destroy xentriage-test-" in calls  # the domain is destroyed afterwards


def test_xen_arm64_on_x86_dom0_is_skipped(tmp_path: Path, fake_bin: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xen_mod, "dom0_running", lambda: True)
    script(fake_bin / "xl", "exit 0\n")
    res = boot(request(tmp_path, "xen", "arm64"), timeout=5, success_lines=[],
               out=io.StringIO())
    assert res.status == "skipped" and "dom0 is x86_64" in res.reason


def test_firecracker_needs_kvm(tmp_path: Path, fake_bin: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    script(fake_bin / "firecracker", "exit 0\n")
    monkeypatch.setattr(fc_mod, "kvm_status", lambda arch: host.KvmStatus(False, "hangs"))
    res = boot(request(tmp_path, "kvm", vmm="firecracker"), timeout=5, success_lines=[],
               out=io.StringIO())
    assert res.status == "skipped" and "hangs" in res.reason


def test_firecracker_boot_with_json_config(tmp_path: Path, fake_bin: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fc_mod, "kvm_status", lambda arch: host.KvmStatus(True, "ok"))
    seen = tmp_path / "config.json"
    script(fake_bin / "firecracker",
           f'[ "$1" = --no-api ] && [ "$2" = --config-file ] || exit 9\ncp "$3" {seen}\n'
           'echo "Powered by fake"; echo "PANIC: [libx] boom"; sleep 30\n')
    res = boot(request(tmp_path, "firecracker"), timeout=10, success_lines=["Hello"],
               out=io.StringIO())
    assert (res.status, res.reason) == ("failed", "PANIC: [libx] boom")
    assert res.boot_seconds < 5  # a panic stops the guest at once
    cfg = json.loads(seen.read_text())
    assert cfg["boot-source"]["kernel_image_path"] == str(tmp_path / "hello_img")
    assert cfg["machine-config"]["vcpu_count"] == 1


def test_linuxu_of_a_foreign_arch_is_skipped(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.runners import linuxu as linuxu_mod

    monkeypatch.setattr(linuxu_mod, "native_arch", lambda: "x86_64")
    res = boot(request(tmp_path, "linuxu", "arm64"), timeout=5, success_lines=[],
               out=io.StringIO())
    assert res.status == "skipped" and res.exit_code == 3
    assert res.reason.startswith("no capable booter for linuxu/arm64")
