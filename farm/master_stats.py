"""Counts of the master's database work and a timeline of its builds, for the benchmark
(``count_statements`` in farm.json).

CPU seconds per build move with the machine's load; the number of statements and commits a
build costs does not, so the benchmark's variants are compared on both. Every SQLAlchemy
engine in the master process is counted (a class-level event listener: nothing of Buildbot's
is patched), and a service writes the totals to ``db-statements.json`` in the basedir twice a
second. The same service records when each build and each step starts and finishes (the
data API's own events, stamped on arrival with the wall clock) in ``build-timeline.json``:
the benchmark lays them beside the cores' busy time to say where a run's idle time is.
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from buildbot.util import service
from twisted.internet import defer, task

STATS_FILE = "db-statements.json"
TIMELINE_FILE = "build-timeline.json"
# (routing key pattern, what the event is): a build row added ("new") and finished; a step
# started (its remote command about to be sent) and finished.
TIMELINE_EVENTS = ((("builds", None, "new"), "build new"),
                   (("builds", None, "finished"), "build finished"),
                   (("steps", None, "started"), "step started"),
                   (("steps", None, "finished"), "step finished"))
_counts: collections.Counter[str] = collections.Counter()
_listening = False


def _on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    _counts[statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"] += 1


def _on_commit(conn: Any) -> None:
    _counts["COMMIT"] += 1


def start_counting() -> None:
    global _listening
    if not _listening:  # master.cfg runs again on reconfig: listen once per process
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", _on_execute)
        sa.event.listen(sa.engine.Engine, "commit", _on_commit)
        _listening = True


def read_counts(basedir: Path) -> dict[str, int]:
    path = basedir / STATS_FILE
    return dict(json.loads(path.read_text())) if path.exists() else {}


def read_timeline(basedir: Path) -> list[dict[str, Any]]:
    """The recorded events, oldest first: ``{"t", "event", "buildid", "step"}``."""
    path = basedir / TIMELINE_FILE
    return list(json.loads(path.read_text())) if path.exists() else []


class StatementCounter(service.BuildbotService):
    name = "xentriage-db-statements"

    def checkConfig(self, basedir: str, *args: Any, **kwargs: Any) -> None:
        pass

    loop: task.LoopingCall | None = None
    consumers: list[Any] | None = None
    events: list[dict[str, Any]] | None = None

    def reconfigService(self, basedir: str, *args: Any, **kwargs: Any) -> Any:
        self.path = Path(basedir) / STATS_FILE
        self.timeline_path = Path(basedir) / TIMELINE_FILE
        start_counting()
        if self.loop is None:
            self.events = []
            self.loop = task.LoopingCall(self.write)
            self.loop.start(0.5, now=True)
        if self.consumers is None:
            return self.consume()
        return None

    @defer.inlineCallbacks
    def consume(self):  # type: ignore[no-untyped-def]
        self.consumers = []
        for pattern, event in TIMELINE_EVENTS:
            def on_event(key: Any, msg: dict[str, Any], event: str = event) -> None:
                assert self.events is not None
                self.events.append({"t": time.time(), "event": event,
                                    "buildid": msg.get("buildid"),
                                    "step": msg.get("name") if "stepid" in msg else None})
            consumer = yield self.master.mq.startConsuming(on_event, pattern)
            self.consumers.append(consumer)

    def stopService(self) -> Any:
        for consumer in self.consumers or []:
            consumer.stopConsuming()
        self.consumers = None
        if self.loop is not None and self.loop.running:
            self.loop.stop()
            self.write()
        return super().stopService()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(_counts)))
        os.replace(tmp, self.path)
        if self.events:
            tmp = self.timeline_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.events))
            os.replace(tmp, self.timeline_path)
