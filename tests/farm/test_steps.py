"""Parsing of the worker tools' output by the farm's steps (no Buildbot process needed)."""

from __future__ import annotations

from farm.steps import (
    BOOT_MARKER,
    KCONFIG_MARKER,
    _dropped_summary,
    first_build_error,
    last_marker_json,
)


def test_last_marker_line_wins_and_garbage_is_none() -> None:
    text = (f"console\n{BOOT_MARKER}{{\"status\": \"failed\"}}\nmore\n"
            f"{BOOT_MARKER}{{\"status\": \"passed\", \"boot_seconds\": 0.4}}\n")
    assert last_marker_json(text, BOOT_MARKER) == {"status": "passed", "boot_seconds": 0.4}
    assert last_marker_json(f"{BOOT_MARKER}{{not json\n", BOOT_MARKER) is None
    assert last_marker_json("nothing here", BOOT_MARKER) is None


def test_first_build_error_is_the_compiler_error_not_makes_summary() -> None:
    log = ("  CC      libcpuid/cpuid.c\n"
           "lib/cpuid/cpuid.c:3:10: fatal error: cpuid.h: No such file or directory\n"
           "make: *** [build.mk:76: cpuid.o] Error 1\n")
    assert first_build_error(log).startswith("lib/cpuid/cpuid.c:3:10: fatal error: cpuid.h")
    assert first_build_error("") == "no output"
    assert first_build_error("just a line\nlast words\n") == "last words"


def test_dropped_symbols_name_the_unmet_dependency() -> None:
    result = {"dropped": [
        {"symbol": "CONFIG_PLAT_XEN", "reason": "CONFIG_PLAT_XEN dropped: unmet dependency "
         "!LIBDIRECTMAP (LIBDIRECTMAP is y)"},
        {"symbol": "CONFIG_LIBNETDEV", "unmet": ["PLAT_KVM"]},
    ]}
    summary = _dropped_summary(result)
    assert "!LIBDIRECTMAP" in summary
    assert "CONFIG_LIBNETDEV dropped (unmet dependency PLAT_KVM)" in summary
    assert KCONFIG_MARKER.endswith(" ")
