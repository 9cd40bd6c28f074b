"""End to end: a '#triage claim N' list mail → ingestion → triage engine → Bugzilla double
(claimed) + a threaded reply through a real SMTP server on loopback, exactly once, even across
re-runs and an SMTP outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from triage.adapters import open_tracker
from triage.adapters.mail.archive import MboxSource
from triage.adapters.smtp import BOT_HEADER, writer_mail_sender
from triage.engine import TriageEngine
from triage.ingest import Ingestor, pending_events
from triage.model import TriageState
from triage.store import Store
from triage.store import states as state_rows

ADMIN = "admin@bugzilla.local"  # the bot writes with the admin's API key
ALICE = "alice@example.org"


DKIM_PASS = "mx.test.example; dkim=pass header.d=example.org header.s=s1; spf=pass"


def command_mail(bug_id: int, sender: str = ALICE, message_id: str = "<claim-1@example.org>",
                 line: str | None = None, *, auth: str | None = DKIM_PASS,
                 subject: str | None = None, from_header: str | None = None,
                 extra: str = "") -> bytes:
    body = f"I'll take this one.\n\n{line or f'#triage claim {bug_id}'}\n\n-- \nAlice\n"
    results = f"Authentication-Results: {auth}\r\n" if auth else ""
    subject = subject or f"Re: [Bug {bug_id}] Xen 4.17.2 crashes on boot"
    return (results + extra + (from_header or f"From: Alice Developer <{sender}>") + "\r\n"
            "To: xen-bugs@lists.xenproject.org\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n"
            "Date: Sun, 01 Nov 2026 10:00:00 +0000\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
            ).encode()


def write_mbox(path: Path, *mails: bytes) -> Path:
    with path.open("wb") as fh:
        for raw in mails:
            fh.write(b"From alice@example.org Sun Nov  1 10:00:00 2026\n")
            fh.write(raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From "))
            fh.write(b"\n")
    return path


@pytest.fixture
def world(tmp_path, make_settings, bugzilla_double, smtp_server, monkeypatch):
    double = bugzilla_double
    double.create_user(ALICE, "Alice Developer")
    double.create_user("reporter@example.org", "Reporter")
    (bug_id,) = double.seed_bugs([{
        "summary": "Xen 4.17.2 crashes on boot", "product": "Xen", "component": "Hypervisor",
        "version": "4.17", "status": "CONFIRMED", "creator": "reporter@example.org",
        "description": "Xen 4.17.2 on x86_64 crashes; xl dmesg attached",
        "comments": [{"text": "I can look at this", "creator": ALICE}],
    }])
    monkeypatch.setenv("T_BZ_KEY", double.admin_api_key)
    settings = make_settings(f"""
[general]
state_dir = "{tmp_path / 'state'}"
bot_email = "triage-bot@xen.example.org"
bot_accounts = ["{ADMIN}"]

[bugzilla]
url = "{double.url}"
api_key_env = "T_BZ_KEY"
retries = 0

[commands]
authserv_ids = ["mx.test.example"]

[rules.claims]
default_assignees = {{ "Xen" = "{ADMIN}" }}
""" + smtp_server.toml())
    store = Store(settings.store_url)
    store.migrate()
    yield settings, store, double, smtp_server, bug_id
    store.dispose()


def ingest(settings, store: Store, tmp_path: Path, *mails: bytes) -> None:
    path = write_mbox(tmp_path / f"list-{len(list(tmp_path.glob('list-*')))}.mbox", *mails)
    Ingestor(store, quarantine_dir=tmp_path / "quarantine",
             bot_email=settings.general.bot_email).run(MboxSource(path))


def triage_run(settings, store: Store):
    tracker = open_tracker(settings, production=True)
    engine = TriageEngine(settings, store, tracker,
                          mail_sender=writer_mail_sender(settings, production=True))
    return engine.run(production=True)


def test_email_claim_lands_in_bugzilla_and_is_answered_once(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    ingest(settings, store, tmp_path, command_mail(bug_id))
    report = triage_run(settings, store)
    assert not report.aborted, report.abort_reason

    got = double.bug(bug_id)
    assert got["assigned_to"] == ALICE and got["status"] == "IN_PROGRESS"
    (reply,) = smtp.wait_for(1)
    assert reply["To"] == ALICE
    assert reply["In-Reply-To"] == "<claim-1@example.org>"
    assert reply["Auto-Submitted"] == "auto-replied" and reply[BOT_HEADER]
    assert f"Done: #triage claim {bug_id}" in reply.get_content()
    comments = len(double.comments(bug_id))

    # Re-runs (and the same mail delivered again) change nothing and send nothing.
    ingest(settings, store, tmp_path, command_mail(bug_id))
    triage_run(settings, store)
    triage_run(settings, store)
    assert len(smtp.wait_for(2, timeout=0.5)) == 1
    assert len(double.comments(bug_id)) == comments
    with store.session() as s:
        assert pending_events(s) == []


def test_refused_claim_changes_nothing_in_bugzilla(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    # Mallory's own domain signs his mail: he is verified as mallory, so he is answered.
    ingest(settings, store, tmp_path, command_mail(
        bug_id, sender="mallory@evil.example", message_id="<forged@evil.example>",
        auth="mx.test.example; dkim=pass header.d=evil.example"))
    triage_run(settings, store)
    got = double.bug(bug_id)
    assert got["assigned_to"] != "mallory@evil.example" and got["status"] == "CONFIRMED"
    (reply,) = smtp.wait_for(1)
    assert reply["To"] == "mallory@evil.example"
    assert "Refused" in reply.get_content()


def test_smtp_outage_keeps_the_reply_pending_then_sends_it_once(world, tmp_path):
    settings, store, double, smtp, bug_id = world
    ingest(settings, store, tmp_path, command_mail(bug_id))
    smtp.stop()
    report = triage_run(settings, store)
    assert [c.change.kind for c in report.failed] == ["mail"]
    assert double.bug(bug_id)["assigned_to"] == ALICE  # the claim itself went through
    with store.session() as s:
        assert len(pending_events(s)) == 1  # not consumed: its reply is still owed

    smtp.start()
    triage_run(settings, store)
    triage_run(settings, store)
    (reply,) = smtp.wait_for(2, timeout=0.5)
    assert f"Done: #triage claim {bug_id}" in reply.get_content()
    with store.session() as s:
        assert pending_events(s) == []


# --- stale claims and fix documentation through the double ------------------------------------

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def run_at(settings, store: Store, double, when: datetime, bug_id: int):
    double.set_clock(when)
    tracker = open_tracker(settings, production=True)
    engine = TriageEngine(settings, store, tracker, clock=lambda: when,
                          mail_sender=writer_mail_sender(settings, production=True))
    report = engine.run(bug_ids=[bug_id], production=True)
    assert not report.aborted and not report.failed, report.summary()
    return report


def test_stale_claim_is_nudged_then_released(world):
    settings, store, double, _smtp, _ = world
    (bug_id,) = double.seed_bugs([{
        "summary": "hvm guest hangs", "product": "Xen", "component": "Hypervisor",
        "version": "4.17", "status": "IN_PROGRESS", "assigned_to": ALICE,
        "creator": "reporter@example.org", "description": "Xen 4.17.2, x86_64, hangs",
        "creation_time": NOW - timedelta(days=40), "last_change_time": NOW - timedelta(days=40),
    }])
    run_at(settings, store, double, NOW, bug_id)
    got = double.bug(bug_id)
    assert "[xt:claim-nudged]" in got["whiteboard"]
    # (The reporter may get the completeness follow-up too: that is the other rules' business.)
    assert [(f["name"], f["status"]) for f in got["flags"] if f["requestee"] == ALICE] == [
        ("needinfo", "?")]
    assert any("Are you still working on it?" in c["text"] for c in double.comments(bug_id))
    with store.session() as s:
        assert state_rows.get_states(s, [bug_id])[bug_id].state == TriageState.NUDGED

    # A week later: still waiting; a re-run the same day writes nothing new.
    run_at(settings, store, double, NOW + timedelta(days=7), bug_id)
    comments = len(double.comments(bug_id))
    run_at(settings, store, double, NOW + timedelta(days=7), bug_id)
    assert len(double.comments(bug_id)) == comments
    assert sum("Are you still working" in c["text"] for c in double.comments(bug_id)) == 1

    run_at(settings, store, double, NOW + timedelta(days=15), bug_id)
    got = double.bug(bug_id)
    assert (got["assigned_to"], got["status"]) == (ADMIN, "CONFIRMED")
    assert [f for f in got["flags"] if f["requestee"] == ALICE] == []
    assert "claim-nudged" not in got["whiteboard"]
    assert any("open for developers again" in c["text"] for c in double.comments(bug_id))
    with store.session() as s:
        record = state_rows.get_states(s, [bug_id])[bug_id]
    assert record.state == TriageState.OPEN_FOR_DEV and record.claimed_by == ""


def test_fix_documentation_asks_once_then_records_the_reference(world):
    settings, store, double, _smtp, _ = world
    alice_key = double.api_key_for(ALICE)
    (bug_id,) = double.seed_bugs([{
        "summary": "xl crash", "product": "Xen", "component": "Tools", "version": "4.17",
        "status": "RESOLVED", "resolution": "FIXED", "assigned_to": ALICE,
        "creator": "reporter@example.org", "description": "xl create crashes",
        "creation_time": NOW - timedelta(days=20), "last_change_time": NOW - timedelta(days=1),
        "comments": [{"text": "fixed in 4.17.3", "creator": ALICE}],
    }])
    run_at(settings, store, double, NOW, bug_id)
    run_at(settings, store, double, NOW + timedelta(days=8), bug_id)
    texts = [c["text"] for c in double.comments(bug_id)]
    assert sum("To help users and distributors find the fix" in t for t in texts) == 1
    assert [f["name"] for f in double.bug(bug_id)["flags"] if f["requestee"] == ALICE] == [
        "needinfo"]

    response = requests.post(f"{double.url}bug/{bug_id}/comment",
                             params={"api_key": alice_key}, timeout=10,
                             json={"comment": "Fixed in commit 0a1b2c3d4e5f on staging."})
    assert response.status_code in (200, 201), response.text
    run_at(settings, store, double, NOW + timedelta(days=9), bug_id)
    with store.session() as s:
        record = state_rows.get_states(s, [bug_id])[bug_id]
    assert record.state == TriageState.FIX_DOCUMENTED
    assert record.fix_reference.startswith("commit 0a1b2c3d4e5f (comment ")
