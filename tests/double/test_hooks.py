"""The test hooks other areas rely on: faults, clock, outage, visibility, counting, seeding."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from tests.bugzilla_double import BugzillaDouble
from tests.bugzilla_double.client import admin, user


def test_request_log_and_counts(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug()
    rest.get(f"bug/{bug_id}")
    rest.get("bug", id=bug_id)
    rest.put(f"bug/{bug_id}", {"whiteboard": "x"})
    assert bugzilla_double.request_count() == 4
    assert bugzilla_double.request_count("GET") == 2
    assert bugzilla_double.request_count(path_prefix="/rest/bug") == 4
    assert bugzilla_double.request_count("PUT", "bug/") == 1
    assert bugzilla_double.request_log[-1].body == {"whiteboard": "x"}
    assert bugzilla_double.request_log[-1].status == 200
    bugzilla_double.reset_counts()
    assert bugzilla_double.request_count() == 0


def test_fail_next_then_recovers(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.fail_next(2, status=503)
    assert [rest.get("version").status_code for _ in range(3)] == [503, 503, 200]
    bugzilla_double.fail_next()
    r = rest.get("version")
    assert r.status_code == 500 and r.json()["error"] is True


def test_html_next_serves_an_html_page(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.html_next(1, status=200)
    r = rest.get("bug", id=1)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        r.json()
    assert rest.get("version").json() == {"version": "5.2+"}


def test_delay_next_delays_only_that_request(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.delay_next(1, 0.6)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(rest.get, "version")
        time.sleep(0.1)
        started = time.monotonic()
        fast = admin(bugzilla_double).get("version")  # served while the other one waits
        fast_elapsed = time.monotonic() - started
        assert fast.status_code == 200 and fast_elapsed < 0.4
        assert slow.result().status_code == 200


def test_drop_next_closes_the_connection(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.drop_next()
    with pytest.raises(requests.ConnectionError):
        rest.get("version")
    assert rest.get("version").status_code == 200
    assert bugzilla_double.request_log[0].status is None


def test_stop_and_start_on_the_same_port(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug(summary="survives the outage")
    url = bugzilla_double.url
    bugzilla_double.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "version", timeout=2)
    bugzilla_double.start()
    assert bugzilla_double.url == url
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["summary"] == "survives the outage"


def test_make_private_hides_the_bug(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    eve = user(bugzilla_double, "eve@example.org")
    mallory = user(bugzilla_double, "mallory@example.org")
    bug_id = eve.new_bug(summary="secret")
    other = rest.new_bug(summary="public")
    bugzilla_double.make_private(bug_id)
    r = mallory.get(f"bug/{bug_id}")
    assert (r.status_code, r.json()["code"]) == (401, 102)
    assert [b["id"] for b in mallory.get("bug", product="Xen").json()["bugs"]] == [other]
    anonymous = requests.get(bugzilla_double.url + f"bug/{bug_id}", timeout=5)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 102)
    assert eve.get(f"bug/{bug_id}").status_code == 200  # the reporter still sees it
    assert rest.get(f"bug/{bug_id}").json()["bugs"][0]["groups"] == ["private"]
    r = mallory.put(f"bug/{bug_id}", {"whiteboard": "x"})
    assert (r.status_code, r.json()["code"]) == (401, 102)


def test_delete_bug(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bug_id = rest.new_bug()
    bugzilla_double.delete_bug(bug_id)
    r = rest.get(f"bug/{bug_id}")
    assert (r.status_code, r.json()["code"]) == (404, 101)
    assert rest.get("bug", id=bug_id).json() == {"bugs": []}


def test_clock_drives_every_timestamp(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    bugzilla_double.set_clock("2030-01-06T09:00:00Z")
    bug_id = rest.new_bug()
    bugzilla_double.advance_clock(8 * 86400)
    rest.put(f"bug/{bug_id}", {"comment": {"body": "a week later"}})
    bug = rest.get(f"bug/{bug_id}").json()["bugs"][0]
    assert bug["creation_time"] == "2030-01-06T09:00:00Z"
    assert bug["last_change_time"] == "2030-01-14T09:00:00Z"
    comments = rest.get(f"bug/{bug_id}/comment").json()["bugs"][str(bug_id)]["comments"]
    assert [c["time"] for c in comments] == ["2030-01-06T09:00:00Z", "2030-01-14T09:00:00Z"]
    # Relative searches count from the double's clock, not the machine's.
    assert rest.get("bug", chfieldfrom="-1d", include_fields="id").json()["bugs"] == [
        {"id": bug_id}]
    bugzilla_double.advance_clock(2 * 86400)
    assert rest.get("bug", chfieldfrom="-1d", include_fields="id").json()["bugs"] == []


def test_seed_bugs_is_fast_and_complete(bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.create_user("eve@example.org")
    specs = [{"summary": f"seeded {i}", "component": ("Hypervisor", "Tools", "Unikraft")[i % 3],
              "creator": "eve@example.org", "status": "UNCONFIRMED", "whiteboard": f"w{i % 7}",
              "keywords": ["regression"] if i % 5 == 0 else [],
              "comments": [f"comment {i}", {"text": "admin reply",
                                            "creator": "admin@bugzilla.local"}],
              "flags": [{"name": "needinfo", "status": "?", "requestee": "eve@example.org"}]
              if i % 10 == 0 else []}
             for i in range(5000)]
    started = time.monotonic()
    ids = bugzilla_double.seed_bugs(specs)
    elapsed = time.monotonic() - started
    assert len(ids) == 5000 and ids == list(range(ids[0], ids[0] + 5000))
    assert elapsed < 3.0, f"seeding 5000 bugs took {elapsed:.2f}s"
    rest = admin(bugzilla_double)
    bug = rest.get(f"bug/{ids[10]}").json()["bugs"][0]
    assert bug["flags"][0]["requestee"] == "eve@example.org"
    assert bug["keywords"] == ["regression"]
    assert len(bugzilla_double.comments(ids[10])) == 3


def test_search_of_500_bugs_with_include_fields_is_fast(bugzilla_double: BugzillaDouble) -> None:
    bugzilla_double.seed_bugs([{"summary": f"b{i}", "keywords": ["patch"], "cc": [
        "admin@bugzilla.local"]} for i in range(2000)])
    rest = admin(bugzilla_double)
    fields = "id,summary,status,last_change_time,creator,whiteboard,keywords,flags,cc"
    rest.get("bug", product="Xen", include_fields=fields, limit=1)  # warm the connection
    started = time.monotonic()
    r = rest.get("bug", product="Xen", include_fields=fields)
    elapsed = time.monotonic() - started
    assert len(r.json()["bugs"]) == 500  # Bugzilla's default search limit
    assert elapsed < 0.5, f"500-bug search took {elapsed:.3f}s"
    everything = rest.get("bug", product="Xen", include_fields="id", limit=0).json()["bugs"]
    assert len(everything) == 2000


def test_concurrent_clients(bugzilla_double: BugzillaDouble) -> None:
    rest = admin(bugzilla_double)
    ids = [rest.new_bug(summary=f"c{i}") for i in range(8)]

    def work(n: int) -> int:
        client = admin(bugzilla_double)
        for i in range(5):
            assert client.put(f"bug/{ids[n]}", {"comment": {"body": f"{n}-{i}"}}).ok
            assert client.get("bug", id=ids).status_code == 200
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    assert all(len(bugzilla_double.comments(i)) == 6 for i in ids)
    assert bugzilla_double.internal_errors == []


def test_create_user_returns_a_working_api_key(bugzilla_double: BugzillaDouble) -> None:
    key = bugzilla_double.create_user("bot@xenproject.org", "Bot", groups=["editbugs"])
    r = requests.get(bugzilla_double.url + "user", params={
        "names": "bot@xenproject.org", "Bugzilla_api_key": key}, timeout=5)
    [me] = r.json()["users"]
    assert me["real_name"] == "Bot"
    assert [g["name"] for g in me["groups"]] == ["editbugs"]
    assert bugzilla_double.api_key_for("bot@xenproject.org") == key
