"""`xentriage digest ...` and `wiki publish` on the embedded defaults (the bundled snapshot and
archive): every section has entries, the dry run writes the .eml and the page, holds hold."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import main


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XENTRIAGE_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["run", "--no-plan"])
    assert result.exit_code == 0, result.output
    return tmp_path


def xt(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_bundled_data_fills_every_section(embedded: Path) -> None:
    out = xt("digest", "preview")
    assert out.exit_code == 0, out.output
    text = out.output
    sections = {}
    for title in ("Needs a developer", "Claimed", "New this week", "Fixed this week",
                  "Waiting on reporters", "In review"):
        line = next(line for line in text.splitlines() if line.startswith(title + " ("))
        sections[title] = int(line.split("(")[1].rstrip(")"))
    assert all(n > 0 for n in sections.values()), sections
    assert "STALE" in text and "fix: commit 7c3b9e1f2a4d" in text
    assert "Week 2026-W45" in text or "week 2026-W45" in text

    html = xt("digest", "preview", "--format", "html")
    assert html.exit_code == 0 and "<table" in html.output and "cid:" in html.output
    wiki = xt("digest", "preview", "--format", "wiki")
    assert wiki.exit_code == 0 and '{| class="wikitable sortable"' in wiki.output


def test_dry_run_send_writes_the_eml_and_hold_stops_it(embedded: Path) -> None:
    sent = xt("digest", "send")
    assert sent.exit_code == 0, sent.output
    path = Path(sent.output.split("written to ")[1].splitlines()[0].strip())
    assert path.parent.name == "dry-run" and path.exists()
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert xt("wiki", "publish").exit_code == 0
    assert (embedded / "var" / "wiki" / "digest.wiki").exists()
    held = xt("digest", "hold", "--reason", "checking numbers")
    assert held.exit_code == 0 and "held" in held.output
    assert "held" in xt("digest", "send").output
    assert xt("digest", "release").exit_code == 0
    assert xt("digest", "release").exit_code == 6  # not held any more
    assert xt("digest", "preview", "--week", "2099-W01").exit_code == 2
    assert xt("digest", "preview", "--week", "2026-W99").exit_code == 2
    assert xt("digest", "send", "--production", "--change-cap", "0").exit_code == 5
