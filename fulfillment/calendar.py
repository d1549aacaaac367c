"""The weekly cut-off calendar: pure date math, no Django.

An organization closes each cycle at a weekday and a wall-clock time in its
own time zone (Wednesday 12:00 Europe/Paris by default). The instants are
computed in that zone and returned in UTC, so that a cut-off stays at 12:00
local time on both sides of a daylight-saving change.

A cycle is named by the local date of its cut-off (`cycle_date`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def cutoff_on(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of `at` o'clock local time on `day`.

    A wall-clock time skipped by a spring-forward change is taken as the same
    time before the change (`fold=0`), so it still maps to one instant.
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_cutoff(after: datetime, *, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """The first cut-off strictly after `after` (aware). `weekday`: 0 = Monday."""
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    while True:
        instant = cutoff_on(day, at, tz)
        if instant > after:
            return instant
        day += timedelta(days=7)


def cycle_date(cutoff_at: datetime, tz: ZoneInfo) -> date:
    """The local date of a cut-off: the name of its cycle."""
    return cutoff_at.astimezone(tz).date()
