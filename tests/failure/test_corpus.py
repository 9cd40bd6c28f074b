"""The classifier on excerpts of real Unikraft cell logs, and on variations of them.

Each case must get its expected class and title; cases in one group (one cause seen on
several cells, arches, platforms, releases) must share a signature and every group must have
its own. The variations are what another worker would have written: other directory layouts,
the plain sectioned format, CRLF line ends, a log cut off before its verdict.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from workers.failure import classify_lines, classify_stream

CORPUS = json.loads((Path(__file__).parent / "corpus.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = CORPUS["cases"]
SUCCESS = ["Hello world!"]

# Other workers' layouts for the same files: (pattern in the corpus, replacement).
LAYOUTS = [
    [("/home/ci/src/unikraft", "/srv/build/uk"), ("/home/ci/src/apps/", "/srv/build/apps/"),
     ("/home/ci/src/libs/", "/srv/build/libs/"),
     ("/var/lib/buildbot/worker/farm/cells/", "/srv/bb/worker-7/kvm-arm64/cells/")],
    [("/home/ci/src/", "/tmp/ci-1234/checkouts/"),
     ("/var/lib/buildbot/worker/farm/cells/", "/builds/job-98765/build/")],
]


def classify(lines: list[str]) -> Any:
    found, _ = classify_lines(lines, SUCCESS)
    return found


def relayout(lines: list[str], layout: list[tuple[str, str]]) -> list[str]:
    out = []
    for line in lines:
        for old, new in layout:
            line = line.replace(old, new)
        out.append(line)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_each_real_log_gets_its_class_and_title(case: dict[str, Any]) -> None:
    found = classify(case["log"])
    assert (found.cls, found.title) == (case["cls"], case["title"])
    assert (found.signature == "") == (found.cls == "passed")
    assert "/home/ci" not in found.key and "/var/lib" not in found.key  # no worker paths
    assert not re.search(r"0x[0-9a-f]{3,}|:\d+:\d+", found.key)  # no addresses, no positions


def test_same_cause_same_signature_different_cause_different_signature() -> None:
    groups: dict[str, set[str]] = defaultdict(set)
    for case in CASES:
        if case.get("group"):
            groups[case["group"]].add(classify(case["log"]).signature)
    assert len(groups) >= 15
    for group, sigs in groups.items():
        assert len(sigs) == 1, (group, sigs)
    all_sigs = [next(iter(s)) for s in groups.values()]
    assert len(set(all_sigs)) == len(all_sigs)


def test_the_issues_named_failures_get_the_named_classes() -> None:
    by_id = {c["id"]: classify(c["log"]) for c in CASES}
    assert by_id["0.16.3-base-kvm-x86_64-no-flex"].title.startswith("environment: lex not found")
    timerfd = by_id["0.16.3-posix-timerfd-kvm-arm64-link"]
    assert timerfd.title == "posix-timerfd: undefined reference to uk_syscall_r_clock_gettime"
    assert by_id["0.17.0-base-kvm-x86_64-hwrng-cpu-max"].title == \
        "ukrandom: Could not initialize the HWRNG (-95)"  # the cause, not "Init function at"
    gcov = by_id["0.16.3-ukgcov-kvm-x86_64-gcc-too-old"]
    assert gcov.cls == "environment" and "Require GCC version >= 13.0" in gcov.title
    assert by_id["0.16.3-musl-kvm-x86_64-offline"].cls == "environment"
    spinner = by_id["0.16.3-spinner-kvm-x86_64-timeout"]
    assert spinner.cls == "boot-timeout" and "never exited" in spinner.title
    drop = by_id["0.16.3-ukvmem-linuxu-x86_64-unsupported"]
    assert drop.dropped[0]["symbol"] == "CONFIG_PLAT_LINUXU"
    assert drop.dropped[0]["unmet"] == ["!HAVE_PAGING (HAVE_PAGING is y)"]
    # The CPU model decides: qemu64 crashes where -cpu max boots.
    assert by_id["0.16.3-ukvmem-kvm-x86_64-qemu64-crash"].cls == "boot-failed"
    assert by_id["0.16.3-ukvmem-kvm-x86_64-cpu-max-passed"].cls == "passed"


def test_the_chunked_reader_agrees_with_the_line_reader() -> None:
    """classify_stream jumps over lines that cannot matter; it must never change a result,
    whatever the chunk boundaries."""
    import io

    from workers.failure import logformat

    for chunk in (64, 1000, logformat.CHUNK):
        old, logformat.CHUNK = logformat.CHUNK, chunk
        try:
            for case in CASES:
                text = "\n".join(case["log"]) + "\n"
                streamed, _ = classify_stream(io.StringIO(text), SUCCESS)
                lined = classify(case["log"])
                assert (streamed.cls, streamed.signature, streamed.title) == (
                    lined.cls, lined.signature, lined.title), (case["id"], chunk)
        finally:
            logformat.CHUNK = old


@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_other_worker_layouts_give_the_same_signatures(layout: int) -> None:
    for case in CASES:
        here, there = classify(case["log"]), classify(relayout(case["log"], LAYOUTS[layout]))
        assert (there.cls, there.signature) == (here.cls, here.signature), case["id"]


def test_without_the_commands_paths_are_still_recognised() -> None:
    """A log whose phase lines lost their make command (another farm's header) still maps
    tree and build paths by their shape."""
    for case in CASES:
        bare = [re.sub(r"^(XENTRIAGE-PHASE \w+):.*", r"\1: ", ln) for ln in case["log"]]
        bare = relayout(bare, LAYOUTS[1])
        assert classify(bare).signature == classify(case["log"]).signature, case["id"]


def to_sectioned(lines: list[str]) -> list[str]:
    """The farm's log rewritten in the plain sectioned format, exit statuses from the verdict,
    no verdict lines: what a hand-run or another CI would store."""
    verdict: dict[str, Any] = {}
    for ln in lines:
        if ln.startswith("XENTRIAGE-CELL-RESULT "):
            verdict = json.loads(ln.split(" ", 1)[1])
    failed_phase = verdict.get("phase") if verdict.get("cell_result") in (
        "build-failed", "error") else None
    timed_out = "timed out after" in str(verdict.get("result_reason"))
    out: list[str] = []
    current = None

    def close() -> None:
        if current in ("configure", "build"):
            out.append("--- timed out" if timed_out and current == failed_phase else
                       f"--- exit status: {2 if current == failed_phase else 0}")
        elif current == "boot":
            status = verdict.get("boot_status")
            out.append(f"--- exit status: {124 if status == 'timeout' else 0}")

    for ln in lines:
        m = re.match(r"XENTRIAGE-PHASE (\w+): ?(.*)", ln)
        if m:
            close()
            current = m.group(1)
            out.append("=== " + ("defconfig" if current == "configure" else current))
            if m.group(2).startswith("make "):
                out.append(m.group(2))
            continue
        if ln.startswith(("XENTRIAGE-CELL-RESULT", "XENTRIAGE-BOOT-RESULT")):
            continue
        out.append(ln)
    close()
    return out


def test_the_sectioned_format_gives_the_same_classes_and_signatures() -> None:
    checked = 0
    for case in CASES:
        if case["cls"] in ("unsupported", "boot-skipped"):
            continue  # these need the .config / the runner's verdict: tested on their own
        here, there = classify(case["log"]), classify(to_sectioned(case["log"]))
        assert (there.cls, there.signature) == (here.cls, here.signature), case["id"]
        checked += 1
    assert checked >= 25


def test_crlf_and_a_log_cut_off_before_its_verdict() -> None:
    for case in CASES:
        crlf = [ln + "\r" for ln in case["log"]]
        assert classify(crlf).signature == classify(case["log"]).signature, case["id"]
    link = next(c for c in CASES if c["id"] == "0.16.3-posix-timerfd-kvm-x86_64-link")
    cut = link["log"][:-3]  # no "Error 2", no verdict: the worker was lost mid-log
    found = classify(cut)
    assert found.cls == "build-failed" and found.title == classify(link["log"]).title
    passed = next(c for c in CASES if c["id"] == "0.16.3-base-kvm-x86_64-passed")
    boot_at = next(i for i, ln in enumerate(passed["log"]) if "XENTRIAGE-PHASE boot" in ln)
    in_build = classify(passed["log"][:boot_at])
    assert in_build.cls == "environment" and "during the build" in in_build.title
    for cut_at in range(boot_at + 1, len(passed["log"]) - 2):
        # Cut anywhere in the console: never "passed" without the runner's verdict.
        assert classify(passed["log"][:cut_at]).cls == "environment", cut_at
