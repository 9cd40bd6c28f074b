"""Poisoned notifications quarantine one mail each and never block the archive: ids Bugzilla
cannot have (20 digits, negative) are refused by the parser, and an id the tracker rejects is
found by splitting the failed batched read, against the Bugzilla double."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.bugzilla_double.double import BugzillaDouble
from tests.mail import badmail
from tests.mail.test_ingest import counts
from triage.adapters import open_tracker
from triage.adapters.mail import open_archive
from triage.adapters.tracker import TrackerUnavailable
from triage.ingest import Ingestor
from triage.mailparse import parse_mail
from triage.store import Store
from triage.store.tables import MailMessage


def _seed(double: BugzillaDouble, n: int) -> list[int]:
    double.create_user("reporter@example.org", "Reporter")
    return double.seed_bugs([{
        "summary": f"bug {i}", "product": "Xen", "component": "Hypervisor", "version": "4.17",
        "status": "CONFIRMED", "creator": "reporter@example.org", "description": "crash",
    } for i in range(n)])


def test_each_poisoned_mail_is_quarantined_and_the_rest_ingested(
        store: Store, make_settings, make_mbox, bugzilla_double: BugzillaDouble,
        tmp_path: Path) -> None:
    settings = make_settings(f'[bugzilla]\nurl = "{bugzilla_double.url}"\nretries = 0\n')
    good = _seed(bugzilla_double, 6)
    rejected = good.pop()  # it exists, but the tracker answers error 100 for it
    bugzilla_double.reject_ids(rejected)
    mails = [badmail.notification(good[0]), badmail.notification("99999999999999999999"),
             badmail.notification(good[1]), badmail.notification("-5"),
             badmail.notification(good[2]), badmail.notification(rejected),
             *[badmail.notification(b) for b in good[3:]]]
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q",
                        tracker=open_tracker(settings, production=False), chunk_size=500)
    path = make_mbox(mails)
    report = ingestor.run(open_archive(path))
    assert (report.processed, report.quarantined) == (len(good), 3)
    assert counts(store)[2] == sorted(good)  # every good bug queued, no bad one
    # One failed call, then halves: a bounded search, not the whole batch again and again.
    assert report.tracker_calls <= 2 * 4 + 1
    with store.session() as s:
        reasons = {r.message_id: r.reason for r in s.scalars(
            select(MailMessage).where(MailMessage.status == "quarantined"))}
    assert any("not a bug number Bugzilla can have" in r and "999999" in r
               for r in reasons.values())
    assert any("'-5'" in r for r in reasons.values())
    assert reasons[f"<poison-{rejected}-8088@http.127.0.0.1/>"].startswith(
        f"the tracker rejected bug id {rejected}")
    # The next run (or the same archive again) goes past them: nothing new, nothing raised.
    again = ingestor.run(open_archive(path))
    assert again.received == 0 and again.tracker_calls == 0
    again = Ingestor(store, quarantine_dir=tmp_path / "q",
                     tracker=open_tracker(settings, production=False)).run(
        open_archive(make_mbox(mails)))
    assert again.duplicates == len(mails)


def test_a_tracker_outage_is_not_mistaken_for_poison(
        store: Store, make_settings, make_mbox, bugzilla_double: BugzillaDouble,
        tmp_path: Path) -> None:
    settings = make_settings(f'[bugzilla]\nurl = "{bugzilla_double.url}"\nretries = 0\n')
    good = _seed(bugzilla_double, 4)
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q",
                        tracker=open_tracker(settings, production=False))
    bugzilla_double.fail_next(100, status=503)
    path = make_mbox([badmail.notification(b) for b in good])
    with pytest.raises(TrackerUnavailable):
        ingestor.run(open_archive(path))
    assert counts(store)[0] == 0  # nothing stored, nothing quarantined: retried later
    bugzilla_double.clear_faults()
    report = ingestor.run(open_archive(path))
    assert (report.processed, report.quarantined) == (len(good), 0)


def test_control_characters_never_reach_the_stored_message_id() -> None:
    parsed = parse_mail(badmail.control_message_id())
    assert parsed.problem and parsed.synthetic_id
    assert all(0x21 <= ord(c) <= 0x7E for c in parsed.message_id)
