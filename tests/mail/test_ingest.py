"""The exactly-once pipeline: transactions, checkpoints, dedupe, crashes, quarantine."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.mail import badmail
from tests.mail.conftest import FakeTracker, contract_mail
from tests.mail.make_sample_mbox import FALLBACK_BUGS, bug_story, claim_mail, sample_archive
from triage.adapters.mail import MailBatch, SourceMessage, open_archive
from triage.ingest import load_checkpoint, mark_events_consumed, pending_events
from triage.model import MailEventKind
from triage.store import Store
from triage.store.tables import BugRow, MailEventRow, MailMessage, TriageQueueEntry


class Crash(Exception):
    pass


def counts(store: Store) -> tuple[int, int, list[int]]:
    with store.session() as s:
        messages = s.scalar(select(func.count()).select_from(MailMessage))
        events = s.scalar(select(func.count()).select_from(MailEventRow))
        queue = sorted(s.scalars(select(TriageQueueEntry.bug_id)))
    return messages or 0, events or 0, queue


def story_mails(n_bugs: int = 4) -> list[bytes]:
    rng = random.Random(7)
    t = datetime(2026, 10, 1, tzinfo=UTC)
    out: list[bytes] = []
    for i, bug in enumerate(FALLBACK_BUGS[:n_bugs]):
        out.extend(bug_story(bug, t + timedelta(days=i), rng))
    return out


def test_backfill_stores_events_queues_bugs_and_checkpoints(store, make_mbox, make_ingestor):
    mails = story_mails()
    path = make_mbox(mails)
    tracker = FakeTracker(known=[b.id for b in FALLBACK_BUGS])
    report = make_ingestor(tracker=tracker, chunk_size=7).run(open_archive(path))
    assert report.received == report.processed == len(mails) == 19
    assert report.kinds == {"new-bug": 4, "comment": 8, "flag-request": 4, "field-change": 3}
    assert counts(store) == (19, 19, [101, 102, 103, 104])
    # one batched tracker call per chunk, never one per bug or per mail
    assert len(tracker.calls) == report.chunks == 3
    assert all(len(call) == len(set(call)) for call in tracker.calls)
    with store.session() as s:
        assert sorted(s.scalars(select(BugRow.id))) == [101, 102, 103, 104]
    source_id = open_archive(path).source_id
    assert load_checkpoint(store, source_id)["uid"] == 19
    # a second run finds nothing new; appending resumes after the checkpoint
    assert make_ingestor(tracker=tracker).run(open_archive(path)).received == 0
    extra = claim_mail("Jan", "jbeulich@suse.com", FALLBACK_BUGS[2],
                       datetime(2026, 11, 1, tzinfo=UTC), random.Random(1))
    import mailbox
    box = mailbox.mbox(path)
    box.add(extra)
    box.close()
    again = make_ingestor(tracker=tracker).run(open_archive(path))
    assert (again.received, again.kinds["command"]) == (1, 1)


def test_events_round_trip_for_the_engine(store, make_mbox, make_ingestor):
    make_ingestor().run(open_archive(make_mbox([contract_mail("012_"), claim_mail(
        "Roger", "roger.pau@citrix.com", FALLBACK_BUGS[0], datetime(2026, 11, 2, tzinfo=UTC),
        random.Random(2))])))
    with store.session() as s:
        pending = pending_events(s)
        kinds = [e.kind for _id, e in pending]
        assert kinds == [MailEventKind.FIELD_CHANGE, MailEventKind.COMMAND]
        change = pending[0][1]
        assert change.bug_id == 1 and change.comment_text == "Claimed by triage bot"
        assert pending[1][1].commands[0].verb == "claim"
        mark_events_consumed(s, [i for i, _e in pending])
    with store.session() as s:
        assert pending_events(s) == []


@pytest.mark.parametrize("step", ["before-transaction", "after-messages", "after-events",
                                  "after-queue", "before-commit"])
def test_crash_at_any_step_loses_nothing_and_duplicates_nothing(
        store, make_mbox, make_ingestor, step):
    mails = story_mails()
    path = make_mbox(mails)
    crashed = {"done": False}

    def fault(at: str) -> None:
        # crash in the second chunk, once: the first chunk is committed, the second is not
        if at == step and not crashed["done"] and counts(store)[0] > 0:
            crashed["done"] = True
            raise Crash(at)

    with pytest.raises(Crash):
        make_ingestor(chunk_size=5, fault=fault).run(open_archive(path))
    assert counts(store)[0] == 5  # exactly the committed chunk, nothing of the one in flight
    make_ingestor(chunk_size=5).run(open_archive(path))  # the restart
    messages, events, queue = counts(store)
    assert (messages, events) == (len(mails), len(mails))
    assert queue == [101, 102, 103, 104]
    with store.session() as s:
        ids = list(s.scalars(select(MailMessage.message_id)))
        assert len(ids) == len(set(ids))


def test_redelivery_of_the_message_in_flight_is_recognised(store, make_ingestor):
    """IMAP may re-deliver a message whose transaction committed just before the crash: the
    checkpoint says UID 1, the server sends 1 and 2 again."""
    ingestor = make_ingestor()
    one = SourceMessage(1, contract_mail("001_"), {"uidvalidity": 5, "last_uid": 1})
    two = SourceMessage(2, contract_mail("007_"), {"uidvalidity": 5, "last_uid": 2})
    ingestor.ingest(MailBatch("imap:test", 5, [one]))
    report = ingestor.ingest(MailBatch("imap:test", 5, [one, two]))
    assert (report.duplicates, report.processed) == (1, 1)
    assert counts(store)[:2] == (2, 2)
    assert load_checkpoint(store, "imap:test") == {"uidvalidity": 5, "last_uid": 2}


def test_same_mail_twice_in_one_chunk_is_stored_once(store, make_ingestor):
    raw = contract_mail("007_")
    batch = MailBatch("mbox:x", None, [SourceMessage(1, raw, {"uid": 1}),
                                       SourceMessage(2, raw, {"uid": 2})])
    report = make_ingestor().ingest(batch)
    assert (report.processed, report.duplicates) == (1, 1)


def _status(store: Store, message_id: str) -> tuple[str, str, str]:
    with store.session() as s:
        row = s.execute(select(MailMessage.status, MailMessage.reason, MailMessage.raw_path)
                        .where(MailMessage.message_id == message_id)).one()
    return row.status, row.reason, row.raw_path


@pytest.mark.parametrize("case", sorted(badmail.QUARANTINE_CASES))
def test_bad_input_is_quarantined_with_raw_bytes_and_the_rest_goes_on(
        store, make_mbox, make_ingestor, case):
    build, reason = badmail.QUARANTINE_CASES[case]
    bad = build()
    path = make_mbox([contract_mail("001_"), bad, contract_mail("007_")])
    report = make_ingestor().run(open_archive(path))
    assert (report.processed, report.quarantined) == (2, 1)
    with store.session() as s:
        row = s.execute(select(MailMessage).where(MailMessage.status == "quarantined")).scalar_one()
        assert reason in row.reason
        kept = Path(row.raw_path).read_bytes()
    assert kept.rstrip(b"\n") == bad.rstrip(b"\n")  # byte for byte, as the archive had it
    assert counts(store)[1] == 2  # no event from the bad mail


def test_50_mb_attachment_is_quarantined_without_loading_it_into_events(
        store, make_ingestor, tmp_path):
    raw = badmail.huge_attachment()
    assert len(raw) > 50 * 1024 * 1024 - 100
    report = make_ingestor().ingest(MailBatch("imap:t", 1, [SourceMessage(1, raw, {"u": 1})]))
    assert report.quarantined == 1
    status, reason, raw_path = _status(store, "<huge-attachment@example.org>")
    assert status == "quarantined" and "message too large" in reason
    assert Path(raw_path).stat().st_size == len(raw)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(MailEventRow)) == 0


def test_forged_notification_for_a_missing_bug_is_quarantined(store, make_ingestor):
    tracker = FakeTracker(known=[1, 2])
    batch = MailBatch("imap:t", 1, [
        SourceMessage(1, contract_mail("001_"), {"last_uid": 1}),
        SourceMessage(2, badmail.forged_bug(999999), {"last_uid": 2}),
    ])
    report = make_ingestor(tracker=tracker).ingest(batch)
    assert tracker.calls == [[1, 999999]]  # both ids in one call
    assert (report.processed, report.quarantined) == (1, 1)
    status, reason, raw_path = _status(store, "<forged-8088@http.127.0.0.1/>")
    assert status == "quarantined" and "bug 999999" in reason and Path(raw_path).exists()
    assert counts(store)[2] == [1]  # the forged id is not queued


@pytest.mark.parametrize("build", [badmail.loop_by_header, badmail.loop_by_sender])
def test_mail_loop_is_ignored(store, make_ingestor, build):
    report = make_ingestor().ingest(MailBatch("imap:t", 1, [SourceMessage(1, build(), {})]))
    assert report.ignored == 1
    mid = "<loop-header@xenproject.org>" if build is badmail.loop_by_header \
        else "<loop-sender@xenproject.org>"
    assert _status(store, mid)[:2] == ("ignored", "own mail (loop)")
    assert counts(store)[1:] == (0, [])


def test_sample_archive_ingests_cleanly(store, make_mbox, make_ingestor):
    raws = sample_archive(FALLBACK_BUGS)
    report = make_ingestor().run(open_archive(make_mbox(raws)))
    assert report.quarantined == 0 and report.processed == len(raws)
    assert report.kinds["command"] == 2 and report.kinds["list-mail"] == 2


def test_exactly_once_on_sqlite_and_postgresql(any_store: Store, tmp_path: Path) -> None:
    """Same pipeline, both back ends (bulk RETURNING inserts and upserts differ by dialect)."""
    from triage.ingest import Ingestor

    tracker = FakeTracker(known=[101, 102, 103, 104])
    mails = story_mails()
    batch = MailBatch("imap:pg", 9, [SourceMessage(i + 1, raw, {"uidvalidity": 9,
                                                               "last_uid": i + 1})
                                     for i, raw in enumerate(mails)])

    def crash(step: str) -> None:
        if step == "after-events":
            raise Crash(step)

    with pytest.raises(Crash):
        Ingestor(any_store, quarantine_dir=tmp_path / "q", tracker=tracker, chunk_size=50,
                 fault=crash).ingest(batch)
    assert counts(any_store)[:2] == (0, 0)
    ingestor = Ingestor(any_store, quarantine_dir=tmp_path / "q", tracker=tracker, chunk_size=8)
    first = ingestor.ingest(batch)
    second = ingestor.ingest(batch)
    assert (first.processed, second.duplicates) == (len(mails), len(mails))
    assert counts(any_store) == (len(mails), len(mails), [101, 102, 103, 104])
    assert load_checkpoint(any_store, "imap:pg") == {"uidvalidity": 9, "last_uid": len(mails)}
