"""python-bugzilla 3.3 driving the double over REST, the way the triage adapter will."""

from __future__ import annotations

import bugzilla
import pytest

from tests.bugzilla_double import BugzillaDouble


@pytest.fixture
def bz(bugzilla_double: BugzillaDouble) -> bugzilla.Bugzilla:
    return bugzilla.Bugzilla(bugzilla_double.url, api_key=bugzilla_double.admin_api_key,
                             force_rest=True)


@pytest.fixture
def reporter(bugzilla_double: BugzillaDouble) -> bugzilla.Bugzilla:
    key = bugzilla_double.create_user("eve.hobbyist@gmail.com", "Eve Gmail")
    return bugzilla.Bugzilla(bugzilla_double.url, api_key=key, force_rest=True)


def _file(bz: bugzilla.Bugzilla, summary: str, **extra: object) -> int:
    info = bz.build_createbug(product="Xen", component=extra.pop("component", "Tools"),
                              version="4.17", summary=summary,
                              description=str(extra.pop("description", "details")), **extra)
    return int(bz.createbug(info).id)


def test_connects_with_api_key_over_rest(bz: bugzilla.Bugzilla,
                                         bugzilla_double: BugzillaDouble) -> None:
    assert bz.is_rest()
    assert bz.logged_in
    # Real 5.2 answers "5.2+"; python-bugzilla 3.3 makes that 5.0, as it does with the server.
    assert bz.bz_ver_major == 5
    # The key travels as a query parameter (the only place 5.2 reads it).
    assert all("Bugzilla_api_key" in r.query for r in bugzilla_double.request_log)


def test_createbug_getbug_and_getbugs_drop_missing(bz: bugzilla.Bugzilla,
                                                   reporter: bugzilla.Bugzilla) -> None:
    first = _file(reporter, "xl doesnt work", component="Tools")
    second = _file(reporter, "Unikraft build fails", component="Unikraft")
    bug = bz.getbug(first)
    assert bug.summary == "xl doesnt work"
    assert bug.creator == "eve.hobbyist@gmail.com"
    assert bug.status == "UNCONFIRMED"  # eve cannot confirm
    assert bug.platform == "All" and bug.op_sys == "All"
    bugs = bz.getbugs([first, 99999, second])
    assert [b.id for b in bugs if b is not None] == [first, second]
    with pytest.raises(bugzilla.BugzillaError) as err:
        bz.getbug(99999)
    assert bugzilla.BugzillaError.get_bugzilla_error_code(err.value) == 101


def test_query_with_build_query_and_paging(bz: bugzilla.Bugzilla,
                                           bugzilla_double: BugzillaDouble) -> None:
    ids = bugzilla_double.seed_bugs(
        [{"summary": f"bug {i}", "component": "Tools" if i % 2 else "Hypervisor"}
         for i in range(25)])
    query = bz.build_query(product="Xen", component="Tools", status=["CONFIRMED"],
                           include_fields=["id", "summary", "last_change_time"])
    pages = []
    for offset in range(0, 20, 5):
        query.update(limit=5, offset=offset)
        pages.append([b.id for b in bz.query(query)])
    found = [i for page in pages for i in page]
    assert found == [i for n, i in enumerate(ids) if n % 2]
    assert all(len(p) == 5 for p in pages[:2]) and pages[-1] == []


def test_update_bugs_with_build_update(bz: bugzilla.Bugzilla, reporter: bugzilla.Bugzilla,
                                       bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.create_user("triager@xenproject.org", "Triage Bot", groups=["editbugs"])
    bug_id = _file(reporter, "xl doesnt work", keywords=["regression"])
    bz.update_bugs([bug_id], bz.build_update(
        whiteboard="triage:needinfo", keywords_add=["needs-triage"],
        keywords_remove=["regression"], assigned_to="triager@xenproject.org",
        status="IN_PROGRESS", comment="Claimed",
        flags=[{"name": "needinfo", "status": "?", "requestee": "eve.hobbyist@gmail.com"}]))
    bug = bz.getbug(bug_id)
    assert bug.whiteboard == "triage:needinfo"
    assert bug.keywords == ["needs-triage"]
    assert bug.assigned_to == "triager@xenproject.org"
    assert bug.status == "IN_PROGRESS" and bug.is_confirmed
    assert "eve.hobbyist@gmail.com" in bug.cc  # needinfo adds the requestee to CC
    [flag] = bug.flags
    assert (flag["name"], flag["status"], flag["requestee"]) == (
        "needinfo", "?", "eve.hobbyist@gmail.com")
    bz.update_bugs([bug_id], bz.build_update(keywords_set=["patch", "security"],
                                             status="RESOLVED", resolution="FIXED"))
    bug = bz.getbug(bug_id)
    assert bug.keywords == ["patch", "security"]
    assert (bug.status, bug.resolution, bug.is_open) == ("RESOLVED", "FIXED", False)


def test_comments_history_and_needinfo_clearing(bz: bugzilla.Bugzilla,
                                                reporter: bugzilla.Bugzilla) -> None:
    bug_id = _file(reporter, "xl doesnt work", description="it crashes")
    bz.update_bugs([bug_id], bz.build_update(
        comment="Which Xen version?",
        flags=[{"name": "needinfo", "status": "?", "requestee": "eve.hobbyist@gmail.com"}]))
    reporter.getbug(bug_id).addcomment("Xen 4.17.3")
    reporter.update_flags([bug_id], [{"name": "needinfo", "status": "X"}])
    comments = bz.get_comments([bug_id])["bugs"][str(bug_id)]["comments"]
    assert [(c["count"], c["creator"], c["text"]) for c in comments] == [
        (0, "eve.hobbyist@gmail.com", "it crashes"),
        (1, "admin@bugzilla.local", "Which Xen version?"),
        (2, "eve.hobbyist@gmail.com", "Xen 4.17.3")]
    history = bz.bugs_history_raw([bug_id])["bugs"][0]["history"]
    assert [(h["who"], sorted(c["field_name"] for c in h["changes"])) for h in history] == [
        ("admin@bugzilla.local", ["cc", "flagtypes.name"]),
        ("eve.hobbyist@gmail.com", ["flagtypes.name"])]
    assert history[1]["changes"][0]["removed"] == "needinfo?(eve.hobbyist@gmail.com)"
    assert bz.getbug(bug_id).flags == []


def test_getuser_and_getusers(bz: bugzilla.Bugzilla, bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.create_user("alice.hv@citrix.com", "Alice", groups=["editbugs"])
    bugzilla_double.create_user("frank@example.org")
    alice = bz.getuser("alice.hv@citrix.com")
    assert (alice.email, alice.real_name) == ("alice.hv@citrix.com", "Alice")
    assert "editbugs" in alice.groupnames
    users = bz.getusers(["frank@example.org", "alice.hv@citrix.com"])
    assert sorted(u.email for u in users) == ["alice.hv@citrix.com", "frank@example.org"]
    with pytest.raises(bugzilla.BugzillaError):
        bz.getuser("ghost@example.org")


def test_password_login_gives_a_token_session(bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.create_user("frank@example.org", password="Pw-frank-2026!")
    bz = bugzilla.Bugzilla(bugzilla_double.url, force_rest=True)
    bz.login("frank@example.org", "Pw-frank-2026!")
    bug_id = _file(bz, "Unikraft build fails", component="Unikraft")
    assert bz.getbug(bug_id).creator == "frank@example.org"
    with pytest.raises(bugzilla.BugzillaError):
        bugzilla.Bugzilla(bugzilla_double.url, force_rest=True).login("frank@example.org", "no")
