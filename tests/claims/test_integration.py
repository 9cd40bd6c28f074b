"""End to end: a '#triage claim N' list mail → ingestion → triage engine → Bugzilla double
(claimed) + a threaded reply through a real SMTP server on loopback, exactly once, even across
re-runs and an SMTP outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.adapters import open_tracker
from triage.adapters.mail.archive import MboxSource
from triage.adapters.smtp import BOT_HEADER, writer_mail_sender
from triage.engine import TriageEngine
from triage.ingest import Ingestor, pending_events
from triage.store import Store

ADMIN = "admin@bugzilla.local"  # the bot writes with the admin's API key
ALICE = "alice@example.org"


def command_mail(bug_id: int, sender: str = ALICE, message_id: str = "<claim-1@example.org>",
                 line: str | None = None) -> bytes:
    body = f"I'll take this one.\n\n{line or f'#triage claim {bug_id}'}\n\n-- \nAlice\n"
    return (f"From: Alice Developer <{sender}>\r\n"
            "To: xen-bugs@lists.xenproject.org\r\n"
            f"Subject: Re: [Bug {bug_id}] Xen 4.17.2 crashes on boot\r\n"
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
    ingest(settings, store, tmp_path, command_mail(bug_id, sender="mallory@evil.example",
                                                   message_id="<forged@evil.example>"))
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
