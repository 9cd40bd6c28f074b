"""Counts of the master's database work, for the benchmark (``count_statements`` in farm.json).

CPU seconds per build move with the machine's load; the number of statements and commits a
build costs does not, so the benchmark's variants are compared on both. Every SQLAlchemy
engine in the master process is counted (a class-level event listener: nothing of Buildbot's
is patched), and a service writes the totals to ``db-statements.json`` in the basedir twice a
second.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from buildbot.util import service
from twisted.internet import task

STATS_FILE = "db-statements.json"
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


class StatementCounter(service.BuildbotService):
    name = "xentriage-db-statements"

    def checkConfig(self, basedir: str, *args: Any, **kwargs: Any) -> None:
        pass

    loop: task.LoopingCall | None = None

    def reconfigService(self, basedir: str, *args: Any, **kwargs: Any) -> None:
        self.path = Path(basedir) / STATS_FILE
        start_counting()
        if self.loop is None:
            self.loop = task.LoopingCall(self.write)
            self.loop.start(0.5, now=True)

    def stopService(self) -> Any:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
            self.write()
        return super().stopService()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(_counts)))
        os.replace(tmp, self.path)
