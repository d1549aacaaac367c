"""The billing calendar rules of subscriptions.schedule (pure functions, no database)."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subscriptions import schedule
from subscriptions.schedule import (
    DEFAULT_RETRY_DAYS,
    PERIODS,
    cycle_at,
    cycle_bounds,
    cycle_start,
    first_cycle_from,
    in_term,
    next_cycle,
    prorate,
    retry_at,
    term_end,
    upcoming,
)
from tests.helpers import paris

PARIS = ZoneInfo("Europe/Paris")
ONE_MICROSECOND = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(instant: datetime, tz: ZoneInfo = PARIS) -> datetime:
    """The naive local wall-clock date-time of an instant."""
    return instant.astimezone(tz).replace(tzinfo=None)


def starts(anchor, period, cycles, *, interval=1, tz=PARIS):
    return [
        cycle_start(anchor=anchor, period=period, interval=interval, cycle=n, tz=tz) for n in cycles
    ]


# --- month and year periods -----------------------------------------------------------


def test_a_month_end_anchor_clamps_to_short_months_and_returns_to_the_31st():
    # Given a monthly subscription anchored on January 31st 2027, 09:00 in Paris
    anchor = paris(2027, 1, 31, 9, 0)

    # When we list fourteen cycles
    dates = [local(start).date() for start in starts(anchor, "month", range(14))]

    # Then each falls on the 31st or the last day of a shorter month, Feb 29th in 2028
    assert dates == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
    ]


def test_a_month_end_anchor_keeps_its_local_time_through_dst():
    # Given a monthly subscription anchored on January 31st 2027, 09:00 in Paris
    anchor = paris(2027, 1, 31, 9, 0)

    # When we list cycles on both sides of the March change
    winter, _, summer = starts(anchor, "month", range(3))

    # Then the local time stays 09:00 while the UTC hour moves
    assert local(winter).time() == local(summer).time() == time(9, 0)
    assert (winter.hour, summer.hour) == (8, 7)


def test_a_30th_anchor_is_not_stuck_at_the_end_of_february():
    # Given a monthly subscription anchored on January 30th
    anchor = paris(2027, 1, 30, 9, 0)

    # When we list three cycles
    dates = [local(start).date() for start in starts(anchor, "month", range(3))]

    # Then February is clamped to the 28th but March is back on the 30th
    assert dates == [date(2027, 1, 30), date(2027, 2, 28), date(2027, 3, 30)]


def test_an_interval_of_two_months_moves_two_months_per_cycle_both_ways():
    # Given a subscription every two months anchored on January 15th 2027
    anchor = paris(2027, 1, 15, 12, 0)

    # When we list cycles -1 to 3
    dates = [local(s).date() for s in starts(anchor, "month", range(-1, 4), interval=2)]

    # Then they are two months apart, cycle -1 being in November 2026
    assert dates == [
        date(2026, 11, 15),
        date(2027, 1, 15),
        date(2027, 3, 15),
        date(2027, 5, 15),
        date(2027, 7, 15),
    ]


def test_a_yearly_february_29th_anchor_is_the_28th_in_common_years_and_29th_in_leap_years():
    # Given a yearly subscription anchored on February 29th 2028
    anchor = paris(2028, 2, 29, 8, 0)

    # When we list five cycles
    dates = [local(start).date() for start in starts(anchor, "year", range(5))]

    # Then common years fall on the 28th and the next leap year on the 29th again
    assert dates == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


# --- day and week periods -------------------------------------------------------------


def test_a_weekly_wednesday_10am_in_paris_stays_10am_local_across_both_dst_changes():
    # Given a weekly subscription anchored on Wednesday March 17th 2027, 10:00 in Paris
    anchor = paris(2027, 3, 17, 10, 0)

    # When we look at the Wednesdays around the March 28th and October 31st changes
    cycles = [0, 2, 32, 33]
    found = starts(anchor, "week", cycles)

    # Then each is a Wednesday at 10:00 local: 09:00 UTC in winter, 08:00 UTC in summer
    assert [local(start).date() for start in found] == [
        date(2027, 3, 17),
        date(2027, 3, 31),
        date(2027, 10, 27),
        date(2027, 11, 3),
    ]
    assert all(local(start).weekday() == calendar.WEDNESDAY for start in found)
    assert all(local(start).time() == time(10, 0) for start in found)
    assert [start.hour for start in found] == [9, 8, 8, 9]
    assert all(start.tzinfo is UTC for start in found)


def test_a_daily_subscription_keeps_its_local_time_and_is_23_hours_long_on_the_spring_day():
    # Given a daily subscription anchored on March 27th 2027, 10:00 in Paris
    anchor = paris(2027, 3, 27, 10, 0)

    # When we list three cycles across the night of the change
    found = starts(anchor, "day", range(3))

    # Then every cycle starts at 10:00 local and the short day lasts 23 hours
    assert [local(start) for start in found] == [
        datetime(2027, 3, d, 10, 0, tzinfo=PARIS).replace(tzinfo=None) for d in (27, 28, 29)
    ]
    assert found[1] - found[0] == timedelta(hours=23)
    assert found[2] - found[1] == timedelta(hours=24)


def test_a_local_time_skipped_by_the_spring_change_resolves_as_zoneinfo_fold_0():
    # Given a daily subscription at 02:30 in Paris, a time that does not exist on March 28th
    anchor = paris(2027, 3, 27, 2, 30)

    # When we list the cycles of the 27th, 28th and 29th
    found = starts(anchor, "day", range(3))

    # Then on the 28th it keeps the pre-change offset (01:30 UTC, shown as 03:30 local)
    assert found[1] == utc(2027, 3, 28, 1, 30)
    assert local(found[1]).time() == time(3, 30)
    # And the next day is back at 02:30 local, the anchor not being lost
    assert local(found[2]) == datetime(2027, 3, 29, 2, 30, tzinfo=PARIS).replace(tzinfo=None)


def test_a_local_time_repeated_by_the_autumn_change_is_its_first_occurrence():
    # Given a daily subscription at 02:30 in Paris, a time that occurs twice on October 31st
    anchor = paris(2027, 10, 30, 2, 30)

    # When we compute the cycle of October 31st
    found = cycle_start(anchor=anchor, period="day", interval=1, cycle=1, tz=PARIS)

    # Then it is the first 02:30, still in summer time (00:30 UTC)
    assert found == utc(2027, 10, 31, 0, 30)


def test_cycle_zero_is_the_anchor_itself_even_in_the_second_occurrence_of_a_repeated_hour():
    # Given an anchor at the second 02:30 of October 31st 2027 in Paris
    anchor = paris(2027, 10, 31, 2, 30).replace(fold=1)

    # When we compute cycle 0
    found = cycle_start(anchor=anchor, period="week", interval=1, cycle=0, tz="Europe/Paris")

    # Then it is that very instant
    assert found == utc(2027, 10, 31, 1, 30)


# --- locating an instant --------------------------------------------------------------


def test_cycle_bounds_are_the_start_of_the_cycle_and_the_start_of_the_next():
    # Given a monthly subscription anchored on January 31st
    anchor = paris(2027, 1, 31, 9, 0)

    # When we ask for the bounds of cycle 1
    start, end = cycle_bounds(anchor=anchor, period="month", interval=1, cycle=1, tz=PARIS)

    # Then it covers [February 28th, March 31st)
    assert (local(start).date(), local(end).date()) == (date(2027, 2, 28), date(2027, 3, 31))


def test_cycle_at_an_exact_cycle_start_is_that_cycle_and_one_microsecond_before_is_the_previous():
    # Given a monthly subscription and the start of its cycle 3
    anchor = paris(2027, 1, 31, 9, 0)
    kwargs = {"anchor": anchor, "period": "month", "interval": 1, "tz": PARIS}
    third = cycle_start(cycle=3, **kwargs)

    # When we locate that instant and the microsecond before it
    # Then the start belongs to cycle 3 and the instant before to cycle 2
    assert cycle_at(at=third, **kwargs) == 3
    assert cycle_at(at=third - ONE_MICROSECOND, **kwargs) == 2
    # And the anchor is cycle 0, just before it cycle -1
    assert cycle_at(at=anchor, **kwargs) == 0
    assert cycle_at(at=anchor - ONE_MICROSECOND, **kwargs) == -1


def test_cycle_at_accepts_an_instant_expressed_in_another_zone():
    # Given a weekly subscription in Paris and the start of cycle 2 expressed in New York
    anchor = paris(2027, 3, 17, 10, 0)
    kwargs = {"anchor": anchor, "period": "week", "interval": 1, "tz": PARIS}
    at = cycle_start(cycle=2, **kwargs).astimezone(ZoneInfo("America/New_York"))

    # When we locate it
    # Then it is cycle 2, and it is also the first cycle starting at or after it
    assert cycle_at(at=at, **kwargs) == 2
    assert first_cycle_from(at=at, **kwargs) == 2


def test_first_cycle_from_an_exact_start_is_that_cycle_and_just_after_it_is_the_next():
    # Given a yearly subscription and the start of its cycle 2
    anchor = paris(2028, 2, 29, 8, 0)
    kwargs = {"anchor": anchor, "period": "year", "interval": 1, "tz": PARIS}
    second = cycle_start(cycle=2, **kwargs)

    # When we ask for the first cycle starting at or after instants around it
    # Then an exact start counts, and one microsecond later the next cycle is the first
    assert first_cycle_from(at=second, **kwargs) == 2
    assert first_cycle_from(at=second + ONE_MICROSECOND, **kwargs) == 3
    assert first_cycle_from(at=second - ONE_MICROSECOND, **kwargs) == 2
    assert first_cycle_from(at=anchor - timedelta(days=400), **kwargs) == -1


def test_cycle_at_a_century_away_evaluates_only_a_handful_of_cycle_starts(monkeypatch):
    # Given a daily subscription and a date about 36,500 cycles later
    anchor = paris(2027, 3, 17, 10, 0)
    at = anchor + timedelta(days=36_500, hours=5)
    calls = []
    original = schedule._start

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(schedule, "_start", counting)

    # When we locate it
    found = cycle_at(anchor=anchor, period="day", interval=1, at=at, tz=PARIS)

    # Then it is the right cycle, found without walking through the cycles in between
    assert found == 36_500
    assert len(calls) <= 4


# --- skips and fixed terms ------------------------------------------------------------


def test_next_cycle_jumps_over_skipped_cycles():
    # Given cycles 3, 4 and 6 are skipped
    skipped = {3, 4, 6}

    # When we ask for the cycle after 2, then after 5
    # Then cycle 5 follows 2, and 7 follows 5
    assert next_cycle(after=2, skipped=skipped) == 5
    assert next_cycle(after=5, skipped=skipped) == 7


def test_next_cycle_without_skips_is_the_following_number_and_ignores_past_skips():
    # Given no skips, or only skips at or before the current cycle
    # When we ask for the next cycle
    # Then it is simply the next number
    assert next_cycle(after=0) == 1
    assert next_cycle(after=-1) == 0
    assert next_cycle(after=4, skipped=[1, 2, 4]) == 5


def test_term_end_is_the_start_of_the_cycle_after_the_last_one():
    # Given a 3-cycle fixed-term monthly subscription anchored on January 31st
    anchor = paris(2027, 1, 31, 9, 0)
    kwargs = {"anchor": anchor, "period": "month", "interval": 1, "tz": PARIS}

    # When we compute its end
    end = term_end(cycles=3, **kwargs)

    # Then it is the start of cycle 3, April 30th
    assert end == cycle_start(cycle=3, **kwargs)
    assert local(end).date() == date(2027, 4, 30)


def test_a_cycle_is_in_term_only_if_it_starts_strictly_before_the_end():
    # Given a fixed end date
    ends_at = utc(2027, 4, 30, 7, 0)

    # When a cycle starts exactly at it, a microsecond before, or there is no end
    # Then only a strictly earlier start, or an open-ended subscription, is in term
    assert not in_term(cycle_starts_at=ends_at, ends_at=ends_at)
    assert in_term(cycle_starts_at=ends_at - ONE_MICROSECOND, ends_at=ends_at)
    assert not in_term(cycle_starts_at=ends_at + ONE_MICROSECOND, ends_at=ends_at)
    assert in_term(cycle_starts_at=ends_at, ends_at=None)


def test_upcoming_leaves_out_skipped_cycles_and_stops_at_the_end_of_the_term():
    # Given a 5-cycle fixed-term monthly subscription whose cycle 2 is skipped
    anchor = paris(2027, 1, 15, 9, 0)
    kwargs = {"anchor": anchor, "period": "month", "interval": 1, "tz": PARIS}
    ends_at = term_end(cycles=5, **kwargs)

    # When we ask for the next 10 cycles after cycle 0
    found = upcoming(after=0, count=10, skipped={2}, ends_at=ends_at, **kwargs)

    # Then we get cycles 1, 3 and 4 with their starts, cycle 5 being past the end
    assert found == [(n, cycle_start(cycle=n, **kwargs)) for n in (1, 3, 4)]


def test_upcoming_without_an_end_returns_count_cycles_not_counting_skipped_ones():
    # Given an open-ended weekly subscription whose cycles 2 and 3 are skipped
    anchor = paris(2027, 3, 17, 10, 0)
    kwargs = {"anchor": anchor, "period": "week", "interval": 1, "tz": PARIS}

    # When we ask for the next 3 cycles after cycle 0, then for none
    found = upcoming(after=0, count=3, skipped=[2, 3], **kwargs)

    # Then we get cycles 1, 4 and 5, and an empty list for a count of zero
    assert [n for n, _ in found] == [1, 4, 5]
    assert local(found[1][1]).date() == date(2027, 4, 14)
    assert upcoming(after=0, count=0, **kwargs) == []


# --- proration ------------------------------------------------------------------------

APRIL = {"period_start": utc(2027, 4, 1), "period_end": utc(2027, 5, 1)}  # 30 days


def test_a_change_halfway_credits_half_the_old_amount_and_charges_half_the_new():
    # Given a 30-day period at 30.00
    # When the amount changes to 20.00 exactly halfway
    result = prorate(
        old_amount=Decimal("30.00"), new_amount=Decimal("20.00"), at=utc(2027, 4, 16), **APRIL
    )

    # Then 15.00 is credited, 10.00 charged, and the customer is owed 5.00
    assert result.credit == Decimal("15.00")
    assert result.charge == Decimal("10.00")
    assert result.net == Decimal("-5.00")
    assert (result.remaining_seconds, result.total_seconds) == (15 * 86400, 30 * 86400)


def test_a_change_at_the_start_of_the_period_credits_the_full_old_amount():
    # Given a 30-day period at 30.00
    # When the amount changes to 45.50 at the very start
    result = prorate(
        old_amount=Decimal("30.00"), new_amount=Decimal("45.50"), at=utc(2027, 4, 1), **APRIL
    )

    # Then the whole old amount is credited and the whole new amount charged
    assert (result.credit, result.charge, result.net) == (
        Decimal("30.00"),
        Decimal("45.50"),
        Decimal("15.50"),
    )


def test_a_change_in_the_last_second_moves_no_money():
    # Given a 30-day period
    # When the amount changes half a second before its end
    at = utc(2027, 5, 1) - timedelta(milliseconds=500)
    result = prorate(old_amount=Decimal("30.00"), new_amount=Decimal("90.00"), at=at, **APRIL)

    # Then no whole second remains and nothing is credited or charged
    assert result.remaining_seconds == 0
    assert (result.credit, result.charge) == (Decimal("0.00"), Decimal("0.00"))


@pytest.mark.parametrize(
    ("amount", "half"),
    [
        ("10.05", "5.02"),  # exact share 5.025: half-even rounds down to the even cent
        ("10.15", "5.08"),  # exact share 5.075: half-even rounds up to the even cent
        ("0.01", "0.00"),  # exact share 0.005
        ("0.03", "0.02"),  # exact share 0.015
    ],
)
def test_a_share_ending_in_half_a_cent_is_rounded_half_even(amount, half):
    # Given an amount whose half ends in exactly half a cent
    # When it is prorated halfway through the period
    result = prorate(
        old_amount=Decimal(amount), new_amount=Decimal(amount), at=utc(2027, 4, 16), **APRIL
    )

    # Then the credit and the charge are rounded to the even cent
    assert result.credit == result.charge == Decimal(half)


def test_a_change_and_its_immediate_reverse_net_to_exactly_zero():
    # Given a change from 29.99 to 9.99 a third of the way through a period (shares inexact)
    at = utc(2027, 4, 11, 3, 17, 41)
    there = prorate(old_amount=Decimal("29.99"), new_amount=Decimal("9.99"), at=at, **APRIL)

    # When the change is reversed at the same instant
    back = prorate(old_amount=Decimal("9.99"), new_amount=Decimal("29.99"), at=at, **APRIL)

    # Then the two nets cancel to the cent
    assert there.net + back.net == Decimal("0.00")


def test_prorate_counts_elapsed_seconds_across_a_dst_change_in_a_local_zone():
    # Given a month-long period expressed in Paris time, spanning the March change
    start, end = paris(2027, 3, 15), paris(2027, 4, 15)

    # When the amount changes in the middle of it
    result = prorate(
        old_amount=Decimal("31.00"),
        new_amount=Decimal("31.00"),
        period_start=start,
        period_end=end,
        at=paris(2027, 3, 31),
    )

    # Then the seconds are real elapsed seconds (one hour short of 31 days)
    assert result.total_seconds == 31 * 86400 - 3600
    assert result.remaining_seconds == 15 * 86400


@pytest.mark.parametrize(
    "at",
    [utc(2027, 3, 31, 23, 59, 59), utc(2027, 5, 1), utc(2027, 6, 1)],
    ids=["before-start", "at-end", "after-end"],
)
def test_prorate_refuses_an_instant_outside_the_period(at):
    # Given a 30-day period
    # When we prorate at an instant outside [start, end)
    # Then it is refused
    with pytest.raises(ValueError, match="outside the period"):
        prorate(old_amount=Decimal("10.00"), new_amount=Decimal("20.00"), at=at, **APRIL)


@pytest.mark.parametrize(
    ("old", "new"),
    [(Decimal("-0.01"), Decimal("1.00")), (Decimal("1.00"), Decimal("-5")), (Decimal("NaN"), 1)],
)
def test_prorate_refuses_a_negative_or_invalid_amount(old, new):
    # Given a negative or not-a-number amount
    # When we prorate
    # Then it is refused
    with pytest.raises(ValueError, match="amount"):
        prorate(old_amount=old, new_amount=new, at=utc(2027, 4, 16), **APRIL)


def test_prorate_refuses_a_float_amount():
    # Given an amount as a float
    # When we prorate
    # Then it is refused: money is Decimal only
    with pytest.raises(TypeError, match="Decimal"):
        prorate(old_amount=10.0, new_amount=Decimal("1.00"), at=utc(2027, 4, 16), **APRIL)


# --- dunning --------------------------------------------------------------------------


def test_retries_follow_the_default_schedule_then_give_up():
    # Given a charge that first failed on March 1st at 06:00 UTC
    first_failed_at = utc(2027, 3, 1, 6, 0)

    # When we ask for the next retry after each failed attempt
    retries = [
        retry_at(first_failed_at=first_failed_at, attempts=n, retry_days=DEFAULT_RETRY_DAYS)
        for n in (1, 2, 3, 4)
    ]

    # Then it is 1, 3 and 5 days after the first failure, and then we give up
    assert DEFAULT_RETRY_DAYS == (1, 3, 5)
    assert retries == [utc(2027, 3, 2, 6, 0), utc(2027, 3, 4, 6, 0), utc(2027, 3, 6, 6, 0), None]


def test_retry_days_are_24_hour_days_even_across_a_dst_change():
    # Given a first failure at 10:00 in Paris the day before the spring change
    first_failed_at = paris(2027, 3, 27, 10, 0)

    # When we ask for the first retry one day later
    found = retry_at(first_failed_at=first_failed_at, attempts=1, retry_days=(1,))

    # Then it is 24 elapsed hours later (11:00 local, not 10:00), in UTC
    assert found == utc(2027, 3, 28, 9, 0)
    assert found - first_failed_at == timedelta(hours=24)
    assert found.tzinfo is UTC


def test_retry_at_refuses_a_count_of_attempts_below_one():
    # Given no failed attempt
    # When we ask for a retry
    # Then it is refused
    with pytest.raises(ValueError, match="attempts"):
        retry_at(first_failed_at=utc(2027, 3, 1), attempts=0, retry_days=DEFAULT_RETRY_DAYS)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"period": "fortnight"}, "unknown period"),
        ({"interval": 0}, "interval"),
        ({"interval": -1}, "interval"),
        ({"anchor": paris(2027, 1, 31, 9, 0).replace(tzinfo=None)}, "aware"),
        ({"tz": "Europe/Pariss"}, "time zone"),
    ],
    ids=["unknown-period", "zero-interval", "negative-interval", "naive-anchor", "unknown-tz"],
)
def test_cycle_start_refuses_bad_input(changes, message):
    # Given a valid schedule with one bad argument
    kwargs = {
        "anchor": paris(2027, 1, 31, 9, 0),
        "period": "month",
        "interval": 1,
        "cycle": 1,
        "tz": PARIS,
        **changes,
    }

    # When we compute a cycle start
    # Then it is refused with a ValueError
    with pytest.raises(ValueError, match=message):
        cycle_start(**kwargs)


def test_cycle_at_refuses_a_naive_instant():
    # Given a naive instant
    at = paris(2027, 3, 1).replace(tzinfo=None)

    # When we locate it
    # Then it is refused
    with pytest.raises(ValueError, match="aware"):
        cycle_at(anchor=paris(2027, 1, 31), period="month", interval=1, at=at, tz=PARIS)


def test_term_end_refuses_a_term_of_no_cycles():
    # Given a fixed term of zero cycles
    # When we compute its end
    # Then it is refused
    with pytest.raises(ValueError, match="at least one cycle"):
        term_end(anchor=paris(2027, 1, 31), period="month", interval=1, cycles=0, tz=PARIS)


def test_upcoming_refuses_a_negative_count():
    # Given a negative count
    # When we ask for upcoming cycles
    # Then it is refused
    with pytest.raises(ValueError, match="count"):
        upcoming(anchor=paris(2027, 1, 31), period="month", interval=1, tz=PARIS, after=0, count=-1)


# --- properties -----------------------------------------------------------------------

ZONES = ("UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")
PROPERTY = settings(deadline=None)  # examples: the profile's (tests/conftest.py)
CYCLES = 40
INTERVALS = st.integers(1, 12)


@st.composite
def schedules(draw, periods=PERIODS, intervals=INTERVALS):
    """A random (anchor, period, interval, zone): aware anchor in 2000-2100, to the minute."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
    minute = draw(st.integers(0, 24 * 60 - 1))
    fold = draw(st.sampled_from((0, 1)))
    anchor = datetime.combine(day, time(minute // 60, minute % 60, tzinfo=zone, fold=fold))
    if draw(st.booleans()):
        anchor = anchor.astimezone(UTC)
    return anchor, draw(st.sampled_from(periods)), draw(intervals), zone


def expected_local_date(anchor_local: datetime, period: str, steps: int) -> date:
    """The local date the rules promise for `steps` periods after the anchor."""
    if period == "day":
        return anchor_local.date() + timedelta(days=steps)
    if period == "week":
        return anchor_local.date() + timedelta(weeks=steps)
    months = steps if period == "month" else 12 * steps
    year, month0 = divmod(anchor_local.year * 12 + anchor_local.month - 1 + months, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor_local.day, last_day))


def exists(naive: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive local date-time is shown by the clock (not in a DST gap)."""
    # Through UTC: astimezone() to the same zone would return the time unchanged.
    return local(naive.replace(tzinfo=zone).astimezone(UTC), zone) == naive


@PROPERTY
@given(schedules())
def test_cycle_starts_strictly_increase(schedule_):
    # Given any schedule
    anchor, period, interval, zone = schedule_

    # When we list 40 consecutive cycles
    found = starts(anchor, period, range(CYCLES), interval=interval, tz=zone)

    # Then each starts strictly after the previous one, all in UTC
    assert all(a < b for a, b in itertools.pairwise(found))
    assert all(start.tzinfo is UTC for start in found)


@PROPERTY
@given(schedules())
def test_the_anchor_is_never_lost(schedule_):
    # Given any schedule
    anchor, period, interval, zone = schedule_
    anchor_local = anchor.astimezone(zone)

    # When we list 40 consecutive cycles
    found = starts(anchor, period, range(CYCLES), interval=interval, tz=zone)

    # Then cycle 0 is the anchor itself (the same instant: compared in UTC, since Python never
    # finds a local time in a DST gap or fold equal to a time of another zone, PEP 495)
    assert found[0] == anchor.astimezone(UTC)
    # And every cycle is on the promised local date (the anchor's day, clamped to the month
    # end) at the anchor's local time, unless that time falls in a DST gap
    for n, start in enumerate(found[1:], start=1):
        promised = datetime.combine(
            expected_local_date(anchor_local, period, n * interval),
            anchor_local.time().replace(fold=0),
        )
        if exists(promised, zone):
            assert local(start, zone) == promised
        else:
            assert start == promised.replace(tzinfo=zone, fold=0).astimezone(UTC)
            assert local(start, zone) > promised
        if period == "month":
            month_days = calendar.monthrange(promised.year, promised.month)[1]
            assert promised.day == min(anchor_local.day, month_days)


@PROPERTY
@given(schedules(periods=("month",), intervals=st.just(1)))
def test_a_monthly_schedule_never_skips_or_doubles_a_month(schedule_):
    # Given any monthly schedule with an interval of one
    anchor, period, interval, zone = schedule_

    # When we list 40 consecutive cycles
    found = starts(anchor, period, range(CYCLES), interval=interval, tz=zone)

    # Then their local months follow one another exactly
    months = [start.astimezone(zone).year * 12 + start.astimezone(zone).month for start in found]
    assert [b - a for a, b in itertools.pairwise(months)] == [1] * (CYCLES - 1)


@PROPERTY
@given(schedules(), st.integers(-CYCLES, CYCLES))
def test_cycle_at_finds_the_cycle_from_its_first_to_its_last_microsecond(schedule_, n):
    # Given any schedule and cycle number
    anchor, period, interval, zone = schedule_
    kwargs = {"anchor": anchor, "period": period, "interval": interval, "tz": zone}
    start, end = cycle_bounds(cycle=n, **kwargs)

    # When we locate its first and its last microsecond
    # Then both belong to that cycle, and the cycle's start is the first one from it
    assert cycle_at(at=start, **kwargs) == n
    assert cycle_at(at=end - ONE_MICROSECOND, **kwargs) == n
    assert first_cycle_from(at=start, **kwargs) == n
    assert first_cycle_from(at=start + ONE_MICROSECOND, **kwargs) == n + 1


@PROPERTY
@given(schedules(), st.integers(-20_000 * 86_400, 20_000 * 86_400))
def test_any_instant_lies_in_the_cycle_cycle_at_returns(schedule_, offset_seconds):
    # Given any schedule and an instant up to ~55 years from the anchor
    anchor, period, interval, zone = schedule_
    kwargs = {"anchor": anchor, "period": period, "interval": interval, "tz": zone}
    at = anchor + timedelta(seconds=offset_seconds)

    # When we locate it
    n = cycle_at(at=at, **kwargs)
    first = first_cycle_from(at=at, **kwargs)

    # Then it lies in [start of n, start of n + 1), and `first` is the first start from it
    start, end = cycle_bounds(cycle=n, **kwargs)
    assert start <= at < end
    assert cycle_start(cycle=first, **kwargs) >= at
    assert cycle_start(cycle=first - 1, **kwargs) < at


amounts = st.decimals(min_value=0, max_value=100_000, places=2)


@PROPERTY
@given(
    old=amounts,
    new=amounts,
    start_day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    length=st.integers(1_000_000, 400 * 86_400 * 1_000_000),  # microseconds
    data=st.data(),
)
def test_a_change_and_its_reverse_cancel_and_shares_stay_within_the_amounts(
    old, new, start_day, length, data
):
    # Given any period and an instant within it
    period_start = datetime.combine(start_day, time(tzinfo=UTC))
    period_end = period_start + timedelta(microseconds=length)
    at = period_start + timedelta(microseconds=data.draw(st.integers(0, length - 1)))
    bounds = {"period_start": period_start, "period_end": period_end, "at": at}

    # When the amount changes from old to new, then back at the same instant
    there = prorate(old_amount=old, new_amount=new, **bounds)
    back = prorate(old_amount=new, new_amount=old, **bounds)

    # Then the two changes net to zero
    assert there.net + back.net == 0
    # And each share is between zero and its amount
    assert Decimal(0) <= there.credit <= old
    assert Decimal(0) <= there.charge <= new
    assert 0 <= there.remaining_seconds <= there.total_seconds


# --- the shop's calendar (rule=WOOCOMMERCE, in GMT) -------------------------------------

SHOP = {"tz": "UTC", "rule": schedule.WOOCOMMERCE}


def shop_starts(anchor, period, cycles, *, interval=1):
    return [
        cycle_start(anchor=anchor, period=period, interval=interval, cycle=n, **SHOP)
        for n in cycles
    ]


def wcs_add_time(naive: datetime, period: str, interval: int) -> datetime:
    """WooCommerce Subscriptions' `wcs_add_time`, step for step, on a naive GMT date-time:
    `wcs_add_months` for months, PHP's `strtotime("+N year")` (Feb 29 overflows) for years."""
    if period in ("day", "week"):
        return naive + timedelta(days=interval * (7 if period == "week" else 1))
    if period == "year":
        try:
            return naive.replace(year=naive.year + interval)
        except ValueError:  # Feb 29 in a common year: PHP gives Mar 1
            return naive.replace(year=naive.year + interval, month=3, day=1)
    target_year, target_month0 = divmod(naive.year * 12 + naive.month - 1 + interval, 12)
    days_in_next_month = calendar.monthrange(target_year, target_month0 + 1)[1]
    last_day = calendar.monthrange(naive.year, naive.month)[1]
    if naive.day == last_day or naive.day > days_in_next_month:
        for _ in range(interval):
            next_month = naive + timedelta(days=3)
            naive = next_month.replace(
                day=calendar.monthrange(next_month.year, next_month.month)[1]
            )
        return naive
    return naive.replace(year=target_year, month=target_month0 + 1)


def test_a_weekly_shop_subscription_keeps_its_gmt_time_across_both_dst_changes():
    # Given a weekly shop subscription started on Wednesday July 1st 2026, 10:00:07 GMT
    anchor = utc(2026, 7, 1, 10, 0, 7)

    # When we list its cycles into November (Paris changes its clocks on October 25th)
    found = shop_starts(anchor, "week", range(22))

    # Then every one starts at 10:00:07 GMT, exactly seven days after the previous one
    assert all(start.time() == time(10, 0, 7) for start in found)
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(found))
    # And so at 12:00:07 in Paris in summer, 11:00:07 in winter
    assert local(found[16]).time() == time(12, 0, 7)  # October 21st
    assert local(found[17]).time() == time(11, 0, 7)  # October 28th


def test_shop_months_stick_to_month_ends_once_a_renewal_lands_on_one():
    def dates(anchor, count=6, interval=1):
        return [s.date() for s in shop_starts(anchor, "month", range(count), interval=interval)]

    # A 30th meets February: the last day of every month from then on
    assert dates(utc(2027, 1, 30, 9)) == [
        date(2027, 1, 30),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
    ]
    # A start on the last day of a month (February 28th, 2027) sticks at once
    assert dates(utc(2027, 2, 28, 9), 3) == [
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    # The 15th never moves; two months at a time from a 31st keeps month ends
    assert dates(utc(2027, 1, 15, 9), 3) == [
        date(2027, 1, 15),
        date(2027, 2, 15),
        date(2027, 3, 15),
    ]
    assert dates(utc(2026, 12, 31, 9), 3, interval=2) == [
        date(2026, 12, 31),
        date(2027, 2, 28),
        date(2027, 4, 30),
    ]


def test_a_shop_february_29th_renews_on_march_1st_and_stays_there():
    found = shop_starts(utc(2028, 2, 29, 8, 30), "year", range(6))

    assert [s.date() for s in found] == [
        date(2028, 2, 29),
        date(2029, 3, 1),
        date(2030, 3, 1),
        date(2031, 3, 1),
        date(2032, 3, 1),
        date(2033, 3, 1),
    ]
    assert all(s.time() == time(8, 30) for s in found)


def test_the_rule_is_checked():
    with pytest.raises(ValueError, match="rule"):
        cycle_start(anchor=utc(2027, 1, 1), period="month", interval=1, cycle=1, tz=UTC, rule="x")


def test_nearest_cycle_is_the_cycle_starting_nearest_and_the_earlier_at_half_way():
    kwargs = {"anchor": utc(2026, 7, 1, 10), "period": "week", "interval": 1, **SHOP}

    assert schedule.nearest_cycle(at=utc(2026, 7, 8, 10, 0, 3), **kwargs) == 1  # a bit late
    assert schedule.nearest_cycle(at=utc(2026, 7, 15, 9, 59), **kwargs) == 2  # a bit early
    assert schedule.nearest_cycle(at=utc(2026, 7, 11, 22), **kwargs) == 1  # half way
    assert schedule.nearest_cycle(at=utc(2026, 6, 30, 10), **kwargs) == 0


@st.composite
def shop_schedules(draw):
    """A random shop subscription: its start in GMT to the second, period and interval."""
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
    second = draw(st.integers(0, 86_399))
    anchor = datetime.combine(day, time(second // 3600, second // 60 % 60, second % 60, tzinfo=UTC))
    return anchor, draw(st.sampled_from(PERIODS)), draw(st.integers(1, 6))


@PROPERTY
@given(shop_schedules())
def test_every_shop_cycle_is_the_shops_renewals_added_one_at_a_time(schedule_):
    # Given any shop subscription
    anchor, period, interval = schedule_

    # When we list 40 cycles
    found = shop_starts(anchor, period, range(CYCLES), interval=interval)

    # Then each is the previous one plus one renewal, as the shop computes it, at the same GMT
    # time of day, whatever the organization's time zone
    assert found[0] == anchor
    for previous, start in itertools.pairwise(found):
        expected = wcs_add_time(previous.replace(tzinfo=None), period, interval)
        assert start == expected.replace(tzinfo=UTC)
        assert start.time() == anchor.time()


@PROPERTY
@given(shop_schedules(), st.integers(-CYCLES, CYCLES), st.integers(-43_199, 43_199))
def test_shop_cycles_are_found_from_their_first_to_their_last_microsecond(schedule_, n, shift):
    # Given any shop subscription and cycle number
    anchor, period, interval = schedule_
    kwargs = {"anchor": anchor, "period": period, "interval": interval, **SHOP}
    start, end = cycle_bounds(cycle=n, **kwargs)

    # Then cycles follow one another, and the cycle is found from its first to its last instant
    assert start < end == cycle_start(cycle=n + 1, **kwargs)
    assert cycle_at(at=start, **kwargs) == n
    assert cycle_at(at=end - ONE_MICROSECOND, **kwargs) == n
    assert first_cycle_from(at=start + ONE_MICROSECOND, **kwargs) == n + 1
    # And a date the shop reports less than half a day off a cycle's start is told that cycle
    assert schedule.nearest_cycle(at=start + timedelta(seconds=shift), **kwargs) == n
