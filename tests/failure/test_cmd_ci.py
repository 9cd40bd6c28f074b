"""``xentriage ci classify`` on the farm's logs and on plain sectioned logs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from triage.cli import main

CORPUS = json.loads((Path(__file__).parent / "corpus.json").read_text(encoding="utf-8"))
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "uktree"


def case_log(tmp_path: Path, case_id: str) -> Path:
    case = next(c for c in CORPUS["cases"] if c["id"] == case_id)
    path = tmp_path / f"{case_id}.log"
    path.write_text("\n".join(case["log"]) + "\n", encoding="utf-8")
    return path


def test_farm_logs_text_and_json(tmp_path: Path) -> None:
    link = case_log(tmp_path, "0.16.3-posix-timerfd-kvm-arm64-link")
    hwrng = case_log(tmp_path, "0.17.0-base-kvm-x86_64-hwrng-cpu-max")
    res = CliRunner().invoke(main, ["ci", "classify", str(link), str(hwrng)])
    assert res.exit_code == 0, res.output
    assert "class:     build-failed" in res.output
    assert "title:     posix-timerfd: undefined reference to uk_syscall_r_clock_gettime" in \
        res.output
    assert "ukrandom: Could not initialize the HWRNG (-95)" in res.output
    assert "| " in res.output  # evidence lines
    res = CliRunner().invoke(main, ["ci", "classify", "--json", str(link), str(hwrng)])
    docs = json.loads(res.output)
    assert [d["cls"] for d in docs] == ["build-failed", "boot-failed"]
    assert all(len(d["signature"]) == 16 for d in docs) and docs[0]["log"] == str(link)


def test_sectioned_log_with_tree_names_the_unmet_dependency(tmp_path: Path) -> None:
    build = "/var/ci/job-7/build"
    log = tmp_path / "cell.log"
    log.write_text("\n".join([
        "=== defconfig", "CONFIG_PLAT_XEN=y", "CONFIG_LIBDIRECTMAP=y",
        f"make -C {FIXTURE} A={FIXTURE}/apps/hello O={build} C={build}/.config "
        f"UK_DEFCONFIG={build}/frag defconfig", "--- exit status: 0",
        "=== config", "CONFIG_ARCH_X86_64=y", "CONFIG_LIBDIRECTMAP=y",
        "# CONFIG_PLAT_XEN is not set",
    ]) + "\n")
    bare = CliRunner().invoke(main, ["ci", "classify", "--json", str(log)])
    assert json.loads(bare.output)[0]["cls"] == "unsupported"
    res = CliRunner().invoke(main, ["ci", "classify", "--json", "--tree", str(FIXTURE), str(log)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)[0]
    assert doc["cls"] == "unsupported"
    assert doc["dropped"][0]["symbol"] == "CONFIG_PLAT_XEN"
    assert any("LIBDIRECTMAP" in u for u in doc["dropped"][0]["unmet"])
    text = CliRunner().invoke(main, ["ci", "classify", "--tree", str(FIXTURE), str(log)]).output
    assert "dropped:   CONFIG_PLAT_XEN: unmet !LIBDIRECTMAP" in text


def test_sectioned_boot_with_ansi_and_an_unreadable_log(tmp_path: Path) -> None:
    log = tmp_path / "boot.log"
    log.write_bytes(b"=== build\nmake -C /opt/uk A=/opt/app O=/opt/b\n--- exit status: 0\n"
                    b"=== boot\nqemu-system-aarch64 -kernel /opt/b/hello_qemu-arm64\n"
                    b"\x1b[0mPowered by\r\nHello world!\r\n|\r/\r-\r\n--- exit status: 124\n")
    res = CliRunner().invoke(main, ["ci", "classify", "--success-line", "Hello world!",
                                    str(log), str(tmp_path / "missing.log")])
    assert res.exit_code == 7
    assert "class:     boot-timeout" in res.output and "never exited" in res.output
    assert "cannot read" in res.output
