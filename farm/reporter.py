"""The farm's reporter: every finished cell build pushed to the triage service's CI intake.

Buildbot's own split: a generator picks the builds (every finished one, whatever its result:
a pass is what resolves a bug), a formatter turns one into the result the intake reads
(triage.ci.model.from_payload), and the transport only sends: HMAC-SHA256 over
``<timestamp>.<body>`` with the shared secret, in ``X-Xentriage-Signature`` beside
``X-Xentriage-Timestamp``. A failed POST is only logged (as Buildbot's HTTP push does): the
service's sweep over the REST API picks up whatever a push lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

from buildbot.reporters.base import ReporterBase
from buildbot.reporters.generators.build import BuildStatusGenerator
from buildbot.reporters.message import MessageFormatterFunction
from buildbot.util import httpclientservice
from twisted.internet import defer
from twisted.python import log

SIGNATURE_HEADER = "X-Xentriage-Signature"  # the same names as triage.ci.intake
TIMESTAMP_HEADER = "X-Xentriage-Timestamp"
INTAKE_PATH = "/ci/results"


def cell_result(build: dict[str, Any], master: str) -> dict[str, Any] | None:
    """The formatter: a finished build as the intake's JSON (None: not a cell's build)."""
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
                    generators: Any = None, **kwargs: Any) -> None:
        super().checkConfig(generators=generators or self._generators(master), **kwargs)

    @defer.inlineCallbacks
    def reconfigService(self, intake_url: str, secret: str,  # type: ignore[override]
                        master: str = "", generators: Any = None, **kwargs: Any):
        self._secret = secret.encode("utf-8")
        yield super().reconfigService(generators=generators or self._generators(master),
                                      **kwargs)
        self._http = yield httpclientservice.HTTPSession(self.master.httpservice,
                                                         intake_url.rstrip("/"))

    @staticmethod
    def _generators(master: str) -> list[Any]:
        formatter = MessageFormatterFunction(lambda ctx: cell_result(ctx["build"], master),
                                             "json", want_properties=True)
        return [EveryFinishedBuild(mode="all", message_formatter=formatter)]

    @defer.inlineCallbacks
    def sendMessage(self, reports: list[dict[str, Any]]):
        for report in reports:
            body = report.get("body")
            if not body:
                continue
            data = json.dumps(body, sort_keys=True).encode("utf-8")
            try:
                response = yield self._http.post(INTAKE_PATH, data=data,
                                                 headers=signed(self._secret, data, time.time()))
            except Exception as exc:  # the service is down: the sweep will catch up
                log.msg(f"CellResultPush: intake unreachable ({type(exc).__name__})")
                continue
            if response.code // 100 != 2:
                log.msg(f"CellResultPush: intake answered {response.code}")
