"""Terminal escapes in bug and mail data come out inert in every command that prints them:
``ESC]0;`` (retitle the terminal), ``ESC[2J`` (clear it), a bare CR, a bidi override."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.mail.make_sample_mbox import write_mbox
from triage.cli import main
from triage.display import cell, inert
from triage.model import Bug, Comment, Decision
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store.decisions import save_decisions, start_run

HOSTILE = "crash \x1b]0;pwned\x07 then \x1b[2J cleared\r over \u202eevil\u202c \x9b31m [red]x[/red]"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\r")


def assert_inert(text: str) -> None:
    assert not any(c in text for c in RAW_CONTROLS), repr(text)


def test_inert_escapes_visibly():
    out = inert(HOSTILE)
    assert_inert(out)
    assert "\\u001b]0;pwned\\u0007" in out and "\\u001b[2J" in out and "\\u202e" in out
    assert inert("line\nnext\tcol") == "line\nnext\tcol"
    assert inert("line\nnext", one_line=True) == "line\\u000anext"
    assert cell("[red]x[/red]").plain == "[red]x[/red]"  # not rich markup


@pytest.fixture
def hostile_state(tmp_path: Path) -> tuple[Path, int]:
    state = tmp_path / "state"
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{state}"\n')
    store = Store(f"sqlite:///{state / 'xentriage.sqlite3'}")
    store.migrate()
    t = datetime(2026, 11, 1, tzinfo=UTC)
    bug = Bug(id=4242, summary=HOSTILE, product="Xen", component="Hypervisor",
              status="CONFIRMED", creator="eve@example.org", creation_time=t,
              last_change_time=t, assigned_to="dev\x1b[2J@example.org",
              comments=(Comment(1, 4242, 0, "eve@example.org", HOSTILE, t),))
    with store.session() as s:
        bug_repo.upsert_bugs(s, [bug], fetched_at=t)
        run_id = start_run(s, "triage", production=False, now=t)
        save_decisions(s, run_id, [(Decision(4242, "commands", "claim-refused", HOSTILE,
                                             details={"sender": HOSTILE}), False)], t)
    store.dispose()
    return cfg, 4242


@pytest.mark.parametrize("args", [
    ["bugs"], ["bugs", "--open"], ["bugs", "--json"], ["explain", "4242"],
    ["explain", "4242", "--json"], ["triage", "--bug", "4242", "--no-refresh"],
])
def test_cli_output_is_inert(hostile_state, args):
    cfg, _ = hostile_state
    result = CliRunner().invoke(main, ["--config", str(cfg), *args])
    assert result.exit_code in (0, 5), result.output
    assert_inert(result.output)
    if args[0] in ("bugs", "explain"):
        assert "pwned" in result.output  # shown, escaped, not dropped


def test_mail_commands_output_is_inert(tmp_path: Path):
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{tmp_path / "state"}"\n')
    mbox = tmp_path / "list.mbox"
    write_mbox(mbox, [
        b"From: Eve <eve@example.org>\nSubject: =?utf-8?q?=1B]0;pwned=07?=\n"
        b"Message-ID: <e1@example.org>\n\nhello\n",
        b"From: Eve <eve@example.org>\nSubject: ok\nX-Evil\x1b[2J: 1\n"
        b"Message-ID: <e2@example.org>\n\nhello\n",
    ])
    runner = CliRunner()
    for args in (["mail", "backfill", str(mbox), "--no-tracker"], ["mail", "status"]):
        result = runner.invoke(main, ["--config", str(cfg), *args])
        assert result.exit_code == 0, result.output
        assert_inert(result.output)


def test_farm_table_goes_through_the_sanitiser():
    """`farm run` prints ``render_table`` through :func:`echo` (cmd_farm); a cell name or a
    reason from a worker's log can carry escapes too."""
    import click

    from farm.table import CellRow, render_table
    from triage.cli.common import echo

    row = CellRow(cell=HOSTILE, result="build-failed", reason=HOSTILE, image_size=None,
                  build_seconds=1.0, boot_seconds=None, worker="w\x1b[2J", buildbot_result="2",
                  buildid=1)

    @click.command()
    def show() -> None:
        echo(render_table([row]))

    result = CliRunner().invoke(show)
    assert result.exit_code == 0
    assert_inert(result.output)
    assert "pwned" in result.output
