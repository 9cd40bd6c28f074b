"""Incremental sync against the double: request budgets, overlap, the 1-second boundary."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import OLD_EPOCH, seed
from triage.adapters.bugzilla import BugzillaGateway
from triage.config import Settings
from triage.model import BugUpdate
from triage.store import Store
from triage.store import bugs as bug_repo
from triage.store.checkpoints import get_checkpoint
from triage.store.tables import BugRow, Checkpoint
from triage.sync import CHECKPOINT, UNAVAILABLE_AT_FETCH, SyncProgress, sync_bugs


def _snapshot_rows(store: Store) -> list[tuple[object, ...]]:
    with store.session() as s:
        rows = [(r.id, r.fetched_at, r.last_change_time) for r in s.scalars(select(BugRow))]
        rows += [(c.name, c.updated_at, str(c.value)) for c in s.scalars(select(Checkpoint))]
        return sorted(rows, key=str)


def test_full_then_quiet_incremental_stay_within_the_request_budget(
        any_store: Store, bz_settings: Settings, gateway: BugzillaGateway,
        bugzilla_double: BugzillaDouble) -> None:
    n = 1200
    seed(bugzilla_double, n)
    bugzilla_double.reset_counts()
    progress: list[SyncProgress] = []
    report = sync_bugs(any_store, gateway, bz_settings, progress=progress.append)
    assert report.mode == "full" and report.seen == n and report.stored == n
    assert bugzilla_double.request_count() <= math.ceil(n / 500) + 5
    assert report.requests == bugzilla_double.request_count()
    assert progress[-1] == SyncProgress("fetch", n, n)
    with any_store.session() as s:
        assert bug_repo.count_bugs(s) == n
        assert bug_repo.get_bug(s, 17) is not None
        assert bug_repo.get_bug(s, 17).description == "description 16"  # type: ignore[union-attr]

    before = _snapshot_rows(any_store)
    bugzilla_double.reset_counts()
    quiet = sync_bugs(any_store, gateway, bz_settings)
    assert quiet.mode == "incremental" and quiet.stored == 0 and quiet.fetched == 0
    assert bugzilla_double.request_count() <= 2
    assert bugzilla_double.request_count("PUT") + bugzilla_double.request_count("POST") == 0
    assert _snapshot_rows(any_store) == before  # zero writes to the store, too


def test_incremental_reads_only_what_changed(store: Store, bz_settings: Settings,
                                             gateway: BugzillaGateway,
                                             bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 30)
    sync_bugs(store, gateway, bz_settings)
    # A change made well before the server answers the next search (its Date): settled.
    bugzilla_double.set_clock(OLD_EPOCH + 3600)
    gateway.update_bug(ids[3], BugUpdate(comment="new information: Xen 4.19"))
    report = sync_bugs(store, gateway, bz_settings)
    assert report.mode == "incremental" and report.fetched == 1 and report.stored == 1
    with store.session() as s:
        assert bug_repo.get_bug(s, ids[3]).comments[-1].text == "new information: Xen 4.19"  # type: ignore[union-attr]
    # Running it again finds the same bug in the overlap window and skips it.
    again = sync_bugs(store, gateway, bz_settings)
    assert again.seen >= 1 and again.fetched == 0 and again.unchanged == again.seen


def test_a_second_change_within_the_same_second_is_not_missed(
        store: Store, bz_settings: Settings, gateway: BugzillaGateway,
        bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 3)
    sync_bugs(store, gateway, bz_settings)
    # Freeze the double's clock: both changes below get the very same last_change_time, and the
    # sync in between is answered within that second (as far as the server knows).
    bugzilla_double.set_clock(datetime.now(UTC) + timedelta(seconds=30))
    gateway.update_bug(ids[1], BugUpdate(comment="first"))
    first = sync_bugs(store, gateway, bz_settings)
    assert first.fetched == 1 and ids[1] in first.unsettled
    lct = bugzilla_double.bug(ids[1])["last_change_time"]
    gateway.update_bug(ids[1], BugUpdate(comment="second, same second"))
    assert bugzilla_double.bug(ids[1])["last_change_time"] == lct  # the timestamp did not move
    second = sync_bugs(store, gateway, bz_settings)
    assert second.fetched == 1
    with store.session() as s:
        texts = [c.text for c in bug_repo.get_bug(s, ids[1]).comments]  # type: ignore[union-attr]
    assert texts[-2:] == ["first", "second, same second"]


def test_bug_made_private_or_deleted_between_search_and_fetch_is_recorded(
        store: Store, make_settings, bugzilla_double: BugzillaDouble) -> None:  # type: ignore[no-untyped-def]
    ids = seed(bugzilla_double, 6)
    key = bugzilla_double.create_user("triager@xenproject.org", groups=["editbugs"])
    settings = make_settings(f'[bugzilla]\nurl = "{bugzilla_double.url}"\n'
                             "retry_backoff_seconds = 0.01\n")
    gateway = BugzillaGateway(settings.bugzilla, key, sleep=lambda s: None)

    def vanish(p: SyncProgress) -> None:
        if p.phase == "search" and p.total is not None:  # search finished, fetch not begun
            bugzilla_double.make_private(ids[2])
            bugzilla_double.delete_bug(ids[4])

    report = sync_bugs(store, gateway, settings, progress=vanish)
    assert set(report.unavailable) == {ids[2], ids[4]}
    assert report.stored == 4
    with store.session() as s:
        listed = {b.bug.id: b.unavailable_reason for b in bug_repo.list_bugs(s)}
    assert listed[ids[2]] == UNAVAILABLE_AT_FETCH and listed[ids[4]] == UNAVAILABLE_AT_FETCH
    assert listed[ids[0]] == ""


def test_full_sync_marks_bugs_that_no_longer_show_up(store: Store, bz_settings: Settings,
                                                     gateway: BugzillaGateway,
                                                     bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 4)
    sync_bugs(store, gateway, bz_settings)
    bugzilla_double.delete_bug(ids[0])
    report = sync_bugs(store, gateway, bz_settings, full=True)
    assert report.unavailable == (ids[0],)
    with store.session() as s:
        cp = get_checkpoint(s, CHECKPOINT)
    assert cp is not None and cp["products"] == ["Xen"]
