"""The HTTP side: a threaded stdlib server on 127.0.0.1, fault injection and a request log."""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import errors as E
from .context import Request, authenticate
from .events import BugEvent
from .routes import dispatch
from .state import State

JSON_TYPE = "application/json; charset=UTF-8"
SECRET_PARAMS = frozenset({"Bugzilla_api_key", "api_key", "Bugzilla_token", "token",
                           "Bugzilla_password", "password"})
REDACTED = "<redacted>"
HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Proxy Error</title></head><body>\n"
    "<h1>Proxy Error</h1>\n<p>The proxy server received an invalid response from an upstream "
    "server.</p>\n</body></html>\n"
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # full path, e.g. "/rest/bug/1"
    query: dict[str, list[str]]
    body: Any
    status: int | None  # None when the connection was dropped
    at: float = field(default_factory=time.time)


@dataclass
class Fault:
    kind: str  # "fail", "html", "delay", "drop"
    status: int = 500
    seconds: float = 0.0


class FaultQueue:
    """Faults for the next requests, consumed in order, one per request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, n: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend(Fault(fault.kind, fault.status, fault.seconds) for _ in range(n))

    def take(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class _Handler(BaseHTTPRequestHandler):
    server_version = "Apache"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    app: ServerApp  # set on the subclass the app creates

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed
        # ACKs would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: the request log is the record, and query strings may carry API keys.
        return

    def _serve(self) -> None:
        self.app.handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class ServerApp:
    """Owns the socket and turns HTTP requests into handler calls against ``State``."""

    def __init__(self, state: State, on_events: Callable[[list[BugEvent]], None]) -> None:
        self.state = state
        self.on_events = on_events
        self.faults = FaultQueue()
        self.rejected_ids: set[str] = set()  # ids answered with error 100 wherever they appear
        self.log: list[LoggedRequest] = []
        self.internal_errors: list[str] = []
        self._log_lock = threading.Lock()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._httpd is not None:
            return
        handler = type("BoundHandler", (_Handler,), {"app": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"bugzilla-double-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # -- requests -----------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        fault = self.faults.take()
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            self._record(h.command, split.path, query, raw, None)
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None:
            status = fault.status
            if fault.kind == "html":
                self._send(h, status, HTML_ERROR_PAGE.encode(), "text/html; charset=UTF-8")
            else:
                body = E.BugzillaError(status, 100500, "Internal Server Error (injected)")
                self._send(h, status, json.dumps(body.as_json()).encode(), JSON_TYPE)
            self._record(h.command, split.path, query, raw, status)
            return
        bad = self._rejected(split.path, query)
        if bad is not None:  # as Bugzilla answers an id it cannot take (contract 069)
            status, payload = 400, E.BugzillaError(
                400, 100, f"'{bad}' is not a valid bug number nor an alias to a bug.").as_json()
        else:
            status, payload = self._run(h.command, split.path, query, raw)
        self._record(h.command, split.path, query, raw, status)
        self._send(h, status, json.dumps(payload).encode(), JSON_TYPE)

    def _rejected(self, path: str, query: dict[str, list[str]]) -> str | None:
        if not self.rejected_ids:
            return None
        words = [w for key in ("id", "ids", "bug_id") for v in query.get(key, ())
                 for w in v.split(",")] + path.split("/")
        return next((w for w in words if w.strip() in self.rejected_ids), None)

    def _run(self, method: str, path: str, query: dict[str, list[str]],
             raw: bytes) -> tuple[int, Any]:
        if not path.startswith("/rest"):
            return 404, {"error": True, "code": 32614,
                         "message": f"Not a REST path: {path}",
                         "documentation": E.DOCUMENTATION_URL}
        sub = path[len("/rest"):] or "/"
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise E.BugzillaError(400, 32600, "The JSON body must be an object.")
        except json.JSONDecodeError:
            return 400, E.BugzillaError(400, 32700, "Could not parse the JSON body.").as_json()
        except E.BugzillaError as exc:
            return exc.status, exc.as_json()
        # One request at a time touches the shared SQLite connection (like one DB transaction);
        # mails are rendered under the same lock so they see the state the change produced.
        with self.state.lock:
            try:
                viewer = authenticate(self.state, query, body)
                req = Request(self.state, method, sub, query, body, viewer)
                status, payload = dispatch(req)
            except E.BugzillaError as exc:
                return exc.status, exc.as_json()
            except Exception as exc:
                # A bug in the double must not look like a network failure to the client:
                # answer like Bugzilla's internal error and keep the traceback for the test log.
                traceback.print_exc()
                self.internal_errors.append(f"{method} {path}: {exc!r}")
                return 500, E.BugzillaError(500, 100500, "Internal error in the double: "
                                            f"{type(exc).__name__}").as_json()
            if req.events:
                self.on_events(req.events)
        return status, payload

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Access-Control-Allow-Origin", "*")
        h.send_header("X-XSS-Protection", "1; mode=block")
        h.end_headers()
        try:
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _record(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
                status: int | None) -> None:
        try:
            body: Any = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        # Credentials stay out of the log (tests print it on failure); their presence shows.
        query = {k: [REDACTED] * len(v) if k in SECRET_PARAMS else v for k, v in query.items()}
        if isinstance(body, dict):
            body = {k: REDACTED if k in SECRET_PARAMS else v for k, v in body.items()}
        with self._log_lock:
            self.log.append(LoggedRequest(method, path, query, body, status))

    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self.log)

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()
