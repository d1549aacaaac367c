"""Calendar periods in an organization's time zone: today, a month, a week (pure date math)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo


def today_in(now: datetime, tz: tzinfo) -> date:
    return now.astimezone(tz).date()


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant `day` starts in `tz` (a DST change never falls at midnight in Europe)."""
    return datetime.combine(day, time.min, tzinfo=tz)


def months_back(day: date, months: int) -> date:
    """The first day of the month `months` before `day`'s (0: `day`'s own month)."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(now: datetime, tz: tzinfo, months_ago: int = 0) -> tuple[datetime, datetime]:
    """[start, end) of the month `months_ago` before `now`'s, in `tz`."""
    first = months_back(today_in(now, tz), months_ago)
    following = months_back(first, -1)
    return local_midnight(first, tz), local_midnight(following, tz)


def days_bounds(now: datetime, tz: tzinfo, days: int) -> tuple[datetime, datetime]:
    """[start, end) of the last `days` days in `tz`, today included: a window that, unlike a
    calendar month, is never empty just because the month began this morning."""
    today = today_in(now, tz)
    return local_midnight(today - timedelta(days=days - 1), tz), local_midnight(
        today + timedelta(days=1), tz
    )


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())
