"""The CI intake: signed result posts from the farm's reporter, verified, stored exactly once.

A post carries ``X-Xentriage-Timestamp`` (Unix seconds) and ``X-Xentriage-Signature``
(``sha256=<hex>``, HMAC-SHA256 over ``<timestamp>.<body>`` with the shared secret). Its body is
one cell result (triage.ci.model.from_payload), or a *batch* ``{"results": [result, ...]}``
(at most ``MAX_BATCH``) that the reporter sends when builds finish together. Checks, in order,
each answered with its own status and one log line (never a traceback):

* 413 body over ``ci.max_body_bytes`` (read no further);
* 401 no signature or timestamp, or a signature that does not match;
* 408 a timestamp further than ``ci.clock_skew_seconds`` from now (stale or from the future);
* 400 not JSON, or not a cell result (a batch: none of its results is one);
* 409 the same timestamp + body accepted before (a replay of the whole post; the ledger keeps
  twice the skew, and an older replay is stale anyway);
* 200 stored, or already stored (the sweep got the same build first): ``{"stored": bool}``;
  a batch answers per result in ``"results"`` (``status`` 200 with ``stored``, or 400 with
  its ``message``), each result validated and deduplicated on its own;
* 503 the store failed (the sweep picks the build up later).

The server is the standard library's ThreadingHTTPServer on ``ci.intake_host`` (127.0.0.1 by
default), HTTP/1.1 keep-alive, each answer written in one send; the store side is one writer
thread's group commits (triage.ci.intake_writer), so concurrent posts of one build store one row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from triage.ci.intake_writer import GroupCommit, StoreUnavailable
from triage.ci.model import BadResult, CellResult, from_payload
from triage.store import Store
from workers.failure import ENVIRONMENT

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xentriage-Signature"
TIMESTAMP_HEADER = "X-Xentriage-Timestamp"
PATH = "/ci/results"
MAX_BATCH = 200  # results in one batch post; the body limit usually binds first


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
    items: tuple[dict[str, Any], ...] | None = None  # a batch: one answer per result

    def body(self) -> bytes:
        doc: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.stored is not None:
            doc["stored"] = self.stored
        if self.items is not None:
            doc["results"] = list(self.items)
        return json.dumps(doc).encode()


@dataclass(frozen=True)
class IntakeRules:
    secret: bytes
    max_body_bytes: int = 65536
    clock_skew_seconds: int = 300


@dataclass(frozen=True)
class Checked:
    """A post that passed the checks needing no store: its digest (the replay ledger's key) and
    per result the result or its refusal (only a batch holds refusals)."""

    digest: str
    items: tuple[CellResult | Answer, ...]
    batch: bool

    @property
    def results(self) -> list[CellResult]:
        return [i for i in self.items if isinstance(i, CellResult)]


def verify(rules: IntakeRules, headers: Mapping[str, str], body: bytes, now: datetime
           ) -> Answer | None:
    """Size, signature and timestamp: a refusal, or None (the post is the farm's, and fresh)."""
    if len(body) > rules.max_body_bytes:
        return Answer(413, f"body over {rules.max_body_bytes} bytes")
    given, ts = headers.get(SIGNATURE_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    if not given or not ts:
        return Answer(401, "unsigned: signature and timestamp headers are required")
    if not ts.isdigit() or not hmac.compare_digest(sign(rules.secret, ts, body), given):
        return Answer(401, "bad signature")
    if abs(now.timestamp() - int(ts)) > rules.clock_skew_seconds:
        return Answer(408, f"stale: timestamp more than {rules.clock_skew_seconds}s from now")
    return None


def _one(doc: Any) -> CellResult | Answer:
    try:
        return from_payload(doc)
    except BadResult as exc:
        return Answer(400, str(exc)[:200])


def check(rules: IntakeRules, headers: Mapping[str, str], body: bytes, now: datetime
          ) -> Answer | Checked:
    """Every check that needs no store: a refusal, or the checked post."""
    refused = verify(rules, headers, body, now)
    if refused is not None:
        return refused
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Answer(400, "malformed JSON")
    digest = hashlib.sha256(headers[TIMESTAMP_HEADER].encode() + b"." + body).hexdigest()
    if isinstance(doc, dict) and set(doc) == {"results"}:  # a result has many more fields
        docs = doc["results"]
        if not isinstance(docs, list) or not docs:
            return Answer(400, "'results' must be a non-empty list of cell results")
        if len(docs) > MAX_BATCH:
            return Answer(400, f"a batch holds at most {MAX_BATCH} results")
        items = tuple(_one(d) for d in docs)
        refusals = [i for i in items if isinstance(i, Answer)]
        if len(refusals) == len(items):
            return Answer(400, f"no valid result in the batch: {refusals[0].message}"[:200])
        return Checked(digest, items, batch=True)
    item = _one(doc)
    if isinstance(item, Answer):
        return item
    return Checked(digest, (item,), batch=False)


def answer_for(checked: Checked, fates: list[str] | None) -> Answer:
    """The answer to a checked post once the store decided (None: a replay)."""
    if fates is None:
        return Answer(409, "replayed post")
    stored = iter(fates)
    items: list[dict[str, Any]] = []
    for item in checked.items:
        if isinstance(item, Answer):
            items.append({"status": item.status, "message": item.message})
            continue
        fate = next(stored)
        if fate == "stored" and item.result == ENVIRONMENT:
            # The worker's fault, never a bug: its owner is told (triage.ci.owners).
            log.warning("ci intake: environment failure on worker %s: %s: %s",
                        item.worker or "?", item.cell, item.reason[:200])
        items.append({"status": 200, "build_id": item.build_id, "stored": fate == "stored"})
    if not checked.batch:
        r, fate = checked.results[0], fates[0]
        return Answer(200, f"build {r.build_id} ({r.cell}): "
                           f"{'stored' if fate == 'stored' else 'already stored'}",
                      stored=fate == "stored")
    new = fates.count("stored")
    refused = len(checked.items) - len(fates)
    return Answer(200, f"batch of {len(checked.items)}: {new} stored, "
                       f"{len(fates) - new} already stored, {refused} refused",
                  stored=new > 0, items=tuple(items))


Handle = Callable[[Mapping[str, str], bytes], Answer]


def make_server(store: Store, rules: IntakeRules, host: str, port: int,
                on_stored: Callable[[], None] | None = None,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                ) -> IntakeServer:
    """The intake endpoint over ``store``."""
    writer = GroupCommit(store, timedelta(seconds=2 * rules.clock_skew_seconds))

    def handle(headers: Mapping[str, str], body: bytes) -> Answer:
        now = clock()
        checked = check(rules, headers, body, now)
        if isinstance(checked, Answer):
            return checked
        try:
            answer = answer_for(checked, writer.submit(checked.digest, checked.results, now))
        except StoreUnavailable:
            return Answer(503, "store unavailable; the sweep will pick this build up")
        if answer.stored and on_stored is not None:
            on_stored()
        return answer

    server = make_http_server(handle, rules.max_body_bytes, host, port)
    server.on_close = writer.stop
    return server


def make_http_server(handle: Handle, max_body_bytes: int, host: str, port: int
                     ) -> IntakeServer:
    """The HTTP side alone around ``handle`` (the benchmark measures its ceiling with a
    ``handle`` that only verifies the signature)."""
    connections: set[socket.socket] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "xentriage-ci-intake"
        protocol_version = "HTTP/1.1"  # keep-alive: the reporter posts a run's results in a burst
        # Buffered: status line, headers and body leave in one send when the request is done
        # (http.server flushes after each request), not in two small TCP segments.
        wbufsize = -1

        def setup(self) -> None:
            super().setup()
            with lock:
                connections.add(self.connection)
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
            if length > max_body_bytes:
                self._answer(Answer(413, f"body over {max_body_bytes} bytes"))
                return
            body = self.rfile.read(length)
            self._answer(handle(self.headers, body))  # type: ignore[arg-type]

        def finish(self) -> None:
            with lock:
                connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:
            self._answer(Answer(405, "POST results to " + PATH))

        def _answer(self, answer: Answer) -> None:
            level = logging.INFO if answer.status == 200 else logging.WARNING
            if log.isEnabledFor(level):
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
    on_close: Callable[[], None] | None = None  # the store side's own shutdown

    def server_close(self) -> None:
        super().server_close()
        with self.connections_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()
        if self.on_close is not None:
            self.on_close()
            self.on_close = None


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="ci-intake", daemon=True)
    thread.start()
    return thread
