"""Notification mails: recipients, kinds, threading, the same-second loss, the mbox copy."""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from tests.bugzilla_double import BugzillaDouble
from tests.bugzilla_double.client import Rest, admin, user


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _setup(double: BugzillaDouble) -> tuple[int, Rest, Rest]:
    double.set_clock("2030-03-02T10:00:00Z")
    eve = user(double, "eve@example.org")
    rest = admin(double)
    bug_id = eve.new_bug(summary="xl doesnt work", cc=[])
    return bug_id, eve, rest


def test_new_bug_mail_goes_to_assignee_not_reporter(bugzilla_double: BugzillaDouble) -> None:
    bug_id, _, _ = _setup(bugzilla_double)
    [mail] = bugzilla_double.outbox
    assert mail["To"] == "admin@bugzilla.local"
    assert mail["Subject"] == f"[Bug {bug_id}] New: xl doesnt work"
    assert mail["X-Bugzilla-Type"] == "new"
    assert mail["X-Bugzilla-Reason"] == "AssignedTo"
    assert mail["X-Bugzilla-Who"] == "eve@example.org"
    assert mail["Message-ID"] == f"<bug-{bug_id}-1-{bugzilla_double.port}@http.127.0.0.1/>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"] == "Sat, 02 Mar 2030 10:00:00 +0000"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]


def test_change_mail_threads_under_the_new_bug_mail(bugzilla_double: BugzillaDouble) -> None:
    bug_id, _, rest = _setup(bugzilla_double)
    bugzilla_double.advance_clock(5)
    rest.put(f"bug/{bug_id}", {"status": "CONFIRMED", "whiteboard": "triage:ok",
                               "comment": {"body": "Confirmed."}})
    [mail] = bugzilla_double.mails_for(bug_id)[1:]
    assert mail["To"] == "eve@example.org"  # the admin made the change: no mail to admin
    assert mail["Subject"] == f"[Bug {bug_id}] xl doesnt work"
    assert mail["X-Bugzilla-Type"] == "changed"
    assert mail["X-Bugzilla-Reason"] == "Reporter"
    assert mail["X-Bugzilla-Changed-Fields"] == "everconfirmed bug_status status_whiteboard"
    root = f"<bug-{bug_id}-2-{bugzilla_double.port}@http.127.0.0.1/>"
    assert mail["In-Reply-To"] == root and mail["References"] == root
    assert mail["Message-ID"] != root
    text = _plain(mail)
    assert "         Status|UNCONFIRMED                 |CONFIRMED" in text
    assert "--- Comment #1 from Bugzilla Admin <admin@bugzilla.local> ---\nConfirmed." in text


def test_needinfo_request_and_cancel_mails(bugzilla_double: BugzillaDouble) -> None:
    bug_id, eve, rest = _setup(bugzilla_double)
    bugzilla_double.clear_outbox()
    bugzilla_double.advance_clock(5)
    rest.put(f"bug/{bug_id}", {"flags": [
        {"name": "needinfo", "status": "?", "requestee": "eve@example.org"}]})
    kinds = sorted((m["X-Bugzilla-Type"], m["To"], str(m["Subject"]))
                   for m in bugzilla_double.outbox)
    assert kinds == [("changed", "eve@example.org", f"[Bug {bug_id}] xl doesnt work"),
                     ("request", "eve@example.org",
                      f"needinfo requested: [Bug {bug_id}] xl doesnt work")]
    request = next(m for m in bugzilla_double.outbox if m["X-Bugzilla-Type"] == "request")
    assert "X-Bugzilla-Reason" not in request and request["X-Bugzilla-Flags"] == "needinfo?"
    bugzilla_double.clear_outbox()
    bugzilla_double.advance_clock(5)
    eve.put(f"bug/{bug_id}", {"flags": [{"name": "needinfo", "status": "X"}]})
    subjects = sorted(str(m["Subject"]) for m in bugzilla_double.outbox)
    assert subjects == [f"[Bug {bug_id}] xl doesnt work",
                        f"needinfo canceled: [Bug {bug_id}] xl doesnt work"]
    assert {m["To"] for m in bugzilla_double.outbox} == {"admin@bugzilla.local"}


def test_two_changes_in_one_second_send_one_mail(bugzilla_double: BugzillaDouble) -> None:
    bug_id, _, rest = _setup(bugzilla_double)
    bugzilla_double.advance_clock(5)
    rest.put(f"bug/{bug_id}", {"whiteboard": "one"})
    rest.put(f"bug/{bug_id}", {"whiteboard": "two"})
    changed = [m for m in bugzilla_double.mails_for(bug_id) if m["X-Bugzilla-Type"] == "changed"]
    assert len(changed) == 1
    # The bug itself has both changes: only the mail was lost (sync must catch up).
    assert [h["added"] for h in bugzilla_double.history(bug_id)] == ["one", "two"]
    bugzilla_double.advance_clock(1)
    rest.put(f"bug/{bug_id}", {"whiteboard": "three"})
    assert len([m for m in bugzilla_double.mails_for(bug_id)
                if m["X-Bugzilla-Type"] == "changed"]) == 2


def test_same_second_loss_can_be_turned_off(
        make_bugzilla_double: Callable[..., BugzillaDouble], tmp_path: Path) -> None:
    mbox_path = tmp_path / "bugs.mbox"
    double = make_bugzilla_double(lose_same_second_mail=False, mbox_path=mbox_path)
    bug_id, _, rest = _setup(double)
    rest.put(f"bug/{bug_id}", {"whiteboard": "one"})  # same second as the creation
    rest.put(f"bug/{bug_id}", {"whiteboard": "two"})
    assert len(double.mails_for(bug_id)) == 3
    stored = list(mailbox.mbox(str(mbox_path)))
    assert [m["X-Bugzilla-Type"] for m in stored] == ["new", "changed", "changed"]
    assert stored[2]["X-Bugzilla-Changed-Fields"] == "status_whiteboard"


def test_private_bug_mails_only_those_who_may_see(bugzilla_double: BugzillaDouble) -> None:
    bug_id, _, rest = _setup(bugzilla_double)
    bugzilla_double.create_user("bob@example.org")
    bugzilla_double.make_private(bug_id)
    bugzilla_double.clear_outbox()
    bugzilla_double.advance_clock(2)
    rest.put(f"bug/{bug_id}", {"assigned_to": "bob@example.org"})
    # bob (new assignee) may not see the private bug; the reporter may.
    assert [m["To"] for m in bugzilla_double.outbox] == ["eve@example.org"]


def test_attachment_mail(bugzilla_double: BugzillaDouble) -> None:
    bug_id, _, rest = _setup(bugzilla_double)
    bugzilla_double.advance_clock(2)
    r = rest.post(f"bug/{bug_id}/attachment", {
        "ids": [bug_id], "data": "aGVsbG8K", "file_name": "log.txt", "summary": "boot log",
        "content_type": "text/plain"})
    assert r.status_code == 201
    [mail] = bugzilla_double.mails_for(bug_id)[1:]
    assert mail["X-Bugzilla-Changed-Fields"] == "attachments.created"
    text = _plain(mail)
    assert f"Created attachment {r.json()['ids'][0]}\n  --> {bugzilla_double.base_url}" in text
