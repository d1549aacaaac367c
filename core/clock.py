"""The one clock that services and tasks deciding by time read.

A service that decides by time takes `now` (keyword-only) and, when it is not
given, reads `now()` here, once, then passes that instant down to everything it
calls: a whole run can so be replayed at a given instant (tests, a catch-up
after downtime). `parse` reads the optional ISO instant a task is given.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, timezone-aware."""
    return timezone.now()


def parse(value: str | datetime | None) -> datetime | None:
    """A task's optional instant: None (the clock's), a datetime, or ISO 8601 with an offset."""
    if value is None or isinstance(value, datetime):
        return value
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"{value!r}: an instant needs its offset (…+01:00, …Z).")
    return instant
