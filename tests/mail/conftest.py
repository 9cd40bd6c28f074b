"""Shared helpers of the mail tests: the recorded contract mails, a tiny tracker, archives."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.mail.make_sample_mbox import write_mbox
from triage.adapters.tracker import BugBatch
from triage.ingest import Ingestor
from triage.model import Bug
from triage.store import Store

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def contract_dir() -> Path:
    """The recorded Bugzilla mails: $XENTRIAGE_CONTRACT_DIR, else <repo>/../shared/..., else the
    copies kept in tests/mail/fixtures."""
    env = os.environ.get("XENTRIAGE_CONTRACT_DIR")
    candidates = [Path(env) / "mail", Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "bugzilla-contract" / "mail")
    for c in candidates:
        if c.is_dir() and any(c.glob("*.eml")):
            return c
    return FIXTURES


def contract_mail(name_prefix: str) -> bytes:
    for folder in (contract_dir(), FIXTURES):
        found = sorted(folder.glob(f"{name_prefix}*.eml"))
        if found:
            return found[0].read_bytes()
    raise FileNotFoundError(name_prefix)


def make_bug(bug_id: int) -> Bug:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    return Bug(id=bug_id, summary=f"bug {bug_id}", product="Xen", component="Tools",
               status="UNCONFIRMED", creator="eve.hobbyist@gmail.com", creation_time=t,
               last_change_time=t)


class FakeTracker:
    """Unit-test tracker: knows a fixed set of bug ids and records every batched call."""

    name = "fake"
    read_only = True

    def __init__(self, known: Sequence[int]) -> None:
        self.known = set(known)
        self.calls: list[list[int]] = []

    def get_bugs(self, ids: Sequence[int], **_kw: object) -> BugBatch:
        self.calls.append(list(ids))
        return BugBatch(tuple(make_bug(i) for i in ids if i in self.known),
                        tuple(i for i in ids if i not in self.known))


@pytest.fixture
def make_mbox(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10**6))

    def factory(raws: list[bytes], name: str | None = None) -> Path:
        path = tmp_path / (name or f"archive-{next(counter)}.mbox")
        write_mbox(path, raws)
        return path

    return factory


@pytest.fixture
def make_ingestor(store: Store, tmp_path: Path) -> Callable[..., Ingestor]:
    def factory(**kw: object) -> Ingestor:
        kw.setdefault("quarantine_dir", tmp_path / "quarantine")
        kw.setdefault("bot_email", "triage-bot@xenproject.org")
        return Ingestor(store, **kw)  # type: ignore[arg-type]

    return factory
