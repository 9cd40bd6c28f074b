"""One test per class and per rule of the failure extractor, on sectioned logs written here."""

from __future__ import annotations

from workers.failure import classify_lines
from workers.failure.normalise import PathContext, clean_line, guess_path

ROOT, BUILD = "/home/w/unikraft", "/home/w/cells/hello-posix-timerfd-kvm-x86_64"


def build_log(*output: str, status: int = 2, root: str = ROOT, build: str = BUILD,
              arch: str = "") -> list[str]:
    cross = f" CROSS_COMPILE={arch}" if arch else ""
    return ["=== defconfig", "CONFIG_LIBPOSIX_TIMERFD=y",
            f"make -C {root} A=/home/w/app O={build} C={build}/.config "
            f"UK_DEFCONFIG={build}/frag defconfig", "--- exit status: 0",
            "=== build", f"make -C {root} A=/home/w/app O={build} C={build}/.config{cross} -j8",
            *output, "make: *** [Makefile:1170: sub-make] Error 2", f"--- exit status: {status}"]


def boot_log(*console: str, status: int = 0) -> list[str]:
    return ["=== build", f"make -C {ROOT} A=/home/w/app O={BUILD}", "--- exit status: 0",
            "=== boot", f"qemu-system-x86_64 -kernel {BUILD}/hello_qemu-x86_64 -nographic",
            *console, f"--- exit status: {status}"]


def classify(lines: list[str], success: tuple[str, ...] = ("Hello world!",)) -> object:
    return classify_lines(lines, success)[0]


BANNER = ["\x1b[2J\x1b[0mSeaBIOS (version 1.16.2)\r", "Powered by\r", "o.   .o  _ _\r"]


def test_passed_and_a_non_fatal_err_line() -> None:
    found = classify(boot_log(*BANNER, "[  0.1] ERR:  [libfoo] <x.c @ 3> optional probe -19\r",
                              "Hello world!\r"))
    assert (found.cls, found.signature) == ("passed", "")


def test_compile_errors_one_signature_per_file_and_message_not_per_line_number() -> None:
    a = classify(build_log(f"{ROOT}/lib/posix-timerfd/timerfd.c:93:9: error: 'x' undeclared"))
    moved = classify(build_log("/srv/uk/lib/posix-timerfd/timerfd.c:97:2: error: 'x' "
                               "undeclared", root="/srv/uk", arch="aarch64-linux-gnu-"))
    other_file = classify(build_log(f"{ROOT}/lib/posix-timerfd/ops.c:93:9: error: 'x' "
                                    "undeclared"))
    other_msg = classify(build_log(f"{ROOT}/lib/posix-timerfd/timerfd.c:93:9: error: 'y' "
                                   "undeclared"))
    assert a.cls == "build-failed" and a.library == "posix-timerfd"
    assert a.title == "posix-timerfd: timerfd.c: error: 'x' undeclared"
    assert a.signature == moved.signature
    assert len({a.signature, other_file.signature, other_msg.signature}) == 3


def test_warnings_and_info_lines_are_never_the_cause() -> None:
    found = classify(build_log(
        "/usr/bin/ld: warning: x.o: requires executable stack (because the .note.GNU-stack "
        "section is executable)",
        "warning: failed to connect to jobserver from environment variable `MAKEFLAGS=...`",
        f"{ROOT}/lib/a/a.c:3:1: warning: implicit declaration of function 'f'",
        "Info: [libukboot] <boot.c @ 1> error-looking info line",
        f"{ROOT}/lib/a/a.c:9:1: error: expected ';' before '}}' token"))
    assert found.title == "a: a.c: error: expected ';' before '}' token"


def test_not_found_beats_the_generic_error_127_that_follows() -> None:
    found = classify(build_log("/bin/sh: 1: lex: not found",
                               f"make[2]: *** [Makefile.rules:70: {BUILD}/kconfig/lexer.lex.c] "
                               "Error 127"))
    assert found.cls == "environment"
    assert found.title == "environment: lex not found on the worker (missing host tool)"
    alone = classify(build_log(f"make[2]: *** [Makefile.rules:70: {BUILD}/x.c] Error 127"))
    assert alone.cls == "environment" and "exit 127" in alone.title


def test_undefined_reference_symbol_and_source_not_object_path() -> None:
    x86 = classify(build_log(
        f"/usr/bin/ld: {BUILD}/libposix_timerfd.o: in function `_timerfd_update':",
        "timerfd.c:(.text+0x2a): undefined reference to `uk_syscall_r_clock_gettime'",
        "collect2: error: ld returned 1 exit status"))
    arm = classify(build_log(
        "/usr/lib/gcc-cross/aarch64-linux-gnu/12/../../../../aarch64-linux-gnu/bin/ld: "
        "/b/cells/hello-posix-timerfd-kvm-arm64/libposix_timerfd.o: in function `f':",
        "/opt/uk/lib/posix-timerfd/timerfd.c:93: undefined reference to "
        "`uk_syscall_r_clock_gettime'",
        "/opt/uk/lib/posix-timerfd/timerfd.c:93:(.text+0xdc): relocation truncated to fit: "
        "R_AARCH64_CALL26 against undefined symbol `uk_syscall_r_clock_gettime'"))
    assert x86.title == "libposix_timerfd: undefined reference to uk_syscall_r_clock_gettime"
    assert arm.title == "posix-timerfd: undefined reference to uk_syscall_r_clock_gettime"
    assert x86.signature == arm.signature  # one library, whichever name the log shows
    other = classify(build_log("timerfd.c:(.text+0x2a): undefined reference to `uk_other'"))
    assert other.signature != x86.signature


def test_make_stop_and_environment_kinds() -> None:
    gcc = classify(build_log(f"{ROOT}/lib/ukgcov/Makefile.uk:4: *** Require GCC version >= "
                             "13.0 found 12.2.  Stop."))
    assert gcc.cls == "environment" and "Require GCC version >= 13.0" in gcc.title
    missing = classify(build_log(f"make[1]: *** No rule to make target '{ROOT}/lib/x/y.c', "
                                 f"needed by '{BUILD}/libx/y.o'.  Stop."))
    assert missing.cls == "build-failed" and "lib/x/y.c" in missing.title
    assert BUILD not in missing.title and ROOT not in missing.title
    rust = classify(build_log("make[1]: *** No rule to make target '/root/.rustup/toolchains/"
                              "stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/"
                              f"core/src/lib.rs', needed by '{BUILD}/libukrust/core.o'.  Stop."))
    assert rust.cls == "environment" and "toolchain incomplete" in rust.title
    cases = {
        f"tar (child): {BUILD}/libmusl/musl-1.2.3.tar.gz: Cannot open: No such file or "
        "directory": "download failed",
        "curl: (6) Could not resolve host: www.musl-libc.org": "download failed",
        "cc1: fatal error: write error: No space left on device": "disk full",
        "gcc: fatal error: Killed signal terminated program cc1": "out of memory",
        "bindings_generated.rs.cmd: line 1: bindgen: command not found": "bindgen not found",
        "make[1]: aarch64-none-elf-gcc: No such file or directory": "aarch64-none-elf-gcc",
    }
    sigs = set()
    for line, words in cases.items():
        found = classify(build_log(line))
        assert found.cls == "environment" and words in found.title, (line, found.title)
        sigs.add(found.signature)
    assert len(sigs) == len(cases)


def test_first_boot_error_not_the_last_line_and_no_addresses() -> None:
    found = classify(boot_log(
        "Booting from ROM..[    0.101391] ERR:  [libukrandom] <random.c @   65> Could not "
        "initialize the HWRNG (-95)\r",
        "[    0.102129] ERR:  [libukboot] <boot.c @  427> Init function at 0x123870 returned "
        "error -95\r"))
    assert found.cls == "boot-failed"
    assert found.title == "ukrandom: Could not initialize the HWRNG (-95)"
    crash = classify(boot_log(*BANNER, "[ 0.2] CRIT: [libkvmplat] <traps.c @ 113> Crashing at "
                              "0xffff8000123\r", "RIP: 0000000000104163 CS: 0008"))
    again = classify(boot_log(*BANNER, "[ 7.9] CRIT: [libkvmplat] <traps.c @ 120> Crashing at "
                              "0xffff8000999\r"))
    assert crash.signature == again.signature and "0x?" in crash.key
    panic = classify(boot_log(*BANNER, "PANIC: [libentropy] lib/entropy/pool.c:41: Assertion "
                              "failed: rdseed"))
    assert panic.cls == "boot-failed" and panic.signature not in (crash.signature, "")
    vmm = classify(boot_log("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69"))
    assert vmm.cls == "environment"


def test_timeouts_including_a_guest_that_printed_its_success_line() -> None:
    spinner = classify(boot_log(*BANNER, "Hello world!\r", "|\r/\r-\r", status=124))
    assert spinner.cls == "boot-timeout" and "never exited" in spinner.title
    hang = classify(boot_log(*BANNER, status=137))
    assert hang.cls == "boot-timeout" and "after the banner" in hang.title
    assert hang.signature != spinner.signature
    no_success = classify(boot_log(*BANNER, "Bye\r", status=0))
    assert no_success.cls == "boot-failed" and "without the success line" in no_success.title


def test_unsupported_from_the_fragment_the_config_and_kconfig_warnings() -> None:
    log = ["=== defconfig", "CONFIG_PLAT_LINUXU=y", "CONFIG_LIBUKVMEM=y",
           f"make -C {ROOT} A=/home/w/app O={BUILD} UK_DEFCONFIG={BUILD}/frag defconfig",
           "WARNING: unmet direct dependencies detected for PLAT_LINUXU",
           "  Depends on [n]: !HAVE_PAGING [=y]", "  Selected by [y]:",
           "  - APP_X [=y]", "#", "# configuration written to .config", "--- exit status: 0",
           "=== config", "CONFIG_LIBUKVMEM=y", "# CONFIG_PLAT_LINUXU is not set",
           "CONFIG_PAGING=y"]
    found = classify(log)
    assert found.cls == "unsupported" and "CONFIG_PLAT_LINUXU dropped" in found.title
    assert found.dropped[0]["selected_by"] == ["APP_X"]
    kept = [ln.replace("# CONFIG_PLAT_LINUXU is not set", "CONFIG_PLAT_LINUXU=y") for ln in log]
    assert classify(kept).cls != "unsupported"


def test_missing_sections_and_odd_input() -> None:
    assert classify([]).cls == "environment"  # nothing at all: not a cell's log
    only_boot = ["=== boot", *BANNER, "Hello world!", "--- exit status: 0"]
    assert classify(only_boot).cls == "passed"
    assert classify(["=== build", "make -C /x", "garbage \x00\xff", "--- exit status: 0"]
                    ).cls == "passed"


def test_normalisation_helpers() -> None:
    assert clean_line("\x1b[0mabc\r") == "abc"
    assert clean_line("50%\r75%\r100%") == "100%"
    assert guess_path("/srv/x/unikraft/lib/ukalloc/alloc.c") == "lib/ukalloc/alloc.c"
    assert guess_path("/b/cells/hello-base-kvm-x86_64/libukalloc/alloc.o") == \
        "<build>/libukalloc/alloc.o"
    assert guess_path("/usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h").startswith("<sys>/")
    ctx = PathContext(cell="hello-base-kvm-x86_64")
    ctx.learn_command(f"make -C {ROOT} A=/apps/hello L=/libs/lib-musl:/libs/lib-lwip O={BUILD}")
    assert ctx.text(f"{ROOT}/lib/a.c {BUILD}/x.o /libs/lib-musl/m.c /apps/hello/main.c") == \
        "lib/a.c <build>/x.o lib-musl/m.c hello/main.c"
    # The same files named by their shape alone (no command in the log): the same text.
    assert guess_path("/elsewhere/libs/lib-musl/m.c") == "lib-musl/m.c"
    assert guess_path("/ci/apps/app-helloworld/main.c") == "app-helloworld/main.c"


def test_more_build_causes_other_workers_print() -> None:
    cases = {
        f"{ROOT}/lib/ukfoo/Config.uk:12: syntax error": ("build-failed", "Kconfig: syntax error"),
        "/usr/bin/ld: cannot find -lgcc_eh: No such file or directory":
            ("build-failed", "ld: cannot find -lgcc_eh"),
        "ValueError: invalid literal for int() with base 10: 'x'":
            ("build-failed", "ValueError: invalid literal"),
        "ERROR 404: Not Found.": ("environment", "download failed"),
        "/bin/sh: line 1: 4242 Killed                  cc1 -O2 x.c": ("environment",
                                                                        "killed"),
    }
    for line, (cls, words) in cases.items():
        found = classify(build_log(line))
        assert found.cls == cls and words in found.title, (line, found.title)


def test_buildbot_header_before_the_first_phase_is_not_build_output() -> None:
    spec = ('{"build_dir": "/bb/w1/kvm-x86_64/cells/hello-base-kvm-x86_64", '
            '"kconfig_root": "/bb/w1/trees/unikraft", "name": "hello-base-kvm-x86_64"}')
    log = ["python3 -m workers.cell --spec-json '" + spec + "'",
           " in dir /bb/w1/kvm-x86_64/build (timeout 900 secs)", " argv: error-looking header",
           "XENTRIAGE-PHASE configure: fragment, make defconfig, .config check",
           "XENTRIAGE-PHASE build: make", "/bb/w1/trees/unikraft/lib/a/a.c:1:1: error: boom",
           'XENTRIAGE-CELL-RESULT {"cell": "hello-base-kvm-x86_64", "cell_result": '
           '"build-failed", "phase": "build"}']
    found = classify(log)
    assert found.cls == "build-failed" and found.title == "a: a.c: error: boom"
    assert "lib/a/a.c" in found.key and "/bb/" not in found.key
    # Without any marker, lines are a build's output.
    assert classify(["x.c:1:1: error: boom"]).cls == "build-failed"


def test_app_and_external_library_errors_with_and_without_the_commands() -> None:
    def log(path: str, with_cmd: bool) -> list[str]:
        cmd = ["make -C /w/uk A=/w/apps/app-hello L=/w/libs/lib-musl O=/w/b"] if with_cmd else []
        return ["=== build", *cmd, f"{path}:3:1: error: boom", "--- exit status: 2"]

    for rel in ("apps/app-hello/main.c", "libs/lib-musl/src/x.c"):
        here = classify(log(f"/w/{rel}", True))
        there = classify(log(f"/var/other/{rel}", False))
        assert here.signature == there.signature and here.cls == "build-failed", rel
    assert classify(log("/w/apps/app-hello/main.c", True)).title == \
        "app-hello: main.c: error: boom"


def test_other_workers_timeout_words_and_a_build_without_the_banner() -> None:
    for status in (-9, 143):
        assert classify(boot_log(*BANNER, status=status)).cls == "boot-timeout", status
    verbose = classify(boot_log(*BANNER, "timeout: sending signal TERM to command 'qemu'",
                                status=0))
    assert verbose.cls == "boot-timeout"
    assert classify(boot_log("Hello world!", status=0)).cls == "passed"
    assert classify(boot_log("Bye", status=0)).cls == "boot-failed"
