"""Fixtures for the gateway, ledger and sync tests: a gateway on the Bugzilla double."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.bugzilla_double.double import BugzillaDouble
from triage.adapters.bugzilla import BugzillaGateway
from triage.config import Settings

OLD = "2026-01-05T10:00:00Z"  # seeded bugs changed long before any test runs


OLD_EPOCH = int(datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp())


def seed(double: BugzillaDouble, n: int, **extra: Any) -> list[int]:
    """``n`` bugs, each changed ten seconds after the previous one, long ago."""
    return double.seed_bugs([
        {"summary": f"bug {i}", "description": f"description {i}", "comments": [f"comment {i}"],
         "creation_time": OLD_EPOCH, "last_change_time": OLD_EPOCH + 10 * i, **extra}
        for i in range(n)
    ])


@pytest.fixture
def bz_settings(make_settings: Callable[..., Settings], bugzilla_double: BugzillaDouble
                ) -> Settings:
    return make_settings(
        f'[bugzilla]\nurl = "{bugzilla_double.url}"\nretries = 3\n'
        "retry_backoff_seconds = 0.01\ntimeout_seconds = 2\n"
    )


@pytest.fixture
def gateway(bz_settings: Settings, bugzilla_double: BugzillaDouble) -> BugzillaGateway:
    return BugzillaGateway(bz_settings.bugzilla, bugzilla_double.admin_api_key,
                           sleep=lambda s: None)
