"""The double against the real Bugzilla 5.2 recordings: every call, in order, same answers.

Each recorded request is replayed against a fresh double seeded like the recorded server;
status, Bugzilla error code, field names, JSON types and the stable values (ids, statuses,
change records, messages) must match. Timestamps and random tokens may differ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.bugzilla_double import CONTRACT_INSTALLATION, BugzillaDouble
from tests.contract.mailcompare import compare_mail, load_recorded, sort_key
from tests.contract.replay import REPLAY_START, Replayer, compare, contract_dir, recording_files

FILES = recording_files()
RECORDED_CALLS = 151
# Outside CI a checkout without the recordings skips; under CI their absence fails loudly.
pytestmark = pytest.mark.skipif(
    not FILES and not os.environ.get("CI"),
    reason=f"contract recordings not found in {contract_dir()} (set XENTRIAGE_CONTRACT_DIR)")


def test_recordings_present() -> None:
    assert len(FILES) == RECORDED_CALLS, f"expected {RECORDED_CALLS} recordings in {contract_dir()}"


@pytest.fixture(scope="module")
def replayer() -> Iterator[Replayer]:
    double = BugzillaDouble(**CONTRACT_INSTALLATION)  # the recorded server's configuration
    double.set_clock(REPLAY_START)
    double.start()
    try:
        yield Replayer(FILES, double)
    finally:
        double.close()


@pytest.mark.parametrize("name", [f.name for f in FILES])
def test_recorded_call(replayer: Replayer, name: str) -> None:
    got = replayer.result(name)
    expected = got.recording["response"]
    assert got.status == expected["status"], (got.status, got.body)
    recorded = expected.get("json")
    if isinstance(recorded, dict) and recorded.get("error"):
        assert isinstance(got.body, dict), got.body
        assert got.body.get("code") == recorded["code"], got.body
    assert not replayer.double.internal_errors
    problems = compare(recorded, got.body)
    assert not problems, "\n".join(problems[:20]) + "\n" + json.dumps(got.body)[:2000]


def test_created_bug_ids_match(replayer: Replayer) -> None:
    created = json.loads((contract_dir() / "_created_bugs.json").read_text())
    replayer.replay_all()
    by_label = {r.recording["label"]: r for r in replayer.results.values()}
    for label, bug_id in created.items():
        assert by_label[label].body == {"id": bug_id}, label


def test_recorded_users_can_log_in(replayer: Replayer) -> None:
    """The accounts of _users.json exist after the replay, with the recorded passwords."""
    import requests

    users = json.loads((contract_dir() / "_users.json").read_text())
    replayer.replay_all()
    for login, password in users.items():
        r = requests.get(replayer.double.url + "login",
                         params={"login": login, "password": password}, timeout=5)
        assert r.status_code == 200 and "token" in r.json(), login


def test_notification_mails_match_recordings(replayer: Replayer) -> None:
    """Same mails, one for one: headers, X-Bugzilla-* values, subjects, threading, bodies."""
    recorded = sorted(load_recorded(contract_dir() / "mail"), key=sort_key)
    replayer.replay_all()
    actual = sorted(replayer.double.outbox, key=sort_key)
    summary = [(m["X-Bugzilla-ID"], m["To"], m["X-Bugzilla-Type"]) for m in actual]
    assert len(actual) == len(recorded), summary
    problems = []
    for rec, act in zip(recorded, actual, strict=True):
        for problem in compare_mail(rec, act):
            problems.append(f"[bug {rec['X-Bugzilla-ID']} to {rec['To']}, "
                            f"{rec['Subject']}] {problem}")
    assert not problems, "\n".join(problems)
