"""ISO weeks and the digest's schedule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reports.weeks import WeekError, as_of_for, cron_for, due_time, iso_week
from triage.config import DigestSettings


def test_cron_of_the_digest_and_of_a_preview_hours_before() -> None:
    assert cron_for("mon", "09:00") == "0 9 * * mon"
    assert cron_for("mon", "09:00", 12) == "0 21 * * sun"  # wraps to the previous day
    assert cron_for("mon", "09:30", 24 * 7) == "30 9 * * mon"
    assert cron_for("wed", "00:15", 1) == "15 23 * * tue"


def test_weeks_due_times_and_as_of() -> None:
    cfg = DigestSettings(timezone="Europe/Berlin")
    sunday_night = datetime(2026, 12, 27, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    assert iso_week(sunday_night) == "2026-W52"
    assert iso_week(sunday_night, "Europe/Berlin") == "2026-W53"
    assert due_time("2026-W49", cfg) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 CET
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert as_of_for(None, cfg, now) == ("2026-W49", now)
    assert as_of_for("2026-W48", cfg, now) == ("2026-W48", datetime(2026, 11, 23, 8, 0,
                                                                   tzinfo=UTC))
    with pytest.raises(WeekError, match="future"):
        as_of_for("2026-W50", cfg, now)
    with pytest.raises(WeekError, match="ISO week"):
        as_of_for("2026-49", cfg, now)
    with pytest.raises(WeekError, match="no week 53"):
        as_of_for("2025-W53", cfg, now)
