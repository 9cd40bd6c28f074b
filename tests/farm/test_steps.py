"""How the farm's step reads workers.cell's output (no Buildbot process needed)."""

from __future__ import annotations

from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS

from farm.steps import (
    BUILDBOT_RESULTS,
    PUBLISHED,
    TailLogObserver,
    console_section,
    last_marker_json,
    tail,
)
from workers.cell import EXIT_CODES, PHASE_MARKER, RESULT_MARKER, CellResult


def test_last_marker_line_wins_and_garbage_is_none() -> None:
    text = (f"console\n{RESULT_MARKER}{{\"cell_result\": \"boot-failed\"}}\nmore\n"
            f"{RESULT_MARKER}{{\"cell_result\": \"passed\", \"boot_seconds\": 0.4}}\n")
    assert last_marker_json(text, RESULT_MARKER) == {"cell_result": "passed",
                                                     "boot_seconds": 0.4}
    assert last_marker_json(f"{RESULT_MARKER}{{not json\n", RESULT_MARKER) is None
    assert last_marker_json(f"{RESULT_MARKER}[1, 2]\n", RESULT_MARKER) is None
    assert last_marker_json("nothing here", RESULT_MARKER) is None


def test_console_is_the_boot_phase_without_verdict_lines() -> None:
    text = (f"{PHASE_MARKER}build: make\ncc -c a.c\n"
            f"{PHASE_MARKER}boot: kvm/x86_64, timeout 20s\n"
            "Booting...\nPANIC: oops\n"
            'XENTRIAGE-BOOT-RESULT {"status": "failed"}\n'
            f'{RESULT_MARKER}{{"cell_result": "boot-failed"}}\n')
    assert console_section(text) == "Booting...\nPANIC: oops\n"
    assert console_section(f"{PHASE_MARKER}build: make\n") == ""
    # Only the end of a huge console was kept: all of it is console, and the log says so.
    cut = f'...panic here\n{RESULT_MARKER}{{"cell_result": "boot-failed"}}\n'
    assert console_section(cut, truncated=True) == (
        "[the start of the console is only in the stdio log]\n...panic here\n")


def test_tail_of_a_runner_that_died() -> None:
    assert tail("") == "no output"
    assert tail("a\n\nb\nc\n", lines=2) == "b | c"


def test_every_outcome_maps_to_a_buildbot_result_and_an_exit_code() -> None:
    # Not failures of the code under test must not read as FAILURE in Buildbot.
    assert BUILDBOT_RESULTS["passed"] == SUCCESS
    assert BUILDBOT_RESULTS["unsupported"] == SKIPPED
    assert BUILDBOT_RESULTS["boot-skipped"] == SKIPPED
    # The worker's fault is Buildbot's infrastructure colour, never a code defect.
    assert BUILDBOT_RESULTS["environment"] == EXCEPTION
    for outcome in ("build-failed", "boot-failed", "boot-timeout"):
        assert BUILDBOT_RESULTS[outcome] == FAILURE
    assert set(BUILDBOT_RESULTS) == set(EXIT_CODES)
    # Every published property is a field of the worker's verdict.
    assert set(PUBLISHED) <= set(CellResult("x").__dict__)


def test_tail_observer_keeps_the_end_in_whole_lines() -> None:
    obs = TailLogObserver(limit=100)
    obs.outReceived("".join(f"make line {i}\n" for i in range(1000)))
    obs.errReceived("warning: late\n")
    obs.outReceived(f'{RESULT_MARKER}{{"cell_result": "passed"}}\n')
    text = obs.text()
    assert len(text) <= 100 and obs.truncated
    assert text.startswith("make line ") and text.endswith('"passed"}\n')
    assert last_marker_json(text, RESULT_MARKER) == {"cell_result": "passed"}
    small = TailLogObserver(limit=100)
    small.outReceived("a\nb\n")
    assert small.text() == "a\nb\n" and not small.truncated
