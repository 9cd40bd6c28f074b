"""Fixtures for the web views: a Buildbot database seeded with farm-like history, a store with
bugs linked to cells, and a Flask app over both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from tests.support import buildbot_seed
from triage.store import Store
from triage.store.tables import BugRow, CiFailure, TriageStateRow
from triage.web.app import WebContext, create_app
from triage.web.buildbot_db import EngineDatabase
from triage.web.matrix_model import CellSpec

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
LONG_WORD = "A" * 400


def spec(name: str, libset: str = "base", platform: str = "kvm", arch: str = "x86_64",
         tree: str = "fixture", app: str = "hello") -> CellSpec:
    libs = () if libset == "base" else tuple(libset.split("+"))
    return CellSpec(name, tree, "local", app, libset, libs, platform, arch)


class CountingDatabase(EngineDatabase):
    """An in-memory Buildbot database that counts the statements the page sends."""

    def __init__(self) -> None:
        # One in-memory database shared by the app and its background reload thread.
        self.engine = sa.create_engine("sqlite://", poolclass=StaticPool,
                                       connect_args={"check_same_thread": False})
        self.statements = 0
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        buildbot_seed.create_schema(self.engine)

    def _count(self, *_: object) -> None:
        self.statements += 1


@pytest.fixture
def bb_db() -> Iterator[CountingDatabase]:
    db = CountingDatabase()
    yield db
    db.dispose()


def add_bug(store: Store, bug_id: int, summary: str, state: str, claimed_by: str = "",
            status: str = "CONFIRMED", cells: tuple[str, ...] = (), product: str = "Xen",
            component: str = "Hypervisor", since_days: int = 3, quiet_days: int = 1,
            created_days: int = 10, is_open: bool = True, resolution: str = "") -> None:
    with store.session() as s:
        s.add(BugRow(id=bug_id, product=product, component=component, status=status,
                     resolution=resolution, summary=summary, creator="r@example.org",
                     assigned_to="", is_open=is_open,
                     creation_time=NOW - timedelta(days=created_days),
                     last_change_time=NOW - timedelta(days=quiet_days), data={},
                     fetched_at=NOW))
        s.add(TriageStateRow(bug_id=bug_id, state=state, since=NOW - timedelta(days=since_days),
                             claimed_by=claimed_by,
                             claimed_at=(NOW - timedelta(days=since_days)) if claimed_by
                             else None, organisation="", fix_reference="", updated_at=NOW))
        if cells:
            s.add(CiFailure(signature=f"sig-{bug_id}", stage="boot", first_line="panic",
                            cells=list(cells), bug_id=bug_id, first_seen=NOW,
                            last_seen=NOW, state="failing"))


@pytest.fixture
def make_client(bb_db: CountingDatabase, store: Store) -> Callable[..., object]:
    def factory(specs: list[CellSpec], **kw: object) -> object:
        ctx = WebContext(specs=specs, builds=bb_db, store=store,
                         buildbot_url="http://127.0.0.1:8010/",
                         bugzilla_url="http://127.0.0.1:9/bugzilla", now=lambda: NOW, **kw)
        return create_app(ctx).test_client()

    return factory
