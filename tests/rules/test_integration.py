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
    # Issue #10: each checklist item, found or missing, with the evidence and its source.
    assert "Checklist (Xen/Hypervisor" in out and "missing  version" in out
    assert "missing  logs" in out
    done = xt(config, "explain", str(complete)).output
    assert "found    version: Xen 4.17.2 (description)" in done
    assert "found    dom0: " in done and '"Dom0 is Debian 12 with kernel 6.1.0-13-amd64."' in done
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


def test_store_only_dry_run_prints_a_readable_plan(tmp_path):
    """Without a Bugzilla URL (the embedded/snapshot mode) the plan comes from the store."""
    from tests.rules.builders import make_bug
    from triage.config import load_settings
    from triage.store import Store
    from triage.store import bugs as bug_cache

    config = tmp_path / "x.toml"
    config.write_text(f'[general]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    store = Store(load_settings(config).store_url)
    store.migrate()
    with store.session() as s:
        bug_cache.upsert_bug(s, make_bug(11, VAGUE + "\x1b[2J<b>{{ x }}</b>",
                                         summary="\x1b[31mred\r\nsummary"))
    store.dispose()
    result = xt(config, "triage", "--all", "--show-comments")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "DRY RUN (nothing is written); 1 bugs (daily pass over every open bug)" in out
    assert "bug 11: comment" in out and "why: the report is incomplete: ask for" in out
    assert "      | * Xen version: Which Xen version are you running?" in out
    assert "\x1b" not in out and "\r" not in out
    assert "Summary: 1 writes planned (cap 50)" in out
    assert "followup: follow-up" in xt(config, "explain", "11").output


def test_group_membership_makes_a_reporter_corporate(tmp_path, make_bugzilla_double,
                                                     monkeypatch):
    double = make_bugzilla_double(**double_options())
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    with double.state.lock:  # the double has no hook for custom groups: add one to its table
        double.state.db.execute("INSERT INTO groups VALUES (?,?,?)",
                                (100, "xen-partners", "Companies working on Xen"))
    double.create_user("partner@example.com", groups=("xen-partners",))
    double.create_user("eve@example.org")
    ids = double.seed_bugs([
        {"summary": "s", "product": "Xen", "component": "Hypervisor", "creator": who,
         "description": VAGUE} for who in ("partner@example.com", "eve@example.org")])
    config, _ = write_config(tmp_path, double, 'groups = ["xen-partners"]')
    double.reset_counts()
    result = xt(config, "triage", *[a for i in ids for a in ("--bug", str(i))])
    assert result.exit_code == 0, result.output
    assert f"bug {ids[0]}:" not in result.output and f"bug {ids[1]}: comment" in result.output
    corp = xt(config, "explain", str(ids[0])).output
    assert "member of the Bugzilla group xen-partners" in corp
    # One lookup per reporter; the next pass looks up only reporters of undecided bugs (eve's
    # bug stays "new" in a dry run), and the excluded bug stays excluded.
    assert double.request_count(path_prefix="/rest/user") == 2
    double.reset_counts()
    again = xt(config, "triage", *[a for i in ids for a in ("--bug", str(i))])
    assert double.request_count(path_prefix="/rest/user") == 1
    assert f"bug {ids[0]}:" not in again.output
    assert "excluded" in xt(config, "explain", str(ids[0])).output
