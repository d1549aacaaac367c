"""Billing calendar arithmetic: cycle dates, fixed terms, skips, proration and dunning.

This module owns the *rules* of the subscription calendar. It is pure: no Django, no
database, no clock (every instant is an argument), so the rules can be tested exhaustively
and quoted verbatim in the README. Models and services call it; it never calls them.

Cycles
------
A subscription is *anchored* at an aware instant (``anchor``) and renews every ``interval``
``period`` s, ``period`` being one of ``PERIODS`` (day, week, month, year). Cycles are
numbered from the anchor: cycle 0 starts at the anchor, cycle 1 one interval later, cycle -1
one interval earlier.

1. A cycle start is computed only from the anchor and the cycle number, never from the
   previous date, so rounding never accumulates: the anchor is never lost.
2. Calendar arithmetic happens on the local wall clock of the subscription's time zone
   (``tz``): the anchor is converted to local time, ``cycle * interval`` periods are added
   to the local date and time, and the result is converted back. Results are aware
   datetimes in UTC.
3. Month periods keep the anchor's day of month and clamp it to the last day of shorter
   months, without sticking to month ends: Jan 31 -> Feb 28 (29 in leap years) -> Mar 31
   -> Apr 30; Jan 30 -> Feb 28 -> Mar 30.
4. Year periods keep the anchor's month and day; Feb 29 becomes Feb 28 in non-leap years
   and is Feb 29 again in leap years.
5. Day and week periods keep the local wall-clock time across daylight-saving changes: a
   weekly Wednesday 10:00 Europe/Paris stays at 10:00 in Paris, i.e. 09:00 UTC in winter
   and 08:00 UTC in summer. Month and year periods keep it too.
6. A local time that does not exist (the clock jumps forward over it) is resolved the way
   ``zoneinfo`` does with ``fold=0``: with the UTC offset in force *before* the jump, so it
   lands on the wall clock later by the size of the jump (02:30 in Paris on the night of
   the spring change is 01:30 UTC, shown as 03:30). A local time that occurs twice (the
   clock falls back) is its first occurrence. Cycle 0 is always exactly the anchor.
7. A cycle covers ``[start of the cycle, start of the next cycle)``; the cycle containing
   an instant before the anchor is negative.

The shop's calendar (``rule=WOOCOMMERCE``)
------------------------------------------
A subscription WooCommerce Subscriptions charges is mirrored, and its dates must be the
shop's to the second. The shop counts in GMT timestamps (``wcs_add_time``: PHP's
``strtotime`` in UTC, and ``wcs_add_months`` for months), each renewal from the previous
date. Mirrored subscriptions are computed with ``tz="UTC"`` and ``rule=WOOCOMMERCE``:

12. Day and week periods are exact multiples of 24 hours and 7 days from the anchor: the
    UTC time of day never moves, and the local one moves with daylight saving (a 10:00
    UTC renewal is 12:00 in Paris in summer, 11:00 in winter).
13. Month periods keep the anchor's day until a renewal starts on the last day of its
    month or lands in a month too short for the day; from that renewal on, every date is
    the last day of its month (Jan 30 -> Feb 28 -> Mar 31 -> Apr 30; Feb 28, 2027 -> Mar
    31). Rule 3's anchor day does not come back.
14. Year periods keep the month and day; Feb 29 plus a year is Mar 1 (PHP's overflow),
    and stays Mar 1 after.
15. Before the anchor (the shop never counts backwards) months and years keep the
    anchor's day, clamped (rules 3-4). Rules 1, 6 and 7 hold as for the default rule.

Fixed terms and skips
---------------------
8. A fixed-term subscription of ``n`` cycles ends at the start of cycle ``n``
   (``term_end``). A cycle is charged only if it starts strictly before the end date
   (``in_term``); no end date means open-ended.
9. A skipped cycle is not charged or shipped; the next cycle is the first later cycle
   number that is not skipped (``next_cycle``). Skipping does not move later dates.

Proration
---------
10. A change of amount at instant ``t`` within ``[period_start, period_end)`` credits the
    unused share of the old amount and charges the remaining share of the new one, by the
    whole second: ``remaining = floor(period_end - t)`` and ``total = floor(period_end -
    period_start)`` in seconds, ``credit = old_amount * remaining / total`` and
    ``charge = new_amount * remaining / total``, each rounded half-even to the cent
    separately. ``net = charge - credit`` (positive: the customer owes; negative: a credit).
    Because both shares are rounded separately, a change followed at once by the reverse
    change nets to exactly zero. Computation uses ``Decimal`` only.

Dunning
-------
11. After ``n`` failed charge attempts (1 = the first attempt failed), the next retry is
    ``retry_days[n - 1]`` days (of 24 hours) after the *first* failure; once ``n`` exceeds
    the number of retry delays, we give up. The default schedule ``DEFAULT_RETRY_DAYS``
    retries 1, 3 and 5 days after the first failure.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ANCHOR_DAY",
    "DEFAULT_RETRY_DAYS",
    "PERIODS",
    "RULES",
    "WOOCOMMERCE",
    "Proration",
    "cycle_at",
    "cycle_bounds",
    "cycle_start",
    "first_cycle_from",
    "in_term",
    "nearest_cycle",
    "next_cycle",
    "prorate",
    "retry_at",
    "term_end",
    "upcoming",
]

PERIODS = ("day", "week", "month", "year")

#: How months and years are added: keeping the anchor's day (rules 3-4), or as the shop
#: does, each renewal from the previous date (rules 13-14).
ANCHOR_DAY = "anchor_day"
WOOCOMMERCE = "woocommerce"
RULES = (ANCHOR_DAY, WOOCOMMERCE)

DEFAULT_RETRY_DAYS = (1, 3, 5)

CENT = Decimal("0.01")
_ONE_SECOND = timedelta(seconds=1)


# --- validation helpers ---------------------------------------------------------------


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone: {tz!r}") from exc


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return value


def _require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return value


def _check_schedule(anchor: datetime, period: str, interval: int, rule: str = ANCHOR_DAY) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")
    if _require_int("interval", interval) < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    _require_aware("anchor", anchor)


def _utc(name: str, value: datetime) -> datetime:
    """``value`` as an aware UTC datetime.

    Arithmetic and comparisons between datetimes sharing a tzinfo use the wall clock, not
    elapsed time, so every instant is converted to UTC before being compared or subtracted.
    """
    return _require_aware(name, value).astimezone(UTC)


def _local_naive(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# --- cycle dates ----------------------------------------------------------------------


def _add_periods(local: datetime, period: str, count: int) -> datetime:
    """Add ``count`` periods to a naive local date-time (month/year clamp the day)."""
    if period == "day":
        return local + timedelta(days=count)
    if period == "week":
        return local + timedelta(weeks=count)
    months = count if period == "month" else 12 * count
    year, month0 = divmod(local.year * 12 + (local.month - 1) + months, 12)
    month = month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _shop_months(local: datetime, interval: int, renewals: int) -> datetime:
    """``renewals`` renewals of ``interval`` months from ``local``, as the shop adds them
    (rule 13: ``wcs_add_months`` applied once per renewal)."""
    day = local.day
    month_index = local.year * 12 + local.month - 1  # months since year 0
    month_end = False
    for _ in range(renewals):
        year, month0 = divmod(month_index, 12)
        target_year, target_month0 = divmod(month_index + interval, 12)
        if day == _days_in(year, month0 + 1) or day > _days_in(target_year, target_month0 + 1):
            month_end = True  # from now on, every renewal is the last day of its month
        month_index += interval
        if month_end:
            break
    month_index = local.year * 12 + local.month - 1 + interval * renewals
    year, month0 = divmod(month_index, 12)
    last = _days_in(year, month0 + 1)
    return local.replace(year=year, month=month0 + 1, day=last if month_end else min(day, last))


def _shop_years(local: datetime, interval: int, renewals: int) -> datetime:
    """``renewals`` renewals of ``interval`` years, as PHP's ``strtotime`` adds them (rule 14)."""
    year = local.year
    if (local.month, local.day) == (2, 29):
        for _ in range(renewals):
            year += interval
            if not calendar.isleap(year):  # Feb 29 overflows to Mar 1, and stays there
                return local.replace(year=local.year + interval * renewals, month=3, day=1)
    return local.replace(year=local.year + interval * renewals)


def _add_cycles(local: datetime, period: str, interval: int, cycle: int, rule: str) -> datetime:
    """Add ``cycle`` cycles of ``interval`` periods to a naive local date-time."""
    if rule == WOOCOMMERCE and cycle > 0 and period == "month":
        return _shop_months(local, interval, cycle)
    if rule == WOOCOMMERCE and cycle > 0 and period == "year":
        return _shop_years(local, interval, cycle)
    return _add_periods(local, period, cycle * interval)


def _start(
    anchor: datetime,
    period: str,
    interval: int,
    cycle: int,
    zone: ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> datetime:
    """cycle_start without validation (arguments already checked)."""
    if cycle == 0:
        return anchor.astimezone(UTC)
    local = _add_cycles(_local_naive(anchor, zone), period, interval, cycle, rule)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def cycle_start(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    cycle: int,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> datetime:
    """Start (aware, UTC) of cycle number ``cycle`` counted from ``anchor``.

    Computed only from the anchor and the cycle number (rules 1-6 of the module docstring):
    ``cycle * interval`` periods are added to the anchor's local wall-clock date-time in
    ``tz``, then the result is localized with ``fold=0`` and converted to UTC. Cycle 0 is
    the anchor itself; negative cycles are before it. ``rule=WOOCOMMERCE`` adds months and
    years as the shop does (rules 13-15).

    Raises ValueError for an unknown period or rule, an interval < 1, a naive anchor or an
    unknown time zone.
    """
    _check_schedule(anchor, period, interval, rule)
    _require_int("cycle", cycle)
    return _start(anchor, period, interval, cycle, _zone(tz), rule)


def cycle_bounds(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    cycle: int,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> tuple[datetime, datetime]:
    """``(start, end)`` of cycle ``cycle``: the cycle covers ``[start, end)``.

    ``end`` is the start of cycle ``cycle + 1``.
    """
    _check_schedule(anchor, period, interval, rule)
    _require_int("cycle", cycle)
    zone = _zone(tz)
    return (
        _start(anchor, period, interval, cycle, zone, rule),
        _start(anchor, period, interval, cycle + 1, zone, rule),
    )


def _estimate(anchor: datetime, period: str, interval: int, at: datetime, zone: ZoneInfo) -> int:
    """A cycle number close to (within a cycle or two of) the one containing ``at``."""
    a = _local_naive(anchor, zone)
    b = _local_naive(at, zone)
    if period == "day":
        return (b - a).days // interval
    if period == "week":
        return (b - a).days // (7 * interval)
    if period == "month":
        return ((b.year - a.year) * 12 + (b.month - a.month)) // interval
    return (b.year - a.year) // interval


def cycle_at(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    at: datetime,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> int:
    """Number of the cycle whose ``[start, end)`` contains ``at`` (negative before the anchor).

    Estimated from the calendar distance between the anchor and ``at``, then adjusted by a
    step or two, so it costs the same for a date next week or in a century.
    """
    _check_schedule(anchor, period, interval, rule)
    at = _utc("at", at)
    zone = _zone(tz)
    n = _estimate(anchor, period, interval, at, zone)
    # Cycle starts strictly increase (consecutive local dates are at least a day apart,
    # more than any change of UTC offset), so walking towards `at` terminates quickly.
    while _start(anchor, period, interval, n, zone, rule) > at:
        n -= 1
    while _start(anchor, period, interval, n + 1, zone, rule) <= at:
        n += 1
    return n


def first_cycle_from(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    at: datetime,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> int:
    """Smallest cycle number whose start is at or after ``at``."""
    n = cycle_at(anchor=anchor, period=period, interval=interval, at=at, tz=tz, rule=rule)
    if _start(anchor, period, interval, n, _zone(tz), rule) == at.astimezone(UTC):
        return n
    return n + 1


def nearest_cycle(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    at: datetime,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> int:
    """The cycle whose start is nearest to ``at`` (the earlier one at exactly half way).

    How a date the shop reports (a next payment, a renewal order made at its due date, a
    little late) is told which cycle it belongs to.
    """
    n = cycle_at(anchor=anchor, period=period, interval=interval, at=at, tz=tz, rule=rule)
    zone = _zone(tz)
    at = _utc("at", at)
    start = _start(anchor, period, interval, n, zone, rule)
    end = _start(anchor, period, interval, n + 1, zone, rule)
    return n + 1 if end - at < at - start else n


# --- fixed terms and skips ------------------------------------------------------------


def next_cycle(*, after: int, skipped: Iterable[int] = ()) -> int:
    """First cycle number strictly greater than ``after`` that is not in ``skipped``."""
    _require_int("after", after)
    skipped_set = set(skipped)
    n = after + 1
    while n in skipped_set:
        n += 1
    return n


def term_end(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    cycles: int,
    tz: str | ZoneInfo,
    rule: str = ANCHOR_DAY,
) -> datetime:
    """End of a fixed-term subscription of ``cycles`` cycles: the start of cycle ``cycles``.

    Cycles 0 to ``cycles - 1`` start before it and are charged; raises ValueError if
    ``cycles`` < 1.
    """
    if _require_int("cycles", cycles) < 1:
        raise ValueError(f"a fixed term has at least one cycle, got {cycles}")
    return cycle_start(
        anchor=anchor, period=period, interval=interval, cycle=cycles, tz=tz, rule=rule
    )


def in_term(*, cycle_starts_at: datetime, ends_at: datetime | None) -> bool:
    """Whether a cycle starting at ``cycle_starts_at`` is charged: it starts strictly before
    the fixed end date ``ends_at`` (``None``: open-ended, always in term)."""
    if ends_at is None:
        return True
    return _utc("cycle_starts_at", cycle_starts_at) < _utc("ends_at", ends_at)


def upcoming(
    *,
    anchor: datetime,
    period: str,
    interval: int,
    tz: str | ZoneInfo,
    after: int,
    count: int,
    skipped: Iterable[int] = (),
    ends_at: datetime | None = None,
    rule: str = ANCHOR_DAY,
) -> list[tuple[int, datetime]]:
    """The next ``count`` ``(cycle number, start)`` pairs after cycle ``after``.

    Skipped cycles are left out (and do not count); the list stops early at the first cycle
    that does not start strictly before ``ends_at``.
    """
    _check_schedule(anchor, period, interval, rule)
    _require_int("after", after)
    if _require_int("count", count) < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    zone = _zone(tz)
    skipped_set = frozenset(skipped)
    result: list[tuple[int, datetime]] = []
    n = after
    while len(result) < count:
        n = next_cycle(after=n, skipped=skipped_set)
        start = _start(anchor, period, interval, n, zone, rule)
        if not in_term(cycle_starts_at=start, ends_at=ends_at):
            break
        result.append((n, start))
    return result


# --- proration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Proration:
    """The money moved by a change of amount in the middle of a period (rule 10)."""

    credit: Decimal  # unused share of the old amount, >= 0
    charge: Decimal  # remaining share of the new amount, >= 0
    remaining_seconds: int
    total_seconds: int

    @property
    def net(self) -> Decimal:
        """``charge - credit``: positive, the customer owes; negative, a credit."""
        return self.charge - self.credit


def _amount(name: str, value: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, got {value!r}")
    value = Decimal(value)
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite amount >= 0, got {value}")
    return value


def _share(amount: Decimal, remaining: int, total: int) -> Decimal:
    # Enough precision that the division is exact to far below the cent before rounding.
    with localcontext() as ctx:
        ctx.prec = max(60, len(amount.as_tuple().digits) + 40)
        return (amount * remaining / total).quantize(CENT, rounding=ROUND_HALF_EVEN)


def prorate(
    *,
    old_amount: Decimal,
    new_amount: Decimal,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
) -> Proration:
    """Credit and charge for changing ``old_amount`` to ``new_amount`` at ``at``.

    ``remaining = floor(period_end - at)`` and ``total = floor(period_end - period_start)``
    in whole seconds; ``credit = old_amount * remaining / total`` and ``charge = new_amount
    * remaining / total``, each rounded half-even to the cent separately (so a change and
    its immediate reverse net to exactly zero). Decimal arithmetic only.

    Raises ValueError if ``at`` is outside ``[period_start, period_end)``, if the period is
    shorter than one second, if an amount is negative or if a datetime is naive.
    """
    old = _amount("old_amount", old_amount)
    new = _amount("new_amount", new_amount)
    period_start = _utc("period_start", period_start)
    period_end = _utc("period_end", period_end)
    at = _utc("at", at)
    if not period_start <= at < period_end:
        raise ValueError(f"{at} is outside the period [{period_start}, {period_end})")
    total = (period_end - period_start) // _ONE_SECOND
    if total < 1:
        raise ValueError("a period must last at least one second")
    remaining = (period_end - at) // _ONE_SECOND
    return Proration(
        credit=_share(old, remaining, total),
        charge=_share(new, remaining, total),
        remaining_seconds=remaining,
        total_seconds=total,
    )


# --- dunning --------------------------------------------------------------------------


def retry_at(
    *, first_failed_at: datetime, attempts: int, retry_days: Sequence[int]
) -> datetime | None:
    """When to retry after ``attempts`` failed attempts, or ``None`` to give up.

    ``first_failed_at + retry_days[attempts - 1]`` days (of 24 hours, result in UTC) while
    ``attempts <= len(retry_days)``; ``attempts`` counts the first failed charge as 1.
    """
    first_failed_at = _utc("first_failed_at", first_failed_at)
    if _require_int("attempts", attempts) < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if attempts > len(retry_days):
        return None
    return first_failed_at + timedelta(days=retry_days[attempts - 1])
