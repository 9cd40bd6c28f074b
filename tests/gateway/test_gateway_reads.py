"""Batched reads through python-bugzilla against the Bugzilla double."""

from __future__ import annotations

import math

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import seed
from triage.adapters.bugzilla import BugzillaGateway
from triage.model import BugUpdate, FlagChange, NewBug, parse_bz_time


def test_search_pages_with_limit_offset_and_reads_comments_in_batches(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 1203)
    bugzilla_double.reset_counts()
    found = list(gateway.search_changed_since(None, products=["Xen"]))
    assert [b.id for b in found] == ids  # bug_id order, nothing lost across pages
    searches = [r for r in bugzilla_double.request_log if r.path == "/rest/bug"]
    assert len(searches) == math.ceil(1203 / 500)
    assert [r.query.get("offset") for r in searches] == [["0"], ["500"], ["1000"]]
    assert all(r.query.get("limit") == ["500"] for r in searches)
    assert found[0].comments == ()  # searches carry fields only

    before = bugzilla_double.request_count()
    comments, gone = gateway.get_comments(ids)
    assert gone == []
    assert bugzilla_double.request_count() - before == math.ceil(1203 / 2000)
    assert [c.text for c in comments[ids[7]]] == ["description 7", "comment 7"]


def test_get_bugs_reports_missing_ids_instead_of_dropping_them(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 5)
    bugzilla_double.delete_bug(ids[2])
    batch = gateway.get_bugs([*ids, 99999], comments=True, history=True)
    assert sorted(b.id for b in batch.bugs) == sorted(set(ids) - {ids[2]})
    assert set(batch.missing) == {ids[2], 99999}
    assert all(b.description.startswith("description") for b in batch.bugs)


def test_unicode_and_one_megabyte_comment_round_trip(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    # (Bugzilla strips trailing white space from comments, so the text ends without one.)
    text = "Größe ✓ — 日本語 — emoji 🐛\n" + "\n".join(["(XEN) log ünïcödé 0123456789"] * 35000)
    assert len(text.encode()) > 1_000_000
    gateway.update_bug(bug_id, BugUpdate(comment=text))
    bug = gateway.get_bugs([bug_id]).bugs[0]
    assert bug.comments[-1].text == text
    assert bugzilla_double.comments(bug_id)[-1]["text"] == text


def test_history_and_whiteboard_search_and_groups(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 3)
    gateway.update_bug(ids[1], BugUpdate(whiteboard_add=("ci:sig=abc123",),
                                         keywords_add=("regression",)))
    assert [b.id for b in gateway.search_whiteboard("ci:sig=abc123")] == [ids[1]]
    bug = gateway.get_bugs([ids[1]], history=True).bugs[0]
    fields = {c.field_name for h in bug.history for c in h.changes}
    assert "keywords" in fields
    assert "editbugs" in gateway.user_groups(bugzilla_double.admin_login)
    assert gateway.user_groups("nobody@nowhere.invalid") == ()


def test_create_bug_returns_the_new_id(gateway: BugzillaGateway,
                                       bugzilla_double: BugzillaDouble) -> None:
    new_id = gateway.create_bug(NewBug(product="Xen", component="Tools", summary="filed",
                                       description="by the gateway", version="4.19",
                                       keywords=("regression",), whiteboard="[ci:sig=1]"))
    stored = bugzilla_double.bug(new_id)
    assert stored["summary"] == "filed" and stored["whiteboard"] == "[ci:sig=1]"
    assert stored["keywords"] == ["regression"]


def test_search_since_is_inclusive_and_open_only_uses_bugzillas_is_open(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    ids = bugzilla_double.seed_bugs([
        {"summary": "a", "status": "CONFIRMED", "last_change_time": "2026-01-01T00:00:10Z"},
        {"summary": "b", "status": "RESOLVED", "resolution": "FIXED",
         "last_change_time": "2026-01-01T00:00:20Z"},
        {"summary": "c", "status": "IN_PROGRESS", "last_change_time": "2026-01-01T00:00:30Z"}])
    since = parse_bz_time("2026-01-01T00:00:20Z")
    assert [b.id for b in gateway.search_changed_since(since)] == ids[1:]
    assert [b.id for b in gateway.search_changed_since(None, open_only=True)] == [ids[0], ids[2]]
    assert [b.is_open for b in gateway.search_changed_since(None)] == [True, False, True]


def test_flag_clear_by_name_and_whiteboard_free_text(gateway: BugzillaGateway,
                                                     bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1, whiteboard="keep this [xt:needinfo]")
    bugzilla_double.create_user("eve@example.org")
    gateway.update_bug(bug_id, BugUpdate(flags=(FlagChange("needinfo", "?", "eve@example.org"),)))
    assert bugzilla_double.bug(bug_id)["flags"][0]["requestee"] == "eve@example.org"
    assert "eve@example.org" in bugzilla_double.bug(bug_id)["cc"]
    gateway.update_bug(bug_id, BugUpdate(flags=(FlagChange("needinfo", "X"),),
                                         whiteboard_remove=("xt:needinfo",),
                                         whiteboard_add=("xt:answered",)))
    after = bugzilla_double.bug(bug_id)
    assert after["flags"] == [] and after["whiteboard"] == "keep this [xt:answered]"


def test_attachment_metadata_of_many_bugs_in_one_request_without_data(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble) -> None:
    from tests.bugzilla_double.client import admin

    ids = seed(bugzilla_double, 6)
    rest = admin(bugzilla_double)
    for n, bug_id in enumerate(ids[:4]):
        r = rest.post(f"bug/{bug_id}/attachment", {
            "data": "KFhFTikgbGluZSAxCihYRU4pIGxpbmUgMgo=", "file_name": f"xl-dmesg-{n}.txt",
            "summary": f"xl dmesg {n}", "content_type": "text/plain"})
        assert r.status_code == 201, r.text
    rest.post(f"bug/{ids[0]}/attachment", {"data": "eA==", "file_name": "fix.patch",
                                           "summary": "a fix", "content_type": "text/plain",
                                           "is_patch": True})
    bugzilla_double.reset_counts()
    got, gone = gateway.get_attachments(ids)
    assert gone == []
    calls = [r for r in bugzilla_double.request_log if r.path.endswith("/attachment")]
    assert len(calls) == 1  # one request for the whole batch, not one per bug
    assert calls[0].query.get("exclude_fields") == ["data"]  # metadata only
    assert sorted(int(i) for i in calls[0].query["ids"]) == sorted(ids[1:])
    assert [a.file_name for a in got[ids[0]]] == ["xl-dmesg-0.txt", "fix.patch"]
    assert got[ids[0]][1].is_patch and not got[ids[0]][0].is_patch
    assert got[ids[3]][0].summary == "xl dmesg 3" and got[ids[3]][0].content_type == "text/plain"
    assert got[ids[5]] == ()
    batch = gateway.get_bugs(ids, attachments=True)
    by_id = {b.id: b for b in batch.bugs}
    assert [a.file_name for a in by_id[ids[2]].attachments] == ["xl-dmesg-2.txt"]
