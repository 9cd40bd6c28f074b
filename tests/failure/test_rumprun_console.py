"""Rumprun's console protocol and platform-build causes (workers.failure.rumprun)."""

from __future__ import annotations

import pytest

from workers.failure.rumprun import RumprunConsole, platform_environment

BOOT = ["SeaBIOS (version 1.16.2-debian-1.16.2-1)", "Booting from ROM..",
        "WARNING: Processor claims to not support invariant TSC.",
        '=== calling "hello.bin" main() ===', ""]


def judge(lines: list[str], success: tuple[str, ...] = (), timed_out: bool = False):
    con = RumprunConsole(success)
    stopped_at = None
    for i, line in enumerate(lines):
        if con.feed(line):
            stopped_at = i
            break
    return con.verdict(timed_out, 20), stopped_at


def test_success_stops_at_halted_and_reads_exit_zero() -> None:
    lines = [*BOOT, "Hello", '=== main() of "hello.bin" returned 0 ===',
             "=== _exit(0) called ===", "rump kernel halting...", "halted", "never read"]
    v, stopped = judge(lines, ("Hello",))
    assert v.cls == "passed" and v.exit_code == 0 and stopped == len(lines) - 2


def test_missing_success_line_fails_even_with_exit_zero() -> None:
    lines = [*BOOT, '=== main() of "hello.bin" returned 0 ===', "=== _exit(0) called ===",
             "halted"]
    v, _ = judge(lines, ("Hello",))
    assert v.cls == "boot-failed" and "Hello" in v.title


@pytest.mark.parametrize("rc", [1, 3, 127])
def test_nonzero_return_is_boot_failed_with_its_code(rc: int) -> None:
    lines = [*BOOT, f'=== main() of "hello.bin" returned {rc} ===',
             f"=== ERROR: _exit({rc}) called ===", "rump kernel halting...", "halted"]
    v, _ = judge(lines)
    assert (v.cls, v.exit_code) == ("boot-failed", rc)
    assert f"returned {rc}" in v.title
    assert v.signature != judge([*lines[:-4], '=== main() of "x" returned 0 ===',
                                 "=== _exit(0) called ===", "halted"])[0].signature


def test_fatal_trap_stops_at_once_and_signature_ignores_addresses() -> None:
    a, stopped = judge([*BOOT, "FATAL TRAP: page fault at 0xdeadbeef", "hang"])
    b, _ = judge([*BOOT, "FATAL TRAP: page fault at 0x1234"])
    assert a.cls == "boot-failed" and stopped == len(BOOT)
    assert a.signature == b.signature


def test_silence_and_hang_are_boot_timeouts_with_different_causes() -> None:
    silent, _ = judge(["SeaBIOS (version 1.16.2)", "Booting from ROM.."], timed_out=True)
    hang, _ = judge([*BOOT, "working..."], timed_out=True)
    assert silent.cls == hang.cls == "boot-timeout"
    assert "console" in silent.title and "did not return" in hang.title
    assert silent.signature != hang.signature


def test_noise_lines_decide_nothing() -> None:
    con = RumprunConsole()
    for line in ["NOTICE: Not a buildrump.sh-based git repo",
                 "ld: warning: hello.bin has a LOAD segment with RWX permissions",
                 "WARNING: Processor claims to not support invariant TSC."]:
        assert not con.feed(line)
        assert platform_environment(line) is None
    assert con.app is None and con.trap is None and not con.halted


@pytest.mark.parametrize("line,key", [
    ("var.o:(.bss+0x0): multiple definition of `debug_file'; main.o:(.bss+0x0): first "
     "defined here", "rumprun-host-fno-common"),
    ("kern.c:137:5: error: the comparison will always evaluate as 'true' [-Werror=address]",
     "rumprun-werror"),
    (">> submodules missing.  run \"git submodule update --init\"", "rumprun-submodules"),
    ("error: invalid object 100644 e0cae35ea7ae62937c63bd50471c73c76b78592d for 'x.c'",
     "rumprun-missing-blobs"),
])
def test_platform_environment_causes(line: str, key: str) -> None:
    found = platform_environment(line)
    assert found is not None and found[0] == key
    assert platform_environment("foo.c:3: undefined reference to `bar'") is None
