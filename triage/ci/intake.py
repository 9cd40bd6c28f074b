"""The CI intake: signed result posts from the farm's reporter, verified, stored exactly once.

A post carries ``X-Xentriage-Timestamp`` (Unix seconds) and ``X-Xentriage-Signature``
(``sha256=<hex>``, HMAC-SHA256 over ``<timestamp>.<body>`` with the shared secret). Checks, in
order, each answered with its own status and one log line (never a traceback):

* 413 body over ``ci.max_body_bytes`` (read no further);
* 401 no signature or timestamp, or a signature that does not match;
* 408 a timestamp further than ``ci.clock_skew_seconds`` from now (stale or from the future);
* 409 the same timestamp + body accepted before (a replay; the ledger keeps twice the skew, and
  an older replay is stale anyway);
* 400 not JSON, or not a cell result (triage.ci.model.from_payload);
* 200 stored, or already stored (the sweep got the same build first): ``{"stored": bool}``.

The server is the standard library's ThreadingHTTPServer on ``ci.intake_host`` (127.0.0.1 by
default); each request has its own store session, so concurrent posts of one build store one row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.orm import Session

from triage.ci.model import BadResult, CellResult, from_payload
from triage.store import Store
from triage.store import ci as ci_rows
from workers.failure import ENVIRONMENT

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xentriage-Signature"
TIMESTAMP_HEADER = "X-Xentriage-Timestamp"
PATH = "/ci/results"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    ts = str(int(now))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body),
            "Content-Type": "application/json"}


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    stored: bool | None = None

    def body(self) -> bytes:
        doc: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.stored is not None:
            doc["stored"] = self.stored
        return json.dumps(doc).encode()


@dataclass(frozen=True)
class IntakeRules:
    secret: bytes
    max_body_bytes: int = 65536
    clock_skew_seconds: int = 300


def check(rules: IntakeRules, headers: Mapping[str, str], body: bytes, now: datetime
          ) -> Answer | tuple[CellResult, str]:
    """The checks that need no store: a refusal, or the result and the post's digest."""
    if len(body) > rules.max_body_bytes:
        return Answer(413, f"body over {rules.max_body_bytes} bytes")
    given, ts = headers.get(SIGNATURE_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    if not given or not ts:
        return Answer(401, "unsigned: signature and timestamp headers are required")
    if not ts.isdigit() or not hmac.compare_digest(sign(rules.secret, ts, body), given):
        return Answer(401, "bad signature")
    if abs(now.timestamp() - int(ts)) > rules.clock_skew_seconds:
        return Answer(408, f"stale: timestamp more than {rules.clock_skew_seconds}s from now")
    try:
        result = from_payload(json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:  # BadResult and JSONDecodeError included
        message = str(exc) if isinstance(exc, BadResult) else "malformed JSON"
        return Answer(400, message[:200])
    return result, hashlib.sha256(ts.encode() + b"." + body).hexdigest()


def store_checked(session: Session, rules: IntakeRules, result: CellResult, digest: str,
                  now: datetime) -> Answer:
    keep = timedelta(seconds=2 * rules.clock_skew_seconds)
    if not ci_rows.remember_post(session, digest, now, keep):
        return Answer(409, "replayed post")
    stored = ci_rows.record_result(session, result)
    if result.result == ENVIRONMENT and stored:
        # The worker's fault, never a bug: its owner reads this line and `ci status`.
        log.warning("ci intake: environment failure on worker %s: %s: %s",
                    result.worker or "?", result.cell, result.reason[:200])
    return Answer(200, f"build {result.build_id} ({result.cell}): "
                       f"{'stored' if stored else 'already stored'}", stored=stored)


def receive(store: Store, rules: IntakeRules, headers: Mapping[str, str], body: bytes,
            now: datetime, on_stored: Callable[[], None] | None = None) -> Answer:
    """Verify and store one post (the whole decision, without HTTP)."""
    checked = check(rules, headers, body, now)
    if isinstance(checked, Answer):
        return checked
    with store.session() as s:
        answer = store_checked(s, rules, *checked, now)
    if answer.stored and on_stored is not None:
        on_stored()
    return answer


class GroupCommit:
    """One transaction for the posts that arrive together: each request thread hands its
    checked result over and waits for the commit that holds it, so a 200 still means stored,
    and a burst of pushes costs one commit instead of one each."""

    def __init__(self, store: Store, rules: IntakeRules, batch: int = 256) -> None:
        self.store, self.rules, self.batch = store, rules, batch
        self.queue: queue.Queue[tuple[CellResult, str, datetime, list[Answer],
                                      threading.Event]] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="ci-intake-writer", daemon=True)
        self.thread.start()

    def submit(self, result: CellResult, digest: str, now: datetime) -> Answer:
        slot: list[Answer] = []
        done = threading.Event()
        self.queue.put((result, digest, now, slot, done))
        done.wait()
        return slot[0]

    def _loop(self) -> None:
        keep = timedelta(seconds=2 * self.rules.clock_skew_seconds)
        while True:
            items = [self.queue.get()]
            while len(items) < self.batch:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            now = max(i[2] for i in items)
            try:
                with self.store.session() as s:
                    ci_rows.prune_posts(s, now - keep)
                    fates = ci_rows.record_posts(s, [(r, d) for r, d, _, _, _ in items], now,
                                                 keep)
                answers = [_answer_for(r, f) for (r, *_), f in zip(items, fates, strict=True)]
            except Exception as exc:  # a conflict with another writer, or the store failed
                log.warning("ci intake: batch of %d failed (%s): one by one", len(items),
                            type(exc).__name__)
                answers = [self._one(r, d, t) for r, d, t, _, _ in items]
            for (_, _, _, slot, done), answer in zip(items, answers, strict=True):
                slot.append(answer)
                done.set()

    def _one(self, result: CellResult, digest: str, now: datetime) -> Answer:
        try:
            with self.store.session() as s:
                return store_checked(s, self.rules, result, digest, now)
        except Exception as exc:  # the store failed: refuse; the sweep catches up
            log.error("ci intake: could not store a post: %s", type(exc).__name__)
            return Answer(503, "store unavailable; the sweep will pick this build up")


def _answer_for(result: CellResult, fate: str) -> Answer:
    if fate == "replayed":
        return Answer(409, "replayed post")
    if fate == "stored" and result.result == ENVIRONMENT:
        log.warning("ci intake: environment failure on worker %s: %s: %s",
                    result.worker or "?", result.cell, result.reason[:200])
    return Answer(200, f"build {result.build_id} ({result.cell}): "
                       f"{'stored' if fate == 'stored' else 'already stored'}",
                  stored=fate == "stored")


def make_server(store: Store, rules: IntakeRules, host: str, port: int,
                on_stored: Callable[[], None] | None = None,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> IntakeServer:
    writer = GroupCommit(store, rules)
    connections: set[socket.socket] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "xentriage-ci-intake"
        protocol_version = "HTTP/1.1"  # keep-alive: the reporter posts a run's results in a burst

        def setup(self) -> None:
            super().setup()
            with lock:
                connections.add(self.connection)
            # Headers and body go out in two writes: without this, Nagle holds the second
            # until the client's delayed ACK (40 ms a post on Linux).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            if self.path != PATH:
                self._answer(Answer(404, "unknown path"))
                return
            try:
                length = int(self.headers.get("Content-Length") or "-1")
            except ValueError:
                length = -1
            if length < 0:
                self._answer(Answer(411, "Content-Length required"))
                return
            if length > rules.max_body_bytes:
                self._answer(Answer(413, f"body over {rules.max_body_bytes} bytes"))
                return
            body = self.rfile.read(length)
            now = clock()
            checked = check(rules, dict(self.headers.items()), body, now)
            answer = checked if isinstance(checked, Answer) else writer.submit(*checked, now)
            if answer.stored and on_stored is not None:
                on_stored()
            self._answer(answer)

        def finish(self) -> None:
            with lock:
                connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            self._answer(Answer(405, "POST results to " + PATH))

        def _answer(self, answer: Answer) -> None:
            level = logging.INFO if answer.status == 200 else logging.WARNING
            log.log(level, "ci intake: %s %d %s", self.client_address[0], answer.status,
                    answer.message)
            data = answer.body()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if answer.status >= 400:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request comes from _answer, not http.server's own

    server = IntakeServer((host, port), Handler)
    server.daemon_threads = True
    server.connections, server.connections_lock = connections, lock
    return server


class IntakeServer(ThreadingHTTPServer):
    """Closing the intake also closes its kept-alive connections: a stopped service must not
    go on answering a client that connected before."""

    connections: set[socket.socket]
    connections_lock: threading.Lock

    def server_close(self) -> None:
        super().server_close()
        with self.connections_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="ci-intake", daemon=True)
    thread.start()
    return thread
