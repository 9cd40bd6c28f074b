"""Helpers of the CI-linking tests: results as the farm publishes them, a store, a linker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.rules.world import write_config
from triage.adapters import open_tracker
from triage.ci.linker import CiLinker
from triage.ci.model import CellResult, axes_of
from triage.config import Settings
from triage.store import Store
from triage.store import ci as ci_rows

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

# [ci] last: a test's extra lines before its own first table header belong to [ci].
CI_CONFIG = """
[bisect]
enabled = false  # CI linking alone; tests/bisect covers it with bisection on
[ci]
components = { crc = "Xen/Hypervisor" }
worker_owners = { bare = "farm-admin@example.org" }
"""


def result(cell: str, outcome: str, revision: str, build_id: int, *, sig: str = "",
           title: str = "", when: datetime | None = None, worker: str = "full") -> CellResult:
    failed = outcome not in ("passed",)
    return CellResult(
        master="m", build_id=build_id, cell=cell, result=outcome, revision=revision,
        finished_at=when or T0 + timedelta(minutes=build_id),
        signature=sig if failed else "", title=title if failed else "",
        reason=title, evidence=(f"error: {title}",) if failed else (),
        build_url=f"http://127.0.0.1:8010/#/builders/1/builds/{build_id}", worker=worker,
        axes=dict(axes_of(cell, None), tree="fixture"))


@dataclass
class Farm:
    """The results a farm would have published, fed to the store one build at a time."""

    store: Store
    next_id: int = 1
    log: list[CellResult] = field(default_factory=list)

    def add(self, cell: str, outcome: str, revision: str, **kw: object) -> CellResult:
        r = result(cell, outcome, revision, self.next_id, **kw)  # type: ignore[arg-type]
        self.next_id += 1
        with self.store.session() as s:
            assert ci_rows.record_result(s, r)
        self.log.append(r)
        return r


class Retries:
    """The retry hook: remembers which cells the linker asked to run again."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    def __call__(self, cell: str, revision: str, build_id: int) -> None:
        self.asked.append((cell, revision, build_id))


def linker_for(tmp_path: Path, double: object, extra: str = "", retry: Retries | None = None,
               clock: datetime | None = None) -> tuple[CiLinker, Settings, Store]:
    _, settings = write_config(tmp_path, double, CI_CONFIG + extra)  # type: ignore[arg-type]
    store = Store(settings.store_url)
    store.migrate()
    tracker = open_tracker(settings, production=True)
    now = clock or T0 + timedelta(days=1)
    return (CiLinker(store, settings, tracker, retry=retry, clock=lambda: now),
            settings, store)
