from __future__ import annotations

from collections.abc import Callable

import pytest

from triage.config import Settings

LIVE = '[bugzilla]\nurl = "https://bz.example.org/rest/"\n'


@pytest.fixture
def settings_for(make_settings) -> Callable[[str], Settings]:  # type: ignore[no-untyped-def]
    """Settings as for a live Bugzilla (the digest's clock is the real one, not a snapshot's)."""
    return lambda extra="": make_settings(LIVE + extra)
