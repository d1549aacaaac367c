"""Run a whole test session at another instant: `pytest --at first-of-month` (or an ISO time).

The suite must hold on any day of the year: a test either freezes its own
instant or asserts what is true whatever the date. This plugin is how that is
proved: `--at` (or `$TEST_AT`) moves this process's clock to the instant given
when the session starts, and lets it tick from there (time-machine patches the
clock process-wide, so the browser tests' live server thread sees it too). A
test that travels on its own still does. Processes a test starts (a Celery
worker, a second `manage.py`) read the same moved clock: the offset goes to
them in `$CADENCE_TEST_CLOCK_OFFSET`, which config/settings/test.py applies.

`INSTANTS` names the days the calendar is most likely to catch a test out, in
the demo organizations' time zone (Europe/Paris; their cut-off is Wednesday
12:00). `make calendar` runs the date-sensitive tests at each of them;
`tests/test_calendar.py` keeps the cheap part of that check in every run.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

PARIS = ZoneInfo("Europe/Paris")

#: name -> instant. Tuesdays to Mondays, month ends and starts, both clock changes, a leap day.
INSTANTS: dict[str, datetime] = {
    # A Monday: a new month and a new week begin together.
    "first-of-month": datetime(2027, 2, 1, 9, 30, tzinfo=PARIS),
    # The cut-off was yesterday at 12:00: last week's batch has just been locked.
    "day-after-cutoff": datetime(2027, 1, 14, 8, 0, tzinfo=PARIS),
    # A minute before the cut-off: the open batch is about to lock.
    "minute-before-cutoff": datetime(2027, 1, 13, 11, 59, tzinfo=PARIS),
    # A Sunday evening, the month's last hours.
    "last-day-of-month": datetime(2027, 1, 31, 22, 30, tzinfo=PARIS),
    # The Tuesday after the clocks went forward (28 March): the past weeks straddle it.
    "spring-clock-change": datetime(2027, 3, 30, 10, 0, tzinfo=PARIS),
    # The day the clocks go back (31 October), in the afternoon.
    "autumn-clock-change": datetime(2027, 10, 31, 15, 0, tzinfo=PARIS),
    # A leap day, a Tuesday.
    "leap-day": datetime(2028, 2, 29, 12, 0, tzinfo=PARIS),
}


def instant_of(value: str) -> datetime:
    """A name of `INSTANTS`, or an ISO 8601 date-time with its offset."""
    if value in INSTANTS:
        return INSTANTS[value]
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(
            f"--at {value!r}: give one of {', '.join(INSTANTS)} or an ISO 8601 date-time "
            "with its offset (2027-02-01T09:30+01:00)."
        ) from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"--at {value!r}: say its offset (…+01:00, …Z).")
    return instant


def pytest_addoption(parser):
    parser.addoption(
        "--at",
        default=os.environ.get("TEST_AT") or None,
        help="Run the session with the clock at this instant, ticking "
        f"(one of {', '.join(INSTANTS)}, or ISO 8601 with an offset). Default: $TEST_AT.",
    )


def pytest_configure(config):
    value = config.getoption("--at")
    if not value:
        return
    instant = instant_of(value)
    offset = instant - datetime.now(UTC)
    os.environ["CADENCE_TEST_CLOCK_OFFSET"] = str(offset.total_seconds())
    traveller = time_machine.travel(instant, tick=True)
    traveller.start()
    config.stash[_TRAVELLER] = (traveller, instant)


def pytest_unconfigure(config):
    travelled = config.stash.get(_TRAVELLER, None)
    if travelled is not None:
        travelled[0].stop()


def pytest_report_header(config):
    travelled = config.stash.get(_TRAVELLER, None)
    if travelled is not None:
        return f"clock: moved to {travelled[1].isoformat()} (--at), ticking"
    return None


_TRAVELLER = pytest.StashKey[tuple]()
