"""Reads the satisfaction API shows: the surveys, and the NPS report of a period.

Every read is scoped to one organization. The survey list reads a bounded
number of queries whatever its length, and an invalid filter is refused (400),
never silently ignored. The report's period is a range of the organization's
days; `satisfaction.selectors` computes its figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core import clock
from core.errors import ApplicationError
from crm.models import Organization
from satisfaction import selectors
from satisfaction.api.filters import SatisfactionSurveyFilter
from satisfaction.models import SatisfactionSurvey
from satisfaction.nps import Nps

#: Figures are rounded to this many decimals (NPS and margin in points, rate in percent).
DECIMALS = 2
#: The default report: this many days ending today (twelve weeks).
DEFAULT_DAYS = 12 * 7
#: The longest report, in years.
MAX_YEARS = 2


def survey_list(
    *, organization: Organization, filters: Mapping[str, Any] | None = None
) -> QuerySet[SatisfactionSurvey]:
    """The organization's surveys, latest to send first, with their customer (one query a page).

    `filters` are the list's query parameters (see `SatisfactionSurveyFilter`);
    date-times without an offset are read in the organization's time.
    """
    queryset = (
        SatisfactionSurvey.objects.for_organization(organization)
        .select_related("customer")
        .order_by("-send_at", "-id")
    )
    if filters is None:
        return queryset
    with timezone.override(organization.tzinfo):
        filterset = SatisfactionSurveyFilter(filters, queryset=queryset)
        if not filterset.is_valid():
            raise ApplicationError(
                _("Invalid input."),
                {"fields": {name: list(errors) for name, errors in filterset.errors.items()}},
            )
        return filterset.qs


# --- The NPS report ------------------------------------------------------------------------


def default_period(*, organization: Organization, today: date | None = None) -> tuple[date, date]:
    """The last twelve weeks ending today (the organization's day), both days included."""
    end = today or timezone.localdate(clock.now(), timezone=organization.tzinfo)
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def longest_period_end(start: date) -> date:
    """The last day a period from `start` may include: the eve of the same date two years on."""
    try:
        same_date = start.replace(year=start.year + MAX_YEARS)
    except ValueError:  # 29 February: the period runs to 28 February
        same_date = date(start.year + MAX_YEARS, 3, 1)
    return same_date - timedelta(days=1)


def period_bounds(
    *, organization: Organization, start: date, end: date
) -> tuple[datetime, datetime]:
    """Days [start, end] as [00:00 of start, 00:00 after end), in the organization's time."""
    tz = organization.tzinfo
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


def nps_figures(nps: Nps) -> dict[str, Any]:
    """The counts, score and margin of a set of answers, as the report shows them."""
    return {
        "answers": nps.answers,
        "promoters": nps.promoters,
        "passives": nps.passives,
        "detractors": nps.detractors,
        "nps": _rounded(nps.score),
        "margin_of_error": _rounded(nps.margin),
    }


def nps_report(*, organization: Organization, start: date, end: date) -> dict[str, Any]:
    """The NPS of the answers first given from `start` to `end` (days included, the
    organization's time): in all, per week, per score, per product and per preference
    value; with the response rate of the surveys sent in the period.

    Labels are in the active language. Eight queries whatever the number of answers.
    """
    bounds = period_bounds(organization=organization, start=start, end=end)
    period = {"organization": organization, "start": bounds[0], "end": bounds[1]}
    summary = selectors.nps_summary(**period)
    return {
        "start": start,
        "end": end,
        "timezone": organization.timezone,
        **nps_figures(summary.nps),
        "sent": summary.sent,
        "response_rate": _rounded(summary.response_rate),
        "weeks": [
            {"week": week, **nps_figures(nps)} for week, nps in selectors.nps_by_week(**period)
        ],
        "distribution": selectors.score_distribution(**period),
        "products": [
            {
                "product": int(row.key),
                "name": row.label,
                **nps_figures(row.nps),
                "variants": [
                    {"variant": int(variant.key), "name": variant.label, **nps_figures(variant.nps)}
                    for variant in row.variants
                ],
            }
            for row in selectors.nps_by_product(**period)
        ],
        "preferences": [
            {
                "field": row.group,
                "field_label": row.group_label,
                "value": row.key,
                "value_label": row.label,
                **nps_figures(row.nps),
            }
            for row in selectors.nps_by_preference(**period)
        ],
    }
