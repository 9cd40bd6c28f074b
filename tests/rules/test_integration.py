"""End to end through the CLI against the Bugzilla double: dry run prints the plan and writes
nothing; --production applies it; a re-run applies nothing new; explain shows it all."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.rules.builders import COMPLETE_XEN
from tests.rules.world import ADMIN, KEY_ENV, Reporter, bot_comments, double_options, write_config
from triage.cli import main
from triage.cli.common import EXIT_ABORTED, EXIT_NOT_FOUND

VAGUE = "Xen crashes when I start a guest, with the latest version."


@pytest.fixture
def world(tmp_path, make_bugzilla_double, monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    for who in ("eve@example.org", "frank@example.org", "bob@citrix.com"):
        Reporter(double, who)
    ids = double.seed_bugs([
        {"summary": "guest crash", "product": "Xen", "component": "Hypervisor",
         "creator": "eve@example.org", "status": "UNCONFIRMED", "description": VAGUE},
        {"summary": "host hang", "product": "Xen", "component": "Hypervisor",
         "creator": "frank@example.org", "status": "UNCONFIRMED", "description": COMPLETE_XEN},
        {"summary": "internal", "product": "Xen", "component": "Tools",
         "creator": "bob@citrix.com", "status": "CONFIRMED", "description": VAGUE},
    ])
    config, _ = write_config(tmp_path, double)
    return double, ids, config


def xt(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def writes(double):
    return double.request_count("PUT") + double.request_count("POST")


def test_dry_run_then_production_then_nothing_new(world):
    double, (vague, complete, corporate), config = world
    bug_args = [a for i in (vague, complete, corporate) for a in ("--bug", str(i))]

    dry = xt(config, "triage", *bug_args)
    assert dry.exit_code == 0, dry.output
    assert "DRY RUN" in dry.output and "== followup ==" in dry.output
    assert "== review ==" in dry.output
    assert f"bug {vague}: comment" in dry.output and "needinfo?(eve@example.org)" in dry.output
    assert f"bug {complete}: comment (3 lines), +keyword triage-review" in dry.output
    assert f"bug {corporate}:" not in dry.output
    assert writes(double) == 0 and not bot_comments(double, vague)

    prod = xt(config, "triage", "--production", *bug_args)
    assert prod.exit_code == 0, prod.output
    assert "-> confirmed" in prod.output and "2 written" in prod.output
    (fu,) = bot_comments(double, vague)
    assert "* Xen version:" in fu["text"] and fu["text"].rstrip().endswith("]")
    bug = double.bug(vague)
    assert "[xt:needinfo]" in bug["whiteboard"]
    assert [(f["name"], f["status"], f["requestee"]) for f in bug["flags"]] == [
        ("needinfo", "?", "eve@example.org")]
    assert "triage-review" in double.bug(complete)["keywords"]
    assert not bot_comments(double, corporate) and double.bug(corporate)["whiteboard"] == ""

    double.reset_counts()
    again = xt(config, "triage", "--production", *bug_args)
    assert again.exit_code == 0, again.output
    assert "No changes planned." in again.output
    assert writes(double) == 0 and len(bot_comments(double, vague)) == 1
    daily = xt(config, "triage", "--production", "--all")
    assert daily.exit_code == 0 and "No changes planned." in daily.output
    assert writes(double) == 0

    explain = xt(config, "explain", str(vague))
    assert explain.exit_code == 0, explain.output
    out = explain.output
    assert f"Bug {vague}: needs-info since" in out
    assert "corporate: community" in out and "completeness: incomplete" in out
    assert "followup: follow-up -> needs-info" in out
    assert f"confirmed  update followup:{vague}:round1 [xentriage:" in out
    assert "eve@example.org (followup" in out  # the nag ledger entry
    corp = xt(config, "explain", str(corporate))
    assert "excluded" in corp.output and "organisation: Citrix" in corp.output
    assert xt(config, "explain", "999").exit_code == EXIT_NOT_FOUND


def test_change_cap_aborts_before_any_write(world):
    double, (vague, complete, _), config = world
    result = xt(config, "triage", "--production", "--change-cap", "1", "--bug", str(vague),
                "--bug", str(complete))
    assert result.exit_code == EXIT_ABORTED
    assert "ABORTED: the plan has 2 writes, more than the change cap of 1" in result.output
    assert writes(double) == 0 and not bot_comments(double, vague)
    explain = xt(config, "explain", str(vague), "--json")
    assert '"state": "new"' in explain.output  # the follow-up's state was not committed


def test_kill_switch_stops_every_write(world, tmp_path):
    double, (vague, _, _), config = world
    config.write_text(config.read_text() + "\n[safety]\nkill_switch = true\n")
    result = xt(config, "triage", "--production", "--bug", str(vague))
    assert result.exit_code == 0
    assert "kill_switch is on" in result.output and "DRY RUN" in result.output
    assert writes(double) == 0


def test_the_reporters_answer_moves_the_bug_to_review(world):
    double, (vague, _, _), config = world
    assert xt(config, "triage", "--production", "--bug", str(vague)).exit_code == 0
    # The reporter answers with her own account:
    Reporter.existing(double, "eve@example.org").comment(vague, COMPLETE_XEN)
    result = xt(config, "triage", "--production", "--bug", str(vague))
    assert result.exit_code == 0, result.output
    assert "== review ==" in result.output and "-> confirmed" in result.output
    bug = double.bug(vague)
    assert "triage-review" in bug["keywords"] and "[xt:review]" in bug["whiteboard"]
    assert "[xt:needinfo]" not in bug["whiteboard"]
    assert not [f for f in bug["flags"] if f["name"] == "needinfo"]
    assert ADMIN in bot_comments(double, vague)[-1]["creator"]
