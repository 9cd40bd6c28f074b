"""The whole service cycle, end to end: `xentriage run` on the embedded defaults, and on a
Bugzilla (the double) whose notification mails arrive through the list archive."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from tests.rules.world import KEY_ENV, Reporter, bot_comments, double_options, write_config
from triage.cli import main
from triage.store import Store
from triage.store.tables import ActionRow, MailMessage

VAGUE = "Xen crashes when I start a guest, with the latest version."


def xt(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_on_embedded_defaults_ingests_syncs_and_plans_without_writing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XENTRIAGE_CONFIG", raising=False)
    first = xt("run")
    assert first.exit_code == 0, first.output
    assert "mail: sample_bugs_list.mbox: 215 new messages, 215 processed" in first.output
    assert "0 quarantined" in first.output
    assert "sync: full sync" in first.output
    assert "triage: dry run, daily pass over every open bug" in first.output
    assert "DRY RUN" in first.output

    again = xt("run", "--no-plan")
    assert again.exit_code == 0, again.output
    assert "mail: sample_bugs_list.mbox: 0 new messages" in again.output  # exactly once
    assert "sync: incremental" in again.output

    store = Store(f"sqlite:///{tmp_path / 'var' / 'xentriage.sqlite3'}")
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(MailMessage)) == 215
        statuses = set(s.scalars(select(ActionRow.status)))
    store.dispose()
    assert statuses <= {"dry-run"}  # nothing left the machine
    assert list((tmp_path / "var" / "outbox").glob("*.eml")) == []


def test_mail_to_bugzilla_follow_up_loop_is_idempotent(tmp_path: Path, make_bugzilla_double,
                                                      monkeypatch):
    """A reporter files a vague bug; its notification reaches the list archive; one production
    cycle ingests the mail, syncs, and posts one follow-up; further cycles post nothing more."""
    archive = tmp_path / "list.mbox"
    double = make_bugzilla_double(**double_options(), mbox_path=archive)
    monkeypatch.setenv(KEY_ENV, double.admin_api_key)
    eve = Reporter(double, "eve@example.org")
    double.create_user("xen-bugs@lists.xenproject.org", "Xen bugs list")
    created = eve._call("POST", "bug", {
        "product": "Xen", "component": "Hypervisor", "version": "unstable",
        "summary": "guest crash", "description": VAGUE, "op_sys": "All", "platform": "All",
        "cc": ["xen-bugs@lists.xenproject.org"]})
    bug_id = int(created["id"])
    assert archive.exists() and archive.stat().st_size > 0
    config, _ = write_config(tmp_path, double,
                             f'[mail]\nsource = "mbox"\npath = "{archive}"\n')

    first = xt("--config", str(config), "run", "--production", "--no-plan")
    assert first.exit_code == 0, first.output
    # One notification per recipient (the list and the default assignee), one bug queued.
    assert "2 processed (new-bug 2)" in first.output and "1 bugs queued" in first.output
    assert "1 writes planned, 1 written" in first.output
    (follow_up,) = bot_comments(double, bug_id)
    assert "Xen version" in follow_up["text"]
    flags = double.bug(bug_id)["flags"]
    assert [(f["name"], f["status"]) for f in flags] == [("needinfo", "?")]

    # The bot's own comment comes back through the list: ingested, nothing new written.
    for _ in range(2):
        again = xt("--config", str(config), "run", "--production", "--no-plan")
        assert again.exit_code == 0, again.output
        assert len(bot_comments(double, bug_id)) == 1
