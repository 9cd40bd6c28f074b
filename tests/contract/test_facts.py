"""One test per fact the contract README lists, checked against a fresh double."""

from __future__ import annotations

import bugzilla
import pytest
import requests

from tests.bugzilla_double import BugzillaDouble
from tests.bugzilla_double.client import Rest, admin, user


def test_only_query_parameter_api_keys_authenticate(bugzilla_double: BugzillaDouble) -> None:
    url = bugzilla_double.url
    header = {"X-BUGZILLA-API-KEY": bugzilla_double.admin_api_key}
    # With only the header the request runs anonymously: a write needs a login...
    r = requests.post(url + "bug", json={"product": "Xen"}, headers=header, timeout=5)
    assert (r.status_code, r.json()["code"]) == (401, 410)
    # ...and a read gets the anonymous view (no email, no groups).
    r = requests.get(url + "user", params={"names": "admin@bugzilla.local"}, headers=header,
                     timeout=5)
    assert r.json()["users"] == [{"id": 1, "name": "admin@bugzilla.local",
                                  "real_name": "Bugzilla Admin"}]
    for name in ("Bugzilla_api_key", "api_key"):
        r = requests.get(url + "valid_login", params={
            "login": "admin@bugzilla.local", name: bugzilla_double.admin_api_key}, timeout=5)
        assert r.json() == {"result": True}
    r = requests.get(url + "bug/1", params={"Bugzilla_api_key": "NotAKey"}, timeout=5)
    assert (r.status_code, r.json()["code"]) == (400, 306)


def test_python_bugzilla_picks_the_protocol_from_the_url(bugzilla_double: BugzillaDouble) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any failure: there is no XML-RPC here
        bugzilla.Bugzilla(bugzilla_double.base_url.rstrip("/"),
                          api_key=bugzilla_double.admin_api_key)
    first = bugzilla_double.request_log[0]
    assert (first.method, first.path) == ("POST", "/xmlrpc.cgi")
    bugzilla_double.reset_counts()
    bz = bugzilla.Bugzilla(bugzilla_double.url, api_key=bugzilla_double.admin_api_key)
    assert bz.is_rest()
    assert all(r.path.startswith("/rest/") for r in bugzilla_double.request_log)


def test_getbugs_is_a_search_and_searches_are_capped(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    ids = bugzilla_double.seed_bugs([{"summary": f"b{i}"} for i in range(620)])
    r = rest.get("bug", id=[ids[0], 99999], include_fields="id")
    assert r.json()["bugs"] == [{"id": ids[0]}]
    r = rest.get("bug/99999")
    assert (r.status_code, r.json()["code"]) == (404, 101)
    assert len(rest.get("bug", include_fields="id").json()["bugs"]) == 500
    page = rest.get("bug", include_fields="id", limit=200, offset=500).json()["bugs"]
    assert [b["id"] for b in page] == ids[500:620]


def test_bugzilla_52_statuses(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug()
    for status in ("NEW", "ASSIGNED", "REOPENED"):
        r = rest.put(f"bug/{bug_id}", {"status": status})
        assert (r.status_code, r.json()["code"]) == (404, 51), status
    for status in ("IN_PROGRESS", "CONFIRMED"):
        assert rest.put(f"bug/{bug_id}", {"status": status}).status_code == 200


def _code(r: requests.Response) -> tuple[int, int]:
    return r.status_code, r.json().get("code")


def test_status_codes_are_not_uniform(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    eve = user(bugzilla_double, "eve@example.org")
    base = {"product": "Xen", "component": "Tools", "version": "4.17", "summary": "s",
            "description": "d"}
    assert _code(rest.post("bug", {**base, "version": "9.99"})) == (404, 51)
    assert _code(rest.post("bug", {**base, "component": "Nope"})) == (404, 51)
    assert _code(rest.post("bug", {**base, "product": "Nope"})) == (401, 106)
    assert _code(Rest(bugzilla_double, None).post("bug", base)) == (401, 410)
    bug_id = rest.new_bug()
    assert _code(rest.put(f"bug/{bug_id}", {"status": "BOGUS"})) == (404, 51)
    assert _code(rest.put(f"bug/{bug_id}", {"keywords": {"add": ["nope"]}})) == (404, 51)
    assert _code(rest.put(f"bug/{bug_id}", {"assigned_to": "ghost@x.org"})) == (404, 51)
    assert _code(eve.put(f"bug/{bug_id}", {"assigned_to": "eve@example.org"})) == (401, 115)
    assert _code(eve.put(f"bug/{bug_id}", {"status": "RESOLVED",
                                           "resolution": "INVALID"})) == (400, 123)
    assert rest.post("bug", base).status_code == 200
    assert rest.post(f"bug/{bug_id}/comment", {"comment": "c"}).status_code == 201
    assert rest.post("user", {"email": "new@example.org"}).status_code == 201
    assert rest.post("component", {"product": "Xen", "name": "Docs", "description": "d",
                                   "default_assignee": "admin@bugzilla.local"}).status_code == 201
    assert rest.post(f"bug/{bug_id}/attachment", {
        "data": "eA==", "file_name": "f", "summary": "s",
        "content_type": "text/plain"}).status_code == 201


def test_hardware_and_os_take_bugzilla_values(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    assert _code(rest.post("bug", {"product": "Xen", "component": "Tools", "version": "4.17",
                                   "summary": "s", "platform": "x86_64"})) == (404, 51)
    bug_id = rest.new_bug(platform="PC", op_sys="Linux")
    bug = rest.get(f"bug/{bug_id}").json()["bugs"][0]
    assert (bug["platform"], bug["op_sys"]) == ("PC", "Linux")


def test_needinfo_with_requestee_adds_cc(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.create_user("eve@example.org")
    bug_id = rest.new_bug()
    r = rest.put(f"bug/{bug_id}", {"flags": [{"name": "needinfo", "status": "?",
                                              "requestee": "eve@example.org"}]})
    assert r.json()["bugs"][0]["changes"]["cc"] == {"added": "eve@example.org", "removed": ""}
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["cc"] == ["eve@example.org"]


def test_whiteboard_names(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.create_user("eve@example.org")
    bug_id = user(bugzilla_double, "frank@example.org").new_bug()
    bugzilla_double.advance_clock(1)  # same second as the creation would lose the mail
    rest.put(f"bug/{bug_id}", {"whiteboard": "triage:needinfo missing-logs"})
    assert rest.get("bug", whiteboard="missing", include_fields="id").json()["bugs"] == [
        {"id": bug_id}]
    r = rest.get("bug", f1="status_whiteboard", o1="substring", v1="missing-logs",
                 include_fields="id")
    assert r.json()["bugs"] == [{"id": bug_id}]
    history = rest.get(f"bug/{bug_id}/history").json()["bugs"][0]["history"]
    assert history[0]["changes"][0]["field_name"] == "whiteboard"
    [mail] = [m for m in bugzilla_double.outbox if m["X-Bugzilla-Type"] == "changed"]
    assert mail["X-Bugzilla-Changed-Fields"] == "status_whiteboard"


def test_mail_headers_and_the_changer_gets_no_mail(bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.set_clock("2030-01-01T00:00:00Z")
    frank = user(bugzilla_double, "frank@example.org")
    bug_id = frank.new_bug(summary="Unikraft build fails")
    bugzilla_double.advance_clock(2)
    admin(bugzilla_double).put(f"bug/{bug_id}", {"flags": [
        {"name": "needinfo", "status": "?", "requestee": "frank@example.org"}]})
    mails = bugzilla_double.outbox
    assert [(m["X-Bugzilla-Type"], m["To"]) for m in mails] == [
        ("new", "admin@bugzilla.local"), ("changed", "frank@example.org"),
        ("request", "frank@example.org")]
    new, changed, request = mails
    assert changed["X-Bugzilla-Reason"] == "Reporter CC"
    assert changed["X-Bugzilla-Changed-Fields"] == "cc flagtypes.name"
    assert "X-Bugzilla-Reason" not in request
    assert str(request["Subject"]).startswith(f"needinfo requested: [Bug {bug_id}] ")
    assert str(new["Subject"]).startswith(f"[Bug {bug_id}] New: ")
    for mail in mails:
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["X-Bugzilla-ID"] == str(bug_id)


def test_same_second_updates_lose_a_mail(bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.set_clock("2030-01-01T00:00:00Z")
    rest = admin(bugzilla_double)
    bug_id = user(bugzilla_double, "frank@example.org").new_bug()
    bugzilla_double.advance_clock(3)
    rest.put(f"bug/{bug_id}", {"whiteboard": "a"})
    rest.put(f"bug/{bug_id}", {"comment": {"body": "second change, same second"}})
    assert len([m for m in bugzilla_double.outbox if m["X-Bugzilla-Type"] == "changed"]) == 1
    # What a mail-only consumer missed is still found by last_change_time.
    r = rest.get("bug", last_change_time="2030-01-01T00:00:03Z", include_fields="id")
    assert r.json()["bugs"] == [{"id": bug_id}]
