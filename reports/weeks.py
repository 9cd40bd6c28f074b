"""ISO weeks and the digest's schedule: which week a time belongs to, when a week's digest is due.

A digest is named after the ISO week it is sent in (``2026-W49``) and covers the seven days before
it was built (its ``as_of``). The schedule is a weekday and a local time in ``digest.timezone``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from triage.config import DigestSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    pass


def iso_week(when: datetime, tz: str = "UTC") -> str:
    year, week, _ = when.astimezone(ZoneInfo(tz)).isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(label: str) -> tuple[int, int]:
    match = _WEEK.match(label.strip())
    if not match:
        raise WeekError(f"{label!r} is not an ISO week such as 2026-W49")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise WeekError(f"{label!r}: {year} has no week {week}") from None
    return year, week


def due_time(label: str, cfg: DigestSettings) -> datetime:
    """When the digest of week ``label`` is due (aware UTC)."""
    year, week = parse_week(label)
    day = date.fromisocalendar(year, week, WEEKDAYS.index(cfg.day) + 1)
    hh, mm = (int(x) for x in cfg.time.split(":"))
    local = datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(cfg.timezone))
    return local.astimezone(UTC)


def as_of_for(label: str | None, cfg: DigestSettings, now: datetime) -> tuple[str, datetime]:
    """(week, as_of) for a digest: this week's is built as of ``now``; a past week's as of its
    due time; a future week is an error."""
    if label is None:
        return iso_week(now, cfg.timezone), now
    current = iso_week(now, cfg.timezone)
    parse_week(label)
    if label == current:
        return label, now
    if label > current:
        raise WeekError(f"{label} is in the future (this is {current})")
    return label, min(now, due_time(label, cfg))


def weeks_back(as_of: datetime, n: int) -> list[tuple[datetime, datetime]]:
    """``n`` seven-day windows ending at ``as_of``, oldest first."""
    return [(as_of - timedelta(days=7 * (i + 1)), as_of - timedelta(days=7 * i))
            for i in reversed(range(n))]


def cron_for(day: str, hhmm: str, minus_hours: int = 0) -> str:
    """Crontab fields ("min hour * * dow") of ``day`` at ``hhmm``, shifted ``minus_hours`` back
    (a preview N hours before may fall on the previous day)."""
    hh, mm = (int(x) for x in hhmm.split(":"))
    minutes = (WEEKDAYS.index(day) * 24 * 60 + hh * 60 + mm - minus_hours * 60) % (7 * 24 * 60)
    dow, rest = divmod(minutes, 24 * 60)
    return f"{rest % 60} {rest // 60} * * {WEEKDAYS[dow]}"
