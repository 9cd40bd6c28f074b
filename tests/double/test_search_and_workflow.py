"""Search parameters beyond the contract, and the configurable status workflow."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.bugzilla_double import BugzillaDouble
from tests.bugzilla_double.client import admin, user


@pytest.fixture
def seeded(bugzilla_double: BugzillaDouble) -> BugzillaDouble:
    bugzilla_double.create_user("alice@citrix.com")
    bugzilla_double.create_user("eve@gmail.com")
    bugzilla_double.set_clock("2030-01-01T00:00:00Z")
    bugzilla_double.seed_bugs([
        {"summary": "xenstored leaks memory", "creator": "alice@citrix.com",
         "component": "Tools", "keywords": ["regression"], "whiteboard": "triage:done",
         "cc": ["eve@gmail.com"], "creation_time": "2029-12-01T00:00:00Z",
         "last_change_time": "2029-12-20T00:00:00Z"},
        {"summary": "xl crashes on migrate", "creator": "eve@gmail.com", "status": "UNCONFIRMED",
         "whiteboard": "triage:needinfo missing-logs", "component": "Tools",
         "comments": ["full log: panic in libxl"],
         "flags": [{"name": "needinfo", "status": "?", "requestee": "eve@gmail.com"}]},
        {"summary": "Unikraft build fails", "creator": "eve@gmail.com", "component": "Unikraft",
         "status": "RESOLVED", "resolution": "FIXED", "keywords": ["patch", "regression"]},
    ])
    return bugzilla_double


def _ids(double: BugzillaDouble, **params: object) -> list[int]:
    r = admin(double).get("bug", include_fields="id", **params)
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()["bugs"]]


def test_simple_parameters(seeded: BugzillaDouble) -> None:
    assert _ids(seeded, component="Tools") == [1, 2]
    assert _ids(seeded, creator="eve@gmail.com") == [2, 3]
    assert _ids(seeded, summary="xl") == [2]  # summary is a substring match
    assert _ids(seeded, whiteboard="needinfo") == [2]
    assert _ids(seeded, cc="eve@gmail.com") == [1]
    assert _ids(seeded, status=["RESOLVED", "UNCONFIRMED"]) == [2, 3]
    assert _ids(seeded, resolution="FIXED") == [3]
    assert _ids(seeded, last_change_time="2029-12-31T00:00:00Z") == [2, 3]
    assert _ids(seeded, creation_time="2029-12-15") == [2, 3]
    assert _ids(seeded, order="bug_id DESC", limit=2) == [3, 2]


def test_keywords_and_advanced_criteria(seeded: BugzillaDouble) -> None:
    assert _ids(seeded, keywords="regression") == [1, 3]
    assert _ids(seeded, keywords="patch regression", keywords_type="allwords") == [3]
    assert _ids(seeded, keywords="patch needs-triage", keywords_type="anywords") == [3]
    assert _ids(seeded, f1="reporter", o1="substring", v1="@gmail.com") == [2, 3]
    assert _ids(seeded, f1="reporter", o1="substring", v1="@gmail.com", n1="1") == [1]
    assert _ids(seeded, f1="flagtypes.name", o1="substring", v1="needinfo?") == [2]
    assert _ids(seeded, f1="requestees.login_name", o1="equals", v1="eve@gmail.com") == [2]
    assert _ids(seeded, f1="longdesc", o1="substring", v1="panic in libxl") == [2]
    assert _ids(seeded, f1="keywords", o1="nowords", v1="patch") == [1, 2]
    assert _ids(seeded, query_format="advanced", **{"field0-0-0": "status_whiteboard",
                                                     "type0-0-0": "substring",
                                                     "value0-0-0": "triage:"}) == [1, 2]


def test_quicksearch(seeded: BugzillaDouble) -> None:
    assert _ids(seeded, quicksearch="xl") == [2]
    assert _ids(seeded, quicksearch="regression") == [1]  # open bugs only by default
    assert _ids(seeded, quicksearch="ALL regression") == [1, 3]
    assert _ids(seeded, quicksearch="comp:Unikraft ALL") == [3]
    assert _ids(seeded, quicksearch="2") == [2]


def test_search_errors(seeded: BugzillaDouble) -> None:
    rest = admin(seeded)
    r = rest.get("bug", last_change_time="someday")
    assert (r.status_code, r.json()["code"]) == (400, 56)
    r = rest.get("bug", f1="bug_status", o1="sounds_like", v1="x")
    assert r.status_code == 400


def test_old_workflow(make_bugzilla_double: Callable[..., BugzillaDouble]) -> None:
    double = make_bugzilla_double(workflow="old", resolutions=("FIXED", "INCOMPLETE"))
    rest = admin(double)
    bug_id = rest.new_bug()
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["status"] == "NEW"
    r = rest.put(f"bug/{bug_id}", {"status": "CONFIRMED"})
    assert (r.status_code, r.json()["code"]) == (404, 51)
    assert rest.put(f"bug/{bug_id}", {"status": "ASSIGNED"}).status_code == 200
    r = rest.put(f"bug/{bug_id}", {"status": "RESOLVED", "resolution": "INCOMPLETE"})
    assert r.json()["bugs"][0]["changes"]["resolution"] == {"added": "INCOMPLETE",
                                                           "removed": ""}
    r = rest.put(f"bug/{bug_id}", {"status": "REOPENED"})
    assert r.json()["bugs"][0]["changes"]["resolution"] == {"added": "",
                                                           "removed": "INCOMPLETE"}
    statuses = rest.get("field/bug/bug_status").json()["fields"][0]["values"]
    assert [v["name"] for v in statuses] == [None, "UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED",
                                             "RESOLVED", "VERIFIED", "CLOSED"]


def test_default_workflow_rejects_unknown_resolution(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug()
    r = rest.put(f"bug/{bug_id}", {"status": "RESOLVED", "resolution": "INCOMPLETE"})
    assert (r.status_code, r.json()["code"]) == (404, 51)
    r = rest.put(f"bug/{bug_id}", {"status": "RESOLVED", "resolution": "WONTFIX"})
    assert r.status_code == 200
    r = rest.put(f"bug/{bug_id}", {"status": "CONFIRMED"})
    assert r.json()["bugs"][0]["changes"]["resolution"] == {"added": "", "removed": "WONTFIX"}
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["is_open"] is True


def test_flag_grant_and_clear_by_id(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug()
    rest.put(f"bug/{bug_id}", {"flags": [{"name": "needinfo", "status": "?"}]})
    [flag] = rest.get(f"bug/{bug_id}").json()["bugs"][0]["flags"]
    assert "requestee" not in flag
    r = rest.put(f"bug/{bug_id}", {"flags": [{"id": flag["id"], "status": "+"}]})
    assert r.json()["bugs"][0]["changes"]["flagtypes.name"] == {"removed": "needinfo?",
                                                                "added": "needinfo+"}
    r = rest.put(f"bug/{bug_id}", {"flags": [{"id": flag["id"], "status": "X"}]})
    assert r.json()["bugs"][0]["changes"]["flagtypes.name"]["removed"] == "needinfo+"
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["flags"] == []
    r = rest.put(f"bug/{bug_id}", {"flags": [{"id": 12345, "status": "X"}]})
    assert (r.status_code, r.json()["code"]) == (404, 51)


def test_include_fields_on_comments_and_attachments(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug(description="first")
    rest.post(f"bug/{bug_id}/attachment", {"data": "eA==", "file_name": "f.txt",
                                           "summary": "s", "content_type": "text/plain"})
    comments = rest.get(f"bug/{bug_id}/comment", include_fields="id,text").json()
    assert [set(c) for c in comments["bugs"][str(bug_id)]["comments"]] == [{"id", "text"}] * 2
    [att] = rest.get(f"bug/{bug_id}/attachment",
                     exclude_fields="data").json()["bugs"][str(bug_id)]
    assert "data" not in att and att["size"] == 1 and att["file_name"] == "f.txt"


def test_field_permissions_without_editbugs(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    eve = user(bugzilla_double, "eve@example.org")
    mallory = user(bugzilla_double, "mallory@example.org")
    bug_id = eve.new_bug()
    # The reporter may edit her own bug's whiteboard and summary, but not reassign it.
    assert eve.put(f"bug/{bug_id}", {"whiteboard": "mine", "summary": "better"}).ok
    r = eve.put(f"bug/{bug_id}", {"priority": "High"})
    assert (r.status_code, r.json()["code"]) == (401, 115)
    assert "Priority field from --- to High" in r.json()["message"]
    # Someone else may comment, CC himself and set flags, nothing more.
    assert mallory.put(f"bug/{bug_id}", {"comment": {"body": "me too"},
                                         "cc": {"add": ["mallory@example.org"]}}).ok
    r = mallory.put(f"bug/{bug_id}", {"whiteboard": "hijacked"})
    assert (r.status_code, r.json()["code"]) == (401, 115)
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["whiteboard"] == "mine"
    # The failed request left nothing behind (one transaction per request).
    r = mallory.put(f"bug/{bug_id}", {"comment": {"body": "sneaky"}, "summary": "x"})
    assert r.status_code == 401
    assert [c["text"] for c in bugzilla_double.comments(bug_id)][-1] == "me too"
