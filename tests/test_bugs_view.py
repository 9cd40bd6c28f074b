"""`xentriage bugs` (issue #9, item 12): one line per bug at the terminal's width, the assignee
only when it is not the component's default, TSV and JSON for pipes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import main
from triage.model import Bug, Comment, HistoryChange, HistoryEntry
from triage.store import Store
from triage.store import bugs as bug_repo

T = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LONG = ("Xen 4.19 hangs on boot on an AMD EPYC 9654 host when the IOMMU is on and dom0 has "
        "more than 64 vCPUs, with a trace that points at the interrupt remapping code")


def _bug(bug_id: int, assigned_to: str, *, component: str = "Hypervisor",
         summary: str = "short one", history: tuple[HistoryEntry, ...] = ()) -> Bug:
    at = T + timedelta(hours=bug_id)
    return Bug(id=bug_id, summary=summary, product="Xen", component=component,
               status="CONFIRMED", creator="eve@example.org", creation_time=at,
               last_change_time=at, assigned_to=assigned_to, history=history,
               comments=(Comment(bug_id * 10, bug_id, 0, "eve@example.org", "text", at),))


CLAIMED = (HistoryEntry(who="dev@xen.example.org", when=T, changes=(
    HistoryChange("assigned_to", "xen-bugs@xen.example.org", "dev@xen.example.org"),)),)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{state}"\n\n[rules.claims]\n'
                   'default_assignees = { "Xen/Tools" = "tools-lead@xen.example.org" }\n')
    store = Store(f"sqlite:///{state / 'xentriage.sqlite3'}")
    store.migrate()
    with store.session() as s:
        bug_repo.upsert_bugs(s, [
            _bug(1, "xen-bugs@xen.example.org", summary=LONG),  # the component's account
            _bug(2, "tools-lead@xen.example.org", component="Tools"),  # configured default
            _bug(3, "dev@xen.example.org", history=CLAIMED),  # claimed by a person
        ], fetched_at=T)
    store.dispose()
    return cfg


def _run(cfg: Path, *args: str, columns: int | None = None) -> str:
    env = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner(env=env).invoke(main, ["--config", str(cfg), "bugs", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_one_line_per_bug_cut_at_the_terminal_width(config: Path) -> None:
    lines = _run(config, columns=110).splitlines()
    assert lines[-1] == "3 bug(s)"
    body = lines[2:-1]
    assert [ln.split()[0] for ln in body] == ["3", "2", "1"]  # one line each, newest first
    assert all(len(ln) <= 110 for ln in lines), lines
    long_line = body[2]
    assert long_line.endswith("…") and LONG not in long_line
    shown = long_line[:-1].split("   ")[-1]  # the summary column, before the ellipsis
    assert len(shown) >= 10 and LONG.startswith(shown)


def test_piped_output_keeps_the_whole_summary(config: Path) -> None:
    out = _run(config)  # not a terminal, no $COLUMNS
    assert LONG in out and "…" not in out


def test_the_assignee_shows_only_when_not_the_components_default(config: Path) -> None:
    lines = _run(config, columns=160).splitlines()
    assert "assignee" in lines[0].split()
    rows = {ln.split()[0]: ln for ln in lines[2:-1]}
    assert "dev@xen.example.org" in rows["3"]
    assert "xen-bugs@" not in rows["1"] and "tools-lead@" not in rows["2"]
    # Bugs 2 and 1 alone: both with their defaults, so no assignee column.
    header = _run(config, "--status", "CONFIRMED", "--product", "Xen", columns=160,
                  ).splitlines()[0].split()
    assert "assignee" in header
    older = [ln.split()[0] for ln in _run(config, columns=160).splitlines()[2:-1]]
    assert older == ["3", "2", "1"]


def test_the_column_is_left_out_when_every_bug_sits_with_its_default(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{state}"\n')
    store = Store(f"sqlite:///{state / 'xentriage.sqlite3'}")
    store.migrate()
    with store.session() as s:
        bug_repo.upsert_bugs(s, [_bug(1, "xen-bugs@xen.example.org"),
                                 _bug(2, "nobody@xen.example.org")], fetched_at=T)
    store.dispose()
    header = _run(cfg, columns=120).splitlines()[0].split()
    assert header == ["id", "product/component", "status", "reporter", "changed", "summary"]


def test_tsv_has_every_field_and_json_is_the_same_with_either_spelling(config: Path) -> None:
    lines = _run(config, "--format", "tsv", columns=40).splitlines()
    assert lines[0].split("\t") == ["id", "product", "component", "status", "resolution",
                                    "assignee", "reporter", "changed", "summary"]
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in lines[1:]}
    assert len(lines) == 4 and rows["1"][8] == LONG  # never cut
    assert rows["2"][5] == "tools-lead@xen.example.org"  # machines get the raw field
    assert rows["1"][7] == "2026-11-01T10:00:00Z"
    assert json.loads(_run(config, "--json")) == json.loads(_run(config, "--format", "json"))
    assert [b["id"] for b in json.loads(_run(config, "--format", "json"))] == [3, 2, 1]


def test_tsv_fields_cannot_break_the_columns(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "xentriage.toml"
    cfg.write_text(f'[general]\nstate_dir = "{state}"\n')
    store = Store(f"sqlite:///{state / 'xentriage.sqlite3'}")
    store.migrate()
    with store.session() as s:
        bug_repo.upsert_bugs(s, [_bug(1, "a@b.example", summary="tab\there\nnew line\x1b[2J")],
                             fetched_at=T)
    store.dispose()
    lines = _run(cfg, "--format", "tsv").splitlines()
    assert len(lines) == 2 and len(lines[1].split("\t")) == 9
    assert lines[1].split("\t")[8] == "tab\\u0009here\\u000anew line\\u001b[2J"
