"""The snapshot tracker, the bundled sample, the snapshot round trip and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import seed
from triage.adapters import open_tracker
from triage.adapters.bugzilla import BugzillaGateway
from triage.adapters.snapshot import SnapshotError, SnapshotTracker, take_snapshot
from triage.adapters.tracker import ReadOnlyTracker, Tracker
from triage.cli import main
from triage.config import SAMPLE_SNAPSHOT, Settings
from triage.model import BugUpdate, Change, FlagChange
from triage.store import Store
from triage.sync import sync_bugs
from triage.writes import Writer


def test_the_bundled_sample_is_realistic_and_serves_as_a_tracker(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings("")
    tracker = open_tracker(settings, production=False)
    assert isinstance(tracker, SnapshotTracker) and isinstance(tracker, Tracker)
    assert tracker.read_only and 30 <= len(tracker) <= 60
    bugs = tracker.get_bugs(sorted(b.id for b in tracker.search_changed_since(None)),
                            history=True).bugs
    domains = {b.creator.split("@")[1] for b in bugs}
    assert {"citrix.com", "intel.com", "amd.com", "suse.com", "arm.com", "gmail.com",
            "example.org"} <= domains
    assert any(b.flags_named("needinfo") for b in bugs)
    assert any(b.resolution == "FIXED" and "commit" in " ".join(c.text for c in b.comments)
               for b in bugs)
    assert any(b.resolution == "FIXED" and "commit" not in " ".join(c.text for c in b.comments)
               for b in bugs)
    assert any(b.status == "IN_PROGRESS" for b in bugs)
    assert any("ci-failure" in b.keywords for b in bugs)
    assert any(b.history for b in bugs) and all(b.description for b in bugs)
    assert {b.product for b in bugs} == {"Xen"}
    assert {b.component for b in bugs} == {"Hypervisor", "Tools", "Unikraft"}


def test_snapshot_tracker_refuses_writes_and_the_ledger_plans_them(store: Store) -> None:
    tracker = SnapshotTracker(SAMPLE_SNAPSHOT)
    with pytest.raises(ReadOnlyTracker):
        tracker.update_bug(120, BugUpdate(comment="x"))
    change = Change(key="k", rule="r", reason="x", bug_id=120,
                    update=BugUpdate(flags=(FlagChange("needinfo", "X"),)))
    assert Writer(store, tracker, production=False).apply(change).status == "dry-run"
    held = Writer(store, tracker, production=True).apply(change)
    assert held.status == "dry-run" and held.blocked_by == "read-only tracker"


def test_malformed_snapshots_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SnapshotError, match="not valid JSON"):
        SnapshotTracker(bad)
    bad.write_text(json.dumps({"format": "something-else"}), encoding="utf-8")
    with pytest.raises(SnapshotError, match="not a xentriage-snapshot"):
        SnapshotTracker(bad)
    with pytest.raises(SnapshotError, match="cannot read"):
        SnapshotTracker(tmp_path / "missing.json")


def test_snapshot_of_a_live_bugzilla_round_trips(tmp_path: Path, gateway: BugzillaGateway,
                                                 bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 12)
    bugzilla_double.create_user("eve@example.org")
    gateway.update_bug(ids[4], BugUpdate(comment="ünïcode ✓", keywords_add=("regression",),
                                         flags=(FlagChange("needinfo", "?", "eve@example.org"),)))
    out = tmp_path / "snap.json"
    assert take_snapshot(gateway, out, products=["Xen"]) == 12
    snap = SnapshotTracker(out)
    live = gateway.get_bugs(ids, history=True).bugs
    saved = snap.get_bugs(ids, history=True).bugs
    assert saved == live


def test_cli_sync_bugs_and_snapshot(tmp_path: Path, bz_settings: Settings,
                                    bugzilla_double: BugzillaDouble,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seed(bugzilla_double, 7)
    assert bz_settings.source is not None
    monkeypatch.setenv("XENTRIAGE_BUGZILLA_API_KEY", bugzilla_double.admin_api_key)
    runner = CliRunner()
    cfg = ["--config", str(bz_settings.source)]
    result = runner.invoke(main, [*cfg, "sync"])
    assert result.exit_code == 0, result.output
    assert "full sync" in result.output and "7 stored" in result.output
    assert bugzilla_double.admin_api_key not in result.output
    result = runner.invoke(main, [*cfg, "sync"])
    assert result.exit_code == 0 and "incremental sync" in result.output

    result = runner.invoke(main, [*cfg, "bugs", "--json", "--limit", "3"])
    assert result.exit_code == 0
    assert [b["id"] for b in json.loads(result.output)] == [7, 6, 5]
    result = runner.invoke(main, [*cfg, "bugs", "--open", "--product", "Xen"])
    assert result.exit_code == 0 and "bug 6" in result.output and "7 bug(s)" in result.output

    out = tmp_path / "saved.json"
    result = runner.invoke(main, [*cfg, "snapshot", str(out)])
    assert result.exit_code == 0, result.output
    assert len(SnapshotTracker(out)) == 7


def test_cli_reports_a_bad_key_and_an_outage(bz_settings: Settings,
                                             bugzilla_double: BugzillaDouble,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    cfg = ["--config", str(bz_settings.source)]
    monkeypatch.setenv("XENTRIAGE_BUGZILLA_API_KEY", "WrongKey000000000000000000000000000000")
    result = runner.invoke(main, [*cfg, "sync"])
    assert result.exit_code == 3 and "API key" in result.output
    assert "WrongKey0000" not in result.output
    bugzilla_double.stop()
    monkeypatch.setenv("XENTRIAGE_BUGZILLA_API_KEY", bugzilla_double.admin_api_key)
    result = runner.invoke(main, [*cfg, "sync"])
    assert result.exit_code == 4 and "connection failed" in result.output


def test_cli_sync_from_the_embedded_sample(tmp_path: Path, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings("")
    result = CliRunner().invoke(main, ["--config", str(settings.source), "sync"])
    assert result.exit_code == 0, result.output
    store = Store(settings.store_url)
    tracker = SnapshotTracker(SAMPLE_SNAPSHOT)
    assert sync_bugs(store, tracker, settings).stored == 0
    store.dispose()
    result = CliRunner().invoke(main, ["--config", str(settings.source), "bugs", "--status",
                                       "IN_PROGRESS", "--json"])
    assert {b["status"] for b in json.loads(result.output)} == {"IN_PROGRESS"}


def test_attachments_flow_from_bugzilla_through_a_snapshot_to_the_checklist(
        tmp_path: Path, gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    """Issue #10: attachment metadata is read in one batched request, written by
    ``take_snapshot``, read back by the snapshot tracker, and the checklist counts it."""
    from tests.bugzilla_double.client import Rest
    from triage.completeness.checklist import DEFAULT_CHECKLISTS, assess

    bugzilla_double.create_user("eve@example.org")
    reporter = Rest(bugzilla_double, bugzilla_double.api_key_for("eve@example.org"))
    text = ("Xen 4.19.1 on x86_64, Dell PowerEdge R740, dom0 Debian 12. Steps: xl create "
            "hvm.cfg (type = \"hvm\"). Expected the guest to boot, but the host hangs.")
    ids = bugzilla_double.seed_bugs([
        {"summary": "host hangs", "creator": "eve@example.org", "description": text,
         "product": "Xen", "component": "Hypervisor"},
        {"summary": "other", "description": "x"}])
    r = reporter.post(f"bug/{ids[0]}/attachment", {
        "data": "KFhFTikgUGFuaWMgb24gQ1BVIDAK", "file_name": "serial.log",
        "summary": "serial console", "content_type": "text/plain"})
    assert r.status_code == 201, r.text
    out = tmp_path / "snap.json"
    assert take_snapshot(gateway, out, products=["Xen"]) == 2
    raw = json.loads(out.read_text())
    (saved,) = raw["attachments"][str(ids[0])]
    assert saved["file_name"] == "serial.log" and "data" not in saved
    assert str(ids[1]) not in raw["attachments"]
    bug = SnapshotTracker(out).get_bugs([ids[0]], attachments=True).bugs[0]
    assert [a.file_name for a in bug.attachments] == ["serial.log"]
    result = assess(bug, DEFAULT_CHECKLISTS)
    assert result.complete, result.missing
    (logs,) = [f for f in result.findings if f.item == "logs"]
    assert logs.where == "attachment serial.log"
    # A snapshot written before attachments existed still reads (no attachments at all).
    del raw["attachments"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(raw))
    assert SnapshotTracker(old).get_bugs([ids[0]], attachments=True).bugs[0].attachments == ()
