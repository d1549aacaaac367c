"""The weekly cut-off calendar across time zones and daylight-saving changes."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from fulfillment.calendar import cutoff_on, cycle_date, next_cutoff

PARIS = ZoneInfo("Europe/Paris")
NOON = time(12, 0)
WEDNESDAY = 2


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Winter (UTC+1): Wednesday noon in Paris is 11:00 UTC.
        (utc(2026, 11, 30, 9, 0), utc(2026, 12, 2, 11, 0)),
        # Exactly at a cut-off: the next one, a week later.
        (utc(2026, 12, 2, 11, 0), utc(2026, 12, 9, 11, 0)),
        (utc(2026, 12, 2, 10, 59, 59), utc(2026, 12, 2, 11, 0)),
        # Summer (UTC+2): 10:00 UTC.
        (utc(2026, 7, 1, 9, 0), utc(2026, 7, 1, 10, 0)),
        # Across the spring change (29 March 2026): the cut-off stays at noon local time.
        (utc(2026, 3, 26, 0, 0), utc(2026, 4, 1, 10, 0)),
        (utc(2026, 3, 25, 10, 30), utc(2026, 3, 25, 11, 0)),
        # Across the autumn change (25 October 2026).
        (utc(2026, 10, 22, 0, 0), utc(2026, 10, 28, 11, 0)),
        (utc(2026, 10, 21, 9, 0), utc(2026, 10, 21, 10, 0)),
    ],
)
def test_next_cutoff_is_noon_in_paris_whatever_the_season(after, expected):
    found = next_cutoff(after, weekday=WEDNESDAY, at=NOON, tz=PARIS)
    assert found == expected
    assert found.astimezone(PARIS).time() == NOON
    assert found.astimezone(PARIS).weekday() == WEDNESDAY


def test_a_cutoff_inside_the_skipped_hour_still_maps_to_one_instant():
    # 02:30 does not exist in Paris on 29 March 2026: taken as before the change (01:30 UTC).
    assert cutoff_on(date(2026, 3, 29), time(2, 30), PARIS) == utc(2026, 3, 29, 1, 30)


def test_other_time_zones_and_weekdays():
    tokyo = ZoneInfo("Asia/Tokyo")
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC.
    found = next_cutoff(utc(2026, 11, 25, 0, 0), weekday=0, at=time(8, 0), tz=tokyo)
    assert found == utc(2026, 11, 29, 23, 0)
    assert cycle_date(found, tokyo).isoformat() == "2026-11-30"
