"""The farm's reporter: every finished cell build pushed to the triage service's CI intake.

Buildbot's own split: a generator picks the builds (every finished one, whatever its result:
a pass is what resolves a bug), a formatter turns one into the result the intake reads
(triage.ci.model.from_payload), and the transport only sends: HMAC-SHA256 over
``<timestamp>.<body>`` with the shared secret, in ``X-Xentriage-Signature`` beside
``X-Xentriage-Timestamp``. One POST is under way at a time; results of builds that finish
meanwhile go together in the next (``{"results": [...]}``, at most ``max_batch`` results and
``max_post_bytes``). A failed POST is only logged (as Buildbot's HTTP push does): the service's
sweep over the REST API picks up whatever a push lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from buildbot.reporters.base import ReporterBase
from buildbot.reporters.generators.build import BuildStatusGenerator
from buildbot.reporters.message import MessageFormatterFunction
from buildbot.util import httpclientservice
from twisted.internet import defer
from twisted.python import log

from farm.bisect_protocol import is_bisection_build

SIGNATURE_HEADER = "X-Xentriage-Signature"  # the same names as triage.ci.intake
TIMESTAMP_HEADER = "X-Xentriage-Timestamp"
INTAKE_PATH = "/ci/results"
MAX_BATCH = 50  # results in one post (the intake takes up to 200)
MAX_POST_BYTES = 65536  # the intake's default ci.max_body_bytes


def cell_result(build: dict[str, Any], master: str) -> dict[str, Any] | None:
    """The formatter: a finished build as the intake's JSON (None: not a cell's build, or a
    bisection step's, which is a commit of a range, not the cell's branch head)."""
    if is_bisection_build(build.get("properties")):
        return None
    props = {k: v[0] for k, v in (build.get("properties") or {}).items()
             if isinstance(v, list | tuple) and v}
    if not props.get("cell") or not props.get("cell_result"):
        return None
    done = build.get("complete_at") or datetime.now(UTC)
    if isinstance(done, int | float):
        done = datetime.fromtimestamp(done, UTC)
    evidence = props.get("evidence")
    return {"master": master, "build_id": build["buildid"], "cell": props["cell"],
            "result": props["cell_result"], "revision": props.get("revision") or "",
            "finished_at": done.isoformat(), "signature": props.get("signature") or "",
            "title": props.get("title") or "", "reason": props.get("result_reason") or "",
            "evidence": evidence if isinstance(evidence, list) else [],
            "build_url": build.get("url") or "", "worker": props.get("workername") or "",
            "axes": props.get("cell_axes") or {}}


BATCH_OPEN, BATCH_CLOSE = b'{"results": [', b"]}"


def take_batch(pending: deque[bytes], max_results: int, max_bytes: int) -> list[bytes]:
    """The next post's results from the queue: at least one, then as many as fit in
    ``max_results`` and, encoded as a batch, in ``max_bytes`` (the intake's body limit)."""
    batch = [pending.popleft()]
    size = len(BATCH_OPEN) + len(batch[0]) + len(BATCH_CLOSE)
    while pending and len(batch) < max_results and size + len(pending[0]) + 2 <= max_bytes:
        item = pending.popleft()
        batch.append(item)
        size += len(item) + 2
    return batch


def encode_batch(items: list[bytes]) -> bytes:
    """One result as itself; several as ``{"results": [...]}`` (triage.ci.intake)."""
    if len(items) == 1:
        return items[0]
    return BATCH_OPEN + b", ".join(items) + BATCH_CLOSE


def signed(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    ts = str(int(now))
    mac = hmac.new(secret, ts.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: "sha256=" + mac,
            "Content-Type": "application/json"}


class EveryFinishedBuild(BuildStatusGenerator):
    """Buildbot's mode "all" leaves out SKIPPED builds (unsupported, boot skipped): a cell's
    history needs every result, so every finished build is reported."""

    def is_message_needed_by_results(self, build: dict[str, Any]) -> bool:
        return build.get("results") is not None


class CellResultPush(ReporterBase):
    """``c['services']`` entry: ``CellResultPush(intake_url, secret, master=name)``."""

    name = "CellResultPush"  # type: ignore[assignment]

    def checkConfig(self, intake_url: str, secret: str, master: str = "",  # type: ignore[override]
                    generators: Any = None, max_batch: int = MAX_BATCH,
                    max_post_bytes: int = MAX_POST_BYTES, **kwargs: Any) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1..{MAX_BATCH}")
        super().checkConfig(generators=generators or self._generators(master), **kwargs)

    @defer.inlineCallbacks
    def reconfigService(self, intake_url: str, secret: str,  # type: ignore[override]
                        master: str = "", generators: Any = None, max_batch: int = MAX_BATCH,
                        max_post_bytes: int = MAX_POST_BYTES, **kwargs: Any):
        self._secret = secret.encode("utf-8")
        self._max_batch, self._max_post_bytes = max_batch, max_post_bytes
        if not hasattr(self, "_pending"):  # a reconfig keeps what is queued or under way
            self._pending: deque[bytes] = deque()
            self._waiters: list[defer.Deferred[None]] = []
            self._flushing = False
        yield super().reconfigService(generators=generators or self._generators(master),
                                      **kwargs)
        self._http = yield httpclientservice.HTTPSession(self.master.httpservice,
                                                         intake_url.rstrip("/"))

    @staticmethod
    def _generators(master: str) -> list[Any]:
        formatter = MessageFormatterFunction(lambda ctx: cell_result(ctx["build"], master),
                                             "json", want_properties=True)
        return [EveryFinishedBuild(mode="all", message_formatter=formatter)]

    def sendMessage(self, reports: list[dict[str, Any]]) -> defer.Deferred[None]:
        """Queue the reports' results and start sending if no POST is under way. The Deferred
        fires once they were sent (or their POST failed), so a stopping master waits for them."""
        for report in reports:
            body = report.get("body")
            if body:
                self._pending.append(json.dumps(body, sort_keys=True).encode("utf-8"))
        done: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(done)
        if not self._flushing:
            self._flushing = True
            self._flush()
        return done

    @defer.inlineCallbacks
    def _flush(self):
        # Builds that finish while a POST is under way go together in the next one: a burst
        # of results is a few signed posts, not one each (docs/BENCHMARKS.md, "CI intake").
        try:
            while self._pending:
                yield self._post(take_batch(self._pending, self._max_batch,
                                            self._max_post_bytes))
        finally:
            self._flushing = False
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(None)

    @defer.inlineCallbacks
    def _post(self, batch: list[bytes]):
        data = encode_batch(batch)
        try:
            response = yield self._http.post(INTAKE_PATH, data=data,
                                             headers=signed(self._secret, data, time.time()))
        except Exception as exc:  # the service is down: the sweep will catch up
            log.msg(f"CellResultPush: intake unreachable ({type(exc).__name__}); "
                    f"{len(batch)} result(s) left to the sweep")
            return
        if response.code // 100 != 2:
            log.msg(f"CellResultPush: intake answered {response.code} to {len(batch)} "
                    "result(s)")
            return
        if len(batch) > 1:
            doc = yield response.json()
            refused = [i for i in (doc.get("results") or []) if i.get("status") != 200]
            if refused:
                log.msg(f"CellResultPush: intake refused {len(refused)} of {len(batch)} "
                        f"results: {refused[0].get('message', '')}")
