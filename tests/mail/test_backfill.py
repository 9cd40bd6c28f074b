"""The backfill's batched paths: mail rows without RETURNING, bugs not rewritten, fast JSON.

Each is checked for what it must never do: lose or duplicate a mail after a crash mid-chunk
(SQLite and PostgreSQL), map an event to the wrong message row, or keep a stale bug copy."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.mail.badmail import notification
from tests.mail.conftest import FakeTracker, make_bug
from tests.mail.make_sample_mbox import load_bugs, sample_archive
from tests.mail.test_ingest import Crash, counts, story_mails
from triage.adapters.mail import MailBatch, SourceMessage, open_archive
from triage.adapters.tracker import BugBatch
from triage.ingest import Ingestor, event_from_payload, load_checkpoint
from triage.mailparse import parse_mail
from triage.model import Bug, format_bz_time, to_jsonable
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store.tables import BugRow, MailEventRow, MailMessage


def batch_of(mails: list[bytes], source: str = "imap:bf") -> MailBatch:
    return MailBatch(source, 3, [SourceMessage(i + 1, raw, {"uidvalidity": 3, "last_uid": i + 1})
                                 for i, raw in enumerate(mails)])


@pytest.mark.parametrize("step", ["after-messages", "after-events", "after-queue",
                                  "before-commit"])
def test_crash_mid_chunk_then_restart_stores_each_mail_once(
        any_store: Store, tmp_path: Path, step: str) -> None:
    """Several chunks; the third crashes at ``step``; the restart (same archive, a new
    ingester: a new process) completes it. Each mail once, each event on its own mail."""
    mails = story_mails()
    path = tmp_path / "list.mbox"
    from tests.mail.make_sample_mbox import write_mbox

    write_mbox(path, mails)
    tracker = FakeTracker(known=[101, 102, 103, 104])
    seen = {"chunks": 0}

    def fault(at: str) -> None:
        if at == "before-transaction":
            seen["chunks"] += 1
        if at == step and seen["chunks"] == 3:
            raise Crash(at)

    def ingester(**kw: Any) -> Ingestor:
        return Ingestor(any_store, quarantine_dir=tmp_path / "q", tracker=tracker,
                        chunk_size=4, **kw)

    with pytest.raises(Crash):
        ingester(fault=fault).run(open_archive(path))
    assert counts(any_store)[:2] == (8, 8)  # two chunks committed, nothing of the third
    report = ingester().run(open_archive(path))
    assert report.processed == len(mails) - 8 and report.duplicates == 0
    assert counts(any_store) == (len(mails), len(mails), [101, 102, 103, 104])
    with any_store.session() as s:
        pairs = s.execute(select(MailMessage.message_id, MailEventRow.payload)
                          .join(MailEventRow, MailEventRow.message_id == MailMessage.id)).all()
    assert sorted(mid for mid, _ in pairs) == sorted(parse_mail(m).message_id for m in mails)
    assert all(payload["message_id"] == mid for mid, payload in pairs)  # no event moved


def test_events_land_on_their_own_rows_whatever_the_order(any_store: Store,
                                                          tmp_path: Path) -> None:
    """Rows are inserted without RETURNING and their ids read back by Message-ID: a chunk
    whose Message-IDs sort differently from its order must still pair each event right."""
    mails = sample_archive(load_bugs()[:6])
    mails.reverse()
    ingestor = Ingestor(any_store, quarantine_dir=tmp_path / "q", chunk_size=7)
    report = ingestor.ingest(batch_of(mails))
    assert report.processed + report.quarantined + report.ignored == len(mails)
    with any_store.session() as s:
        rows = s.execute(select(MailMessage.message_id, MailMessage.uid, MailEventRow.payload)
                         .join(MailEventRow, MailEventRow.message_id == MailMessage.id)).all()
    by_uid = {uid: parse_mail(raw).message_id for uid, raw in enumerate(mails, start=1)}
    assert rows and all(by_uid[uid] == mid == payload["message_id"] for mid, uid, payload in rows)
    assert load_checkpoint(any_store, "imap:bf") == {"uidvalidity": 3, "last_uid": len(mails)}


class CountingTracker(FakeTracker):
    """A tracker whose bugs can change between calls (a later chunk sees the new copy)."""

    def __init__(self, known: Sequence[int]) -> None:
        super().__init__(known)
        self.bugs = {i: make_bug(i) for i in known}

    def get_bugs(self, ids: Sequence[int], **_kw: object) -> BugBatch:
        self.calls.append(list(ids))
        return BugBatch(tuple(self.bugs[i] for i in ids if i in self.bugs),
                        tuple(i for i in ids if i not in self.bugs))


def stored(store: Store, bug_id: int) -> tuple[Bug | None, str]:
    with store.session() as s:
        row = s.get(BugRow, bug_id)
        return (bug_repo.get_bug(s, bug_id), row.unavailable_reason if row else "")


def test_bugs_already_written_are_skipped_but_changes_and_marks_are_not(
        any_store: Store, tmp_path: Path) -> None:
    tracker = CountingTracker(known=[101, 102, 103, 104])
    ingestor = Ingestor(any_store, quarantine_dir=tmp_path / "q", tracker=tracker,
                        chunk_size=2)
    first = [notification(bug_id, f"a{bug_id}-{n}") for n in range(2) for bug_id in (101, 102)]
    ingestor.ingest(batch_of(first))
    assert ingestor.written_bugs.skipped == 2  # the second chunk named bugs the first wrote
    # A change at the tracker: the next chunk's copy differs, so it is written.
    later = datetime(2026, 11, 2, tzinfo=UTC)
    tracker.bugs[101] = replace(tracker.bugs[101], status="CONFIRMED", last_change_time=later)
    # A sync marks 102 gone meanwhile; the tracker answers it again: the mark is cleared.
    with any_store.session() as s:
        assert bug_repo.mark_unavailable(s, 102, "private since")
    ingestor.ingest(batch_of([notification(101, "b101"), notification(102, "b102")],
                             source="imap:bf2"))
    assert ingestor.written_bugs.skipped == 2  # neither was skipped this time
    assert stored(any_store, 101)[0] == tracker.bugs[101]
    assert stored(any_store, 102) == (tracker.bugs[102], "")


def test_a_rolled_back_chunk_is_not_remembered_as_written(any_store: Store,
                                                          tmp_path: Path) -> None:
    tracker = CountingTracker(known=[101, 102, 103, 104])
    mails = story_mails()

    def crash(at: str) -> None:
        if at == "before-commit":
            raise Crash(at)

    ingestor = Ingestor(any_store, quarantine_dir=tmp_path / "q", tracker=tracker,
                        chunk_size=100, fault=crash)
    with pytest.raises(Crash):
        ingestor.ingest(batch_of(mails))
    ingestor._fault = lambda _step: None  # the same ingester retries the chunk
    ingestor.ingest(batch_of(mails))
    assert ingestor.written_bugs.skipped == 0
    for bug_id in (101, 102, 103, 104):
        assert stored(any_store, bug_id)[0] == tracker.bugs[bug_id]


def reference_to_jsonable(value: Any) -> Any:
    """The definition to_jsonable had before it was made fast (kept here as the oracle)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: reference_to_jsonable(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return format_bz_time(value)
    if isinstance(value, tuple | list):
        return [reference_to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): reference_to_jsonable(v) for k, v in value.items()}
    return value


def test_fast_to_jsonable_equals_the_reference_on_events_and_bugs() -> None:
    events = [ev for raw in sample_archive(load_bugs()[:10]) for ev in parse_mail(raw).events]
    assert len(events) > 30
    for ev in events:
        payload = to_jsonable(ev)
        assert payload == reference_to_jsonable(ev)
        assert event_from_payload(payload) == ev
    t = datetime(2026, 1, 1, tzinfo=UTC)
    bug = replace(make_bug(7), keywords=("a", "b"), last_change_time=t + timedelta(hours=1))
    assert to_jsonable(bug) == reference_to_jsonable(bug)
    assert to_jsonable({"k": [bug, None, 1.5, True]}) == reference_to_jsonable(
        {"k": [bug, None, 1.5, True]})
    assert to_jsonable(Bug) is Bug  # a class is not serialised as an instance


def test_row_writer_stores_what_core_insert_stores(any_store: Store) -> None:
    """The chunk writer below SQLAlchemy's per-row layer gives the columns the same stored
    values (raw, as the database holds them) as Core's INSERT with the column types."""
    from sqlalchemy import insert, text

    from triage.store import mail as mail_repo

    stamp = datetime(2026, 11, 30, 23, 59, 58, 123456, tzinfo=UTC)
    payload = {"kind": "comment", "message_id": "<a@x>", "subject": "é \"q\"",
               "changed_fields": [{"field": "f", "old": "", "new": "1"}], "bug_id": None}

    def message(mid: str) -> dict[str, Any]:
        return {"message_id": mid, "source": "imap:bf", "uidvalidity": 3, "uid": 7,
                "kind": "comment", "bug_id": 101, "status": "processed", "reason": "",
                "subject": "Ünïcode [Bug 101]", "raw_path": "", "received_at": stamp}

    with any_store.session() as s:
        s.execute(insert(MailMessage.__table__), [message("<core@x>")])
        core_id = s.execute(select(MailMessage.id)
                            .where(MailMessage.message_id == "<core@x>")).scalar_one()
        converted = mail_repo.message_writer(s).convert("received_at", stamp)
        fast = {**message("<fast@x>"), "received_at": converted}
        [fast_id] = mail_repo.insert_messages(s, [fast], converted=("received_at",))
        event = {"kind": "comment", "bug_id": 101, "payload": payload, "created_at": stamp,
                 "consumed_at": None}
        s.execute(insert(MailEventRow.__table__), [{**event, "message_id": core_id}])
        mail_repo.insert_events(s, [{**event, "message_id": fast_id}])  # converted here
    with any_store.session() as s:
        raw_messages = s.execute(text(
            "SELECT message_id, source, uidvalidity, uid, kind, bug_id, status, reason, "
            "subject, raw_path, CAST(received_at AS TEXT) FROM mail_messages "
            "ORDER BY id")).all()
        raw_events = s.execute(text(
            "SELECT message_id, kind, bug_id, CAST(payload AS TEXT), CAST(created_at AS TEXT), "
            "consumed_at FROM mail_events ORDER BY id")).all()
        orm = s.execute(select(MailMessage.received_at, MailEventRow.payload)
                        .join(MailEventRow, MailEventRow.message_id == MailMessage.id)
                        .order_by(MailMessage.id)).all()
    assert len(raw_messages) == 2 and raw_messages[0][1:] == raw_messages[1][1:]
    assert [r[0] for r in raw_messages] == ["<core@x>", "<fast@x>"]
    assert [r[0] for r in raw_events] == [core_id, fast_id]
    assert raw_events[0][1:] == raw_events[1][1:]
    assert orm == [(stamp, payload), (stamp, payload)]


def test_event_payload_is_to_jsonable_of_the_event() -> None:
    """The store's hand-built payload: the same dict, keys in the same order (the same JSON
    text), on the sample archive (commands with sender auth among them), the recorded
    notifications and the test corpus; an unexpected value type takes the generic walk."""
    import json

    from triage.model import MailEventKind
    from triage.store.mail import event_payload

    fixtures = sorted((Path(__file__).parent / "fixtures").rglob("*.eml"))
    mails = [*sample_archive(load_bugs()[:10]), *story_mails(),
             *(p.read_bytes() for p in fixtures)]
    commands = [raw for raw in mails if b"#triage" in raw]
    mails += [b"Authentication-Results: mx.example.org; dkim=pass header.d=example.org; "
              b"spf=fail smtp.mailfrom=example.org\n" + raw for raw in commands]
    events = [ev for raw in mails for ev in parse_mail(raw).events]
    assert {MailEventKind.COMMAND, MailEventKind.FIELD_CHANGE} <= {ev.kind for ev in events}
    assert any(ev.auth is not None and ev.auth.results for ev in events)
    for ev in events:
        assert json.dumps(event_payload(ev)) == json.dumps(reference_to_jsonable(ev))

    class Text(str):
        pass

    odd = replace(events[0], who=Text("x@y"))
    assert json.dumps(event_payload(odd)) == json.dumps(reference_to_jsonable(odd))


def test_driver_level_lookups_answer_what_the_core_queries_answer(any_store: Store) -> None:
    """The ingester's lookups below SQLAlchemy's result layer, on SQLite and PostgreSQL:
    Message-ID dedupe, the bugs' "stored copy is current" check (against ``stored_states``)
    and the queue upsert (against ``queue.enqueue``), across several IN slices."""
    from triage.store import mail as mail_repo
    from triage.store import queue as queue_repo
    from triage.store.chunks import IN_CHUNK
    from triage.store.tables import TriageQueueEntry

    t0 = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)
    n = IN_CHUNK + 7
    bugs = [replace(make_bug(i), last_change_time=t0 + timedelta(seconds=i % 3))
            for i in range(1, n + 1)]
    with any_store.session() as s:
        bug_repo.upsert_bugs(s, bugs, fetched_at=t0)
        assert bug_repo.mark_unavailable(s, 5, "private since")
        mids = [f"<m{i}@x>" for i in range(n)]
        mail_repo.insert_messages(s, [
            {"message_id": mid, "source": "imap:bf", "uidvalidity": 1, "uid": i,
             "kind": "comment", "bug_id": None, "status": "processed", "reason": "",
             "subject": "", "raw_path": "", "received_at": t0} for i, mid in enumerate(mids)])
    with any_store.session() as s:
        asked = [*mids[::2], "<new@x>", "<m1@x >"]
        assert mail_repo.known_message_ids(s, asked) == set(mids[::2])
        assert mail_repo.known_message_ids(s, []) == set()
        # Fetched copies: most as stored, some newer or older, one unknown, one as UTC+1.
        fetched = {b.id: b.last_change_time for b in bugs}
        fetched[7] += timedelta(microseconds=1)
        fetched[8] -= timedelta(seconds=1)
        fetched[9] = fetched[9].astimezone(timezone(timedelta(hours=1)))
        fetched[n + 50] = t0
        states = bug_repo.stored_states(s, list(fetched))
        expected = {i for i, when in fetched.items() if (st := states.get(i)) is not None
                    and not st.unavailable_reason and st.last_change_time == when}
        assert 9 in expected and not {5, 7, 8, n + 50} & expected
        assert mail_repo.current_bug_ids(s, fetched) == expected

    def queue_rows() -> list[tuple[int, str, datetime]]:
        with any_store.session() as s:
            return [tuple(r) for r in s.execute(  # type: ignore[misc]
                select(TriageQueueEntry.bug_id, TriageQueueEntry.reason,
                       TriageQueueEntry.queued_at).order_by(TriageQueueEntry.bug_id))]

    first = {i: f"mail comment <m{i}@x>" for i in range(1, n + 1)}
    again = {i: f"again {i}" for i in range(n - 10, n + 20)}
    results = []
    for enqueue in (queue_repo.enqueue, mail_repo.enqueue):
        with any_store.session() as s:
            s.execute(TriageQueueEntry.__table__.delete())
        for reasons, when in ((first, t0), (again, t0 + timedelta(minutes=5))):
            with any_store.session() as s:
                enqueue(s, reasons, when)
        results.append(queue_rows())
    assert results[0] == results[1] and len(results[0]) == n + 19


@pytest.mark.parametrize("when", [
    datetime(2019, 1, 1, 0, 4, tzinfo=UTC), datetime(2019, 1, 1, 0, 4, 0, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC),
    datetime(2019, 1, 1, 1, 4, tzinfo=timezone(timedelta(hours=1))),
    datetime(2019, 1, 1, 0, 4), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
])
def test_payload_dates_are_format_bz_time(when: datetime) -> None:
    from triage.store.mail import _bz_time

    assert _bz_time(when) == format_bz_time(when)


def test_a_run_freezes_the_start_up_heap_only_while_it_runs(store: Store, tmp_path: Path,
                                                            make_mbox: Any) -> None:
    """The backfill keeps its start-up heap out of full collections during the run and gives
    it back afterwards (also when the run fails); a heap frozen by someone else stays so."""
    import gc

    from triage.adapters.mail.archive import MboxSource

    mbox = make_mbox(story_mails())
    seen: list[int] = []
    ingestor = Ingestor(store, quarantine_dir=tmp_path / "q", chunk_size=5)
    assert gc.get_freeze_count() == 0
    ingestor.run(MboxSource(mbox, batch_size=5), progress=lambda _r: seen.append(
        gc.get_freeze_count()))
    assert seen and all(n > 0 for n in seen) and gc.get_freeze_count() == 0

    def fail(_report: object) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        Ingestor(store, quarantine_dir=tmp_path / "q2").run(
            MboxSource(make_mbox(story_mails()), batch_size=5), progress=fail)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        Ingestor(store, quarantine_dir=tmp_path / "q3").run(MboxSource(mbox, batch_size=5))
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
