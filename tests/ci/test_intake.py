"""The intake endpoint over real HTTP on 127.0.0.1: signed, unsigned, tampered, stale,
replayed, oversized and malformed posts, each with its status and one log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
import requests

from tests.ci.world import result
from triage.ci.intake import (
    PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    IntakeRules,
    make_server,
    serve_in_thread,
    signed_headers,
)
from triage.store import Store
from triage.store import ci as ci_rows

SECRET = b"test-intake-secret"


@pytest.fixture
def intake(tmp_path) -> Iterator[tuple[str, Store]]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    server = make_server(store, IntakeRules(SECRET, max_body_bytes=4096, clock_skew_seconds=60),
                         "127.0.0.1", 0)
    serve_in_thread(server)
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}{PATH}", store
    finally:
        server.shutdown()
        server.server_close()
        store.dispose()


def body_of(build_id: int = 7) -> bytes:
    r = result("hello-crc-kvm-x86_64", "build-failed", "r2", build_id, sig="0123456789abcdef",
               title="crc.c: error")
    return json.dumps(r.to_json()).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)


def stored(store: Store) -> int:
    with store.session() as s:
        return ci_rows.result_count(s)


def test_signed_post_is_stored_once_and_replay_refused(intake, caplog):
    url, store = intake
    caplog.set_level(logging.INFO, logger="triage.ci.intake")
    body = body_of()
    headers = signed_headers(SECRET, body, time.time())
    ok = post(url, body, headers)
    assert ok.status_code == 200 and ok.json()["stored"] is True
    replay = post(url, body, headers)
    assert replay.status_code == 409 and "replay" in replay.json()["message"]
    # The same build signed afresh (a reporter retry, or pushed and swept): one row.
    again = post(url, body, signed_headers(SECRET, body, time.time() + 1))
    assert again.status_code == 200 and again.json()["stored"] is False
    assert stored(store) == 1
    lines = [r.getMessage() for r in caplog.records if "ci intake" in r.getMessage()]
    assert len(lines) == 3 and " 409 " in lines[1]


@pytest.mark.parametrize("case,status", [
    ("unsigned", 401), ("no-timestamp", 401), ("tampered", 401), ("wrong-key", 401),
    ("stale", 408), ("future", 408), ("oversized", 413), ("not-json", 400),
    ("not-a-result", 400), ("bad-result", 400),
])
def test_bad_posts_are_refused_with_a_clear_status(intake, caplog, case, status):
    url, store = intake
    caplog.set_level(logging.INFO, logger="triage.ci.intake")
    body, now = body_of(), time.time()
    headers = signed_headers(SECRET, body, now)
    if case == "unsigned":
        headers.pop(SIGNATURE_HEADER)
    elif case == "no-timestamp":
        headers.pop(TIMESTAMP_HEADER)
    elif case == "tampered":
        body = body.replace(b"r2", b"r3")
    elif case == "wrong-key":
        headers = signed_headers(b"another key", body, now)
    elif case == "stale":
        headers = signed_headers(SECRET, body, now - 3600)
    elif case == "future":
        headers = signed_headers(SECRET, body, now + 3600)
    elif case == "oversized":
        body = b"{" + b" " * 5000 + b"}"
        headers = signed_headers(SECRET, body, now)
    elif case == "not-json":
        body = b"{not json"
        headers = signed_headers(SECRET, body, now)
    elif case == "not-a-result":
        body = b"[1, 2, 3]"
        headers = signed_headers(SECRET, body, now)
    elif case == "bad-result":
        doc = json.loads(body_of())
        doc["result"] = "exploded"
        body = json.dumps(doc).encode()
        headers = signed_headers(SECRET, body, now)
    resp = post(url, body, headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["message"]
    assert stored(store) == 0
    lines = [r for r in caplog.records if "ci intake" in r.getMessage()]
    assert len(lines) == 1 and not any(r.exc_info for r in caplog.records)
    assert SECRET.decode() not in caplog.text


def batch_of(*docs: object) -> bytes:
    return json.dumps({"results": list(docs)}).encode()


def test_batch_post_each_result_checked_and_deduplicated(intake, caplog):
    url, store = intake
    caplog.set_level(logging.INFO, logger="triage.ci.intake")
    post(url, body_of(5), signed_headers(SECRET, body_of(5), time.time()))  # build 5 stored
    bad = json.loads(body_of(6))
    bad["result"] = "exploded"
    body = batch_of(json.loads(body_of(5)), bad, json.loads(body_of(7)), json.loads(body_of(8)))
    headers = signed_headers(SECRET, body, time.time())
    resp = post(url, body, headers)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["stored"] is True
    assert [(i["status"], i.get("stored")) for i in doc["results"]] == [
        (200, False), (400, None), (200, True), (200, True)]
    assert "unknown result" in doc["results"][1]["message"]
    assert "2 stored, 1 already stored, 1 refused" in doc["message"]
    assert stored(store) == 3
    replay = post(url, body, headers)  # replay protection is per post: the whole batch
    assert replay.status_code == 409
    assert stored(store) == 3


@pytest.mark.parametrize("case,status,words", [
    ("empty", 400, "non-empty list"), ("not-a-list", 400, "non-empty list"),
    ("all-bad", 400, "no valid result"), ("too-many", 400, "at most"),
    ("tampered", 401, "bad signature"), ("oversized", 413, "body over"),
])
def test_bad_batches_are_refused_whole(intake, case, status, words):
    url, store = intake
    body = batch_of(json.loads(body_of(1)), json.loads(body_of(2)))
    headers = signed_headers(SECRET, body, time.time())
    if case == "empty":
        body = batch_of()
    elif case == "not-a-list":
        body = json.dumps({"results": json.loads(body_of(1))}).encode()
    elif case == "all-bad":
        body = batch_of({"build_id": 1}, [1])
    elif case == "too-many":
        body = batch_of(*([0] * 201))
    elif case == "tampered":
        body = body.replace(b"r2", b"r3")
    elif case == "oversized":
        body = batch_of(*[json.loads(body_of(i)) for i in range(1, 20)])
    if case != "tampered":
        headers = signed_headers(SECRET, body, time.time())
    resp = post(url, body, headers)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["message"]
    assert stored(store) == 0


def test_concurrent_posts_of_one_build_store_one_row(intake):
    from concurrent.futures import ThreadPoolExecutor

    url, store = intake
    body = body_of(11)
    # Each post signed at its own second: none is a replay, all carry the same build.
    heads = [signed_headers(SECRET, body, time.time() - i) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda h: post(url, body, h).json(), heads))
    assert [a["status"] for a in answers] == [200] * 8
    assert sum(a["stored"] for a in answers) == 1
    assert stored(store) == 1


def test_a_stopped_writer_refuses_and_closes_its_connection(tmp_path):
    from datetime import UTC, datetime, timedelta

    from triage.ci.intake_writer import GroupCommit, StoreUnavailable

    store = Store(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    store.migrate()
    writer = GroupCommit(store, timedelta(seconds=600))
    r = result("hello-crc-kvm-x86_64", "build-failed", "r2", 3, sig="0123456789abcdef",
               title="e")
    now = datetime.now(UTC)
    assert writer.submit("d1", [r], now) == ["stored"]
    assert writer.submit("d1", [r], now) is None  # the same digest: a replay
    assert writer.submit("d2", [r], now) == ["known"]
    assert writer.conn is not None
    writer.stop()
    assert writer.conn is None and not writer.thread.is_alive()
    with pytest.raises(StoreUnavailable):
        writer.submit("d3", [r], now)
    assert stored(store) == 1
    store.dispose()
