"""A stock Bugzilla 5.2 files every new bug CONFIRMED (every account has ``canconfirm``); the
contract's server filed community bugs UNCONFIRMED. No rule may depend on the difference: the
same community bugs, filed through REST by their reporters, are triaged the same on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.bugzilla_double import CONTRACT_INSTALLATION, BugzillaDouble
from tests.rules.builders import COMPLETE_XEN
from tests.rules.world import KEY_ENV, Reporter, bot_comments, double_options, write_config
from triage.cli import main

VAGUE = "Xen crashes when I start a guest, with the latest version."


def _file(reporter: Reporter, summary: str, description: str) -> int:
    body = {"product": "Xen", "component": "Hypervisor", "version": "4.17",
            "summary": summary, "description": description}
    return int(reporter._call("POST", "bug", body)["id"])


def _triage(tmp_path: Path, double: BugzillaDouble, monkeypatch: Any) -> dict[str, Any]:
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    vague = _file(Reporter(double, "eve@example.org"), "guest crash", VAGUE)
    complete = _file(Reporter(double, "frank@example.org"), "host hang", COMPLETE_XEN)
    filed = {i: double.bug(i)["status"] for i in (vague, complete)}
    tmp_path.mkdir()
    config, _ = write_config(tmp_path, double)
    args = ["--config", str(config), "triage", "--bug", str(vague), "--bug", str(complete)]
    dry = CliRunner().invoke(main, args, catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    prod = CliRunner().invoke(main, [*args, "--production"], catch_exceptions=False)
    assert prod.exit_code == 0, prod.output
    after = {}
    for i in (vague, complete):
        bug = double.bug(i)
        after[i] = {"whiteboard": bug["whiteboard"], "keywords": sorted(bug["keywords"]),
                    "flags": [(f["name"], f["status"], f["requestee"]) for f in bug["flags"]],
                    "bot comments": [c["text"] for c in bot_comments(double, i)]}
    plan = [line for line in dry.output.splitlines() if line.lstrip().startswith("bug ")]
    return {"filed": filed, "plan": plan, "after": after}


def test_a_confirmed_new_community_bug_is_triaged_as_an_unconfirmed_one(
        tmp_path: Path, make_bugzilla_double: Any, monkeypatch: Any) -> None:
    stock = _triage(tmp_path / "stock", make_bugzilla_double(**double_options()), monkeypatch)
    recorded = _triage(tmp_path / "recorded", make_bugzilla_double(
        **double_options(), **CONTRACT_INSTALLATION), monkeypatch)
    assert set(stock["filed"].values()) == {"CONFIRMED"}
    assert set(recorded["filed"].values()) == {"UNCONFIRMED"}
    assert stock["plan"] and stock["plan"] == recorded["plan"]
    assert stock["after"] == recorded["after"]
    vague, complete = stock["after"].values()
    assert "[xt:needinfo]" in vague["whiteboard"] and vague["bot comments"]
    assert "triage-review" in complete["keywords"]
