"""Bad input and faults: each against the Bugzilla double (real HTTP on loopback)."""

from __future__ import annotations

import logging
import socket

import pytest

from tests.bugzilla_double.double import BugzillaDouble
from tests.gateway.conftest import seed
from triage.adapters.bugzilla import BugzillaGateway
from triage.adapters.tracker import (
    AuthenticationError,
    BugNotFound,
    InvalidValue,
    TrackerUnavailable,
)
from triage.config import Settings
from triage.model import BugUpdate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bugzilla_down_is_unavailable_after_retries(make_settings) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{_free_port()}/rest/"
    settings = make_settings(
        f'[bugzilla]\nurl = "{url}"\nretries = 2\nretry_backoff_seconds = 0.01')
    sleeps: list[float] = []
    gateway = BugzillaGateway(settings.bugzilla, "Key0123456789", sleep=sleeps.append)
    with pytest.raises(TrackerUnavailable) as info:
        gateway.get_bugs([1])
    assert "connection failed" in str(info.value)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential back-off


def test_outage_then_recovery(bz_settings: Settings, bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 2)
    bugzilla_double.stop()
    gateway = BugzillaGateway(bz_settings.bugzilla, bugzilla_double.admin_api_key,
                              sleep=lambda s: None)
    with pytest.raises(TrackerUnavailable, match="connection failed"):
        gateway.get_bugs(ids)
    bugzilla_double.start()  # same port: the same gateway reconnects
    assert len(gateway.get_bugs(ids).bugs) == 2


def test_slow_answer_times_out_then_succeeds(bz_settings: Settings,
                                             bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 3)
    bz_settings.bugzilla.timeout_seconds = 0.3
    gateway = BugzillaGateway(bz_settings.bugzilla, bugzilla_double.admin_api_key,
                              sleep=lambda s: None)
    gateway.get_bugs(ids[:1], comments=False)  # connect first
    bugzilla_double.delay_next(1, 1.0)
    before = gateway.requests_made
    batch = gateway.get_bugs(ids, comments=False)
    assert len(batch.bugs) == 3
    assert gateway.requests_made - before == 2  # the slow one (timed out), then the retry


@pytest.mark.parametrize("fault", ["fail", "html", "drop"])
def test_5xx_html_and_dropped_connections_are_retried(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble, fault: str) -> None:
    ids = seed(bugzilla_double, 4)
    gateway.get_bugs(ids[:1], comments=False)
    {"fail": lambda: bugzilla_double.fail_next(2, 500),
     "html": lambda: bugzilla_double.html_next(2, 502),
     "drop": lambda: bugzilla_double.drop_next(2)}[fault]()
    bugzilla_double.reset_counts()
    batch = gateway.get_bugs(ids, comments=True)
    assert len(batch.bugs) == 4 and all(b.comments for b in batch.bugs)
    assert bugzilla_double.request_count() == 4  # 2 failed + bug read + comment read


def test_persistent_html_is_a_clear_unavailable_error(gateway: BugzillaGateway,
                                                      bugzilla_double: BugzillaDouble) -> None:
    ids = seed(bugzilla_double, 1)
    gateway.get_bugs(ids, comments=False)
    bugzilla_double.html_next(10, 200)
    with pytest.raises(TrackerUnavailable, match="not JSON"):
        gateway.get_bugs(ids, comments=False)
    bugzilla_double.clear_faults()


def test_bad_api_key_is_a_clear_error_without_the_key(
        bz_settings: Settings, bugzilla_double: BugzillaDouble,
        caplog: pytest.LogCaptureFixture) -> None:
    key = "SecretBadKey0000000000000000000000000042"
    gateway = BugzillaGateway(bz_settings.bugzilla, key, sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as info:
        gateway.get_bugs([1])
    assert info.value.code == 306
    assert key not in str(info.value) and key not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert key not in caplog.text
    assert "<api-key>" in caplog.text or "Bugzilla_api_key" not in caplog.text


def test_key_is_scrubbed_from_debug_logs_of_good_requests(
        gateway: BugzillaGateway, bugzilla_double: BugzillaDouble,
        caplog: pytest.LogCaptureFixture) -> None:
    ids = seed(bugzilla_double, 1)
    with caplog.at_level(logging.DEBUG):
        gateway.get_bugs(ids)
    assert "GET /rest/bug" in caplog.text  # urllib3 logged the URL...
    assert bugzilla_double.admin_api_key not in caplog.text  # ...without the key


def test_fault_codes_map_to_error_classes(gateway: BugzillaGateway,
                                          bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    with pytest.raises(InvalidValue) as info:
        gateway.update_bug(bug_id, BugUpdate(status="ASSIGNED"))  # not a 5.2 status
    assert info.value.code == 51
    with pytest.raises(InvalidValue):
        gateway.update_bug(bug_id, BugUpdate(keywords_add=("no-such-keyword",)))
    with pytest.raises(BugNotFound) as missing:
        gateway.update_bug(99999, BugUpdate(comment="x"))
    assert missing.value.code == 101


def test_writes_are_not_blindly_retried_after_a_5xx(gateway: BugzillaGateway,
                                                    bugzilla_double: BugzillaDouble) -> None:
    (bug_id,) = seed(bugzilla_double, 1)
    gateway.get_bugs([bug_id])
    bugzilla_double.fail_next(1, 500)
    with pytest.raises(TrackerUnavailable) as info:
        gateway.update_bug(bug_id, BugUpdate(comment="once"))
    assert info.value.retryable and "may or may not" in str(info.value)
    assert bugzilla_double.request_count("PUT") == 1


def test_old_workflow_statuses_come_from_settings(make_bugzilla_double, make_settings  # type: ignore[no-untyped-def]
                                                  ) -> None:
    double = make_bugzilla_double(workflow="old")
    settings = make_settings(
        f'[bugzilla]\nurl = "{double.url}"\n'
        '[bugzilla.workflow]\nconfirmed = "NEW"\nin_progress = "ASSIGNED"\nreopened = "REOPENED"\n'
        'open_statuses = ["UNCONFIRMED", "NEW", "ASSIGNED", "REOPENED"]\n'
        'closed_statuses = ["RESOLVED", "VERIFIED", "CLOSED"]\n')
    (bug_id,) = double.seed_bugs([{"summary": "old", "status": "NEW"}])
    gateway = BugzillaGateway(settings.bugzilla, double.admin_api_key, sleep=lambda s: None)
    wf = settings.bugzilla.workflow
    gateway.update_bug(bug_id, BugUpdate(status=wf.in_progress,
                                         assigned_to=double.admin_login))
    bug = gateway.get_bugs([bug_id]).bugs[0]
    assert bug.status == "ASSIGNED" and bug.is_open


def test_batches_split_on_414_and_isolate_a_bug_without_a_name(
        gateway: BugzillaGateway) -> None:
    from triage.adapters.tracker import TrackerError

    calls: list[int] = []

    def fetch(batch: list[int]) -> dict[int, int]:
        calls.append(len(batch))
        if len(batch) > 3:
            raise TrackerError("Request-URI Too Long", status=414)
        if 5 in batch:
            raise BugNotFound("You are not authorized to access that one.", code=102)
        return {i: i for i in batch}

    gateway.comment_batch_size = 8
    got, missing = gateway._per_bug_batched(list(range(1, 9)), "comment", fetch)
    assert sorted(got) == [1, 2, 3, 4, 6, 7, 8] and missing == [5]
    assert gateway.comment_batch_size == 2 and calls[:3] == [8, 4, 2]
