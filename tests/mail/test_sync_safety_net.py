"""Mail is a trigger, never the only source: what a lost notification hid, the sync catches.

Bugzilla sends one mail for two changes of a bug within the same second (recorded against a real
5.2; the double reproduces it). The mail for the first change is ingested before the second
change happens, so the bug cache holds the first state and no mail ever names the second one;
the next incremental sync brings it in.

The catch: the mail path read the bug in the very second of its last change, so its copy has the
same ``last_change_time`` as the final state. The ingest therefore marks such bugs *unsettled* in
the sync's checkpoint (as the sync does for its own reads), and the sync reads them again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete

from tests.bugzilla_double.client import admin, user
from tests.bugzilla_double.double import BugzillaDouble
from triage.adapters import open_tracker
from triage.adapters.mail import MailBatch, SourceMessage
from triage.config import Settings
from triage.engine import TriageEngine
from triage.ingest import Ingestor
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store.tables import TriageQueueEntry
from triage.sync import sync_bugs

LIST = "xen-bugs@lists.xenproject.org"


def _list_mail(double: BugzillaDouble) -> list:
    return [m for m in double.outbox if m["To"] == LIST]


def _deliver(ingestor: Ingestor, double: BugzillaDouble, seen: int) -> int:
    """Ingest the list's mails from index ``seen`` on; returns the new index."""
    mails = _list_mail(double)[seen:]
    batch = MailBatch("imap:list", 1, [
        SourceMessage(seen + i + 1, m.as_bytes(), {"uidvalidity": 1, "last_uid": seen + i + 1})
        for i, m in enumerate(mails)
    ])
    ingestor.ingest(batch)
    return seen + len(mails)


def test_change_whose_mail_was_lost_is_caught_by_the_next_sync(
        store: Store, make_settings, bugzilla_double: BugzillaDouble, tmp_path: Path) -> None:
    settings: Settings = make_settings(
        f'[bugzilla]\nurl = "{bugzilla_double.url}"\nretries = 1\n'
        "retry_backoff_seconds = 0.01\ntimeout_seconds = 5\n")
    tracker = open_tracker(settings, production=False)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q", tracker=tracker, chunk_size=1)
    rest = admin(bugzilla_double)
    bugzilla_double.create_user(LIST, name="Xen bugs list")  # the list watches every bug (CC)
    reporter = user(bugzilla_double, "eve.hobbyist@gmail.com")
    # Frozen near the real time: the double's HTTP Date header is the real clock, and the
    # "read in the same second as the last change" test compares the two.
    bugzilla_double.set_clock(datetime.now(UTC).replace(microsecond=0), frozen=True)

    bug_id = reporter.new_bug(summary="xl segfaults on create", description="xl create crashes",
                              cc=[LIST])
    seen = _deliver(ingestor, bugzilla_double, 0)
    assert seen >= 1
    sync_bugs(store, tracker, settings)  # the sync's checkpoint starts here

    bugzilla_double.advance_clock(60)
    assert rest.put(f"bug/{bug_id}", {"status": "CONFIRMED"}).status_code == 200
    seen = _deliver(ingestor, bugzilla_double, seen)  # the first change's mail arrives in time
    mails_before = len(_list_mail(bugzilla_double))
    # ...and in the same second a second change, whose notification Bugzilla drops
    assert rest.put(f"bug/{bug_id}", {"whiteboard": "[triage:complete]"}).status_code == 200
    assert len(_list_mail(bugzilla_double)) == mails_before, "this notification must be lost"
    _deliver(ingestor, bugzilla_double, seen)
    with store.session() as s:
        cached = bug_repo.get_bug(s, bug_id)
    assert cached is not None and cached.status == "CONFIRMED"
    assert "triage:complete" not in cached.whiteboard  # mail alone missed it

    with store.session() as s:  # a triage run handled what the mail queued
        s.execute(delete(TriageQueueEntry))

    bugzilla_double.advance_clock(120)
    report = sync_bugs(store, tracker, settings)
    assert report.mode == "incremental"
    with store.session() as s:
        synced = bug_repo.get_bug(s, bug_id)
    assert synced is not None and "triage:complete" in synced.whiteboard
    assert synced.status == "CONFIRMED"
    # ...and the sync queued it for the rules, so the change is triaged although no mail came.
    with store.session() as s:
        entry = s.get(TriageQueueEntry, bug_id)
    assert entry is not None and "sync" in entry.reason
    run = TriageEngine(settings, store, None, refresh=False).run()
    assert bug_id in {p.bug.id for p in run.plan.bugs}
    assert run.selection == "queued bugs"
