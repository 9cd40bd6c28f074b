"""What `xentriage farm run` shows (issue #9, item 12): the rich result table at the terminal's
width (the reason whole with --wide), progress on a terminal only, errors in words."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from farm.localfarm import FarmState, RunProgress
from farm.table import CellRow
from triage.cli import farm_view
from triage.cli.cmd_farm import command as farm_command
from triage.cli.farm_view import describe_progress, progress_display, result_table

LONG = ("cc1: error: unrecognized command-line option '-mno-red-zone' while building libcpuid; "
        "the whole compiler output is in the log, stdio of step build")


def _rows() -> list[CellRow]:
    return [
        CellRow(cell="hello-cpuid-kvm-arm64", result="build-failed", reason=LONG,
                image_size=None, build_seconds=12.34, boot_seconds=None, worker="full",
                buildbot_result="failure", buildid=3),
        CellRow(cell="hello-cpuid-kvm-x86_64", result="passed", reason="booted\x1b]0;pwned\x07",
                image_size=4096, build_seconds=10.0, boot_seconds=0.5, worker="full",
                buildbot_result="success", buildid=4),
    ]


def test_the_table_fits_the_width_and_cuts_the_reason_with_an_ellipsis() -> None:
    text = result_table(_rows(), width=100)
    lines = text.splitlines()
    assert lines[0].split() == ["cell", "result", "reason", "image", "build", "boot", "worker"]
    assert set(lines[1]) == {"─"}
    assert all(len(line) <= 100 for line in lines)
    arm = next(line for line in lines if line.startswith("hello-cpuid-kvm-arm64"))
    assert "…" in arm and "12.3s" in arm and arm.endswith("full")
    assert LONG not in text
    assert lines[-1] == "2 cells: 1 build-failed, 1 passed"
    # The reason is inert: the OSC sequence is shown, not sent.
    assert "\x1b" not in text and "\\u001b]0;pwned" in text


def test_wide_shows_the_whole_reason() -> None:
    text = result_table(_rows(), width=100, wide=True)
    assert "…" not in text
    joined = " ".join(" ".join(text.split()).split())
    for word in LONG.split():
        assert word in joined
    assert all(len(line) <= 100 for line in text.splitlines())


def test_a_narrow_terminal_keeps_every_column() -> None:
    text = result_table(_rows(), width=40)
    assert text.splitlines()[0].split()[-1] == "worker"


def test_progress_shows_on_a_terminal_and_stays_quiet_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    states = iter([RunProgress(0, 2, 4), RunProgress(3, 2, 1), RunProgress(6, 0, 0)])
    monkeypatch.setattr(farm_view, "run_progress", lambda state, after: next(states))
    monkeypatch.setattr(farm_view, "PROGRESS_EVERY", 0.0)
    state = FarmState(Path("/nonexistent"), 1, 2)
    quiet = io.StringIO()
    with progress_display(state, 0, console=Console(file=quiet)) as poll:
        poll()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    tty = Console(file=shown, force_terminal=True, width=120)
    with progress_display(state, 0, console=tty) as poll:
        for _ in range(3):
            poll()
    out = shown.getvalue()
    assert "cells: 0 done, 2 running, 4 queued" in out
    assert "3/6" in out and "cells: 3 done, 2 running, 1 queued" in out
    assert "cells: 6 done, 0 running, 0 queued" in out
    assert describe_progress(RunProgress(6, 0, 0)) == "cells: 6 done, 0 running, 0 queued"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_master_is_named_not_an_exception_type(tmp_path: Path) -> None:
    port = _closed_port()
    (tmp_path / "farm-state.json").write_text(json.dumps({"www_port": port, "pb_port": 1}))
    result = CliRunner().invoke(farm_command, ["run", "--state-dir", str(tmp_path),
                                               "--timeout", "5"])
    assert result.exit_code == 4
    message = result.output.strip()
    assert "asking the master for its last build" in message
    assert f"cannot connect to the master at http://127.0.0.1:{port}/api/v2" in message
    assert "Connection refused" in message
    assert "ConnectionError" not in message


def test_no_farm_at_all_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(farm_command, ["run", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 4 and "run `xentriage farm up` first" in result.output
