"""Reads of satisfaction: the Net Promoter Score for a period, by week, per product
and per preference value, the score distribution, and what needs following up; the
surveys the API lists and the NPS report of a period.

An answer belongs to the period (and the week, in the organization's time) of
its first answer, so a week's figures do not move when a customer changes their
mind later; the score counted is their latest. The response rate is the share
of the surveys sent in the period that were answered.

Every read is scoped to one organization. The survey list reads a bounded
number of queries whatever its length, and an invalid filter is refused (400),
never silently ignored. The report's period is a range of the organization's days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, DateField, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from core import clock
from core.periods import week_start
from crm.api.filters import filtered
from crm.models import Organization
from preferences import validation
from preferences.selectors import display_value, preference_schema
from satisfaction.api.filters import SatisfactionSurveyFilter
from satisfaction.models import SatisfactionSurvey
from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN, Nps, band_counts, response_rate

Status = SatisfactionSurvey.Status
SENT_STATUSES = (Status.SENT, Status.ANSWERED, Status.EXPIRED)
#: "Recently": the last 30 days, today included (the dashboard's card, the answered filter).
RECENT_DAYS = 30

_COUNTS = {
    "promoters": Count("pk", filter=Q(score__gte=PROMOTER_MIN)),
    "passives": Count("pk", filter=Q(score__gte=PASSIVE_MIN, score__lt=PROMOTER_MIN)),
    "detractors": Count("pk", filter=Q(score__lt=PASSIVE_MIN)),
}


@dataclass(frozen=True)
class NpsSummary:
    """The NPS of a period with the response rate behind it."""

    start: datetime
    end: datetime
    nps: Nps
    sent: int
    answered_of_sent: int

    @property
    def response_rate(self) -> float | None:
        return response_rate(self.answered_of_sent, self.sent)


@dataclass(frozen=True)
class NpsRow:
    """The NPS of the answers about one product (with its variants), one variant, or one
    preference value."""

    key: str
    label: str
    nps: Nps
    group: str = ""
    group_label: str = ""
    #: A product's row: the NPS of the boxes holding each of its variants.
    variants: list[NpsRow] = field(default_factory=list)


def answers(
    *, organization: Organization, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[SatisfactionSurvey]:
    """The organization's answered surveys first answered in [start, end)."""
    found = SatisfactionSurvey.objects.filter(
        organization=organization, status=Status.ANSWERED, score__isnull=False
    )
    if start is not None:
        found = found.filter(answered_at__gte=start)
    if end is not None:
        found = found.filter(answered_at__lt=end)
    return found


def nps_summary(*, organization: Organization, start: datetime, end: datetime) -> NpsSummary:
    """Two queries: the answers' bands, and the surveys sent in the period."""
    counts = answers(organization=organization, start=start, end=end).aggregate(**_COUNTS)
    sent = SatisfactionSurvey.objects.filter(
        organization=organization, status__in=SENT_STATUSES, sent_at__gte=start, sent_at__lt=end
    ).aggregate(sent=Count("pk"), answered=Count("pk", filter=Q(status=Status.ANSWERED)))
    return NpsSummary(start, end, Nps(**counts), sent["sent"], sent["answered"])


def nps_by_week(
    *, organization: Organization, start: datetime, end: datetime
) -> list[tuple[date, Nps]]:
    """One row per week (Monday, organization's time) from start's week to end's, empty ones too."""
    tz = organization.tzinfo
    rows = (
        answers(organization=organization, start=start, end=end)
        .annotate(week=TruncWeek("answered_at", output_field=DateField(), tzinfo=tz))
        .values("week")
        .annotate(**_COUNTS)
        .values_list("week", *_COUNTS)
    )
    by_week = {week: Nps(*counts) for week, *counts in rows}
    first = week_start(start.astimezone(tz).date())
    last = week_start((end - timedelta(microseconds=1)).astimezone(tz).date())
    weeks = []
    week = first
    while week <= last:
        weeks.append((week, by_week.get(week, Nps())))
        week += timedelta(days=7)
    return weeks


def score_distribution(*, organization: Organization, start: datetime, end: datetime) -> list[int]:
    """How many answers gave each score, 0 to 10."""
    counts = [0] * 11
    for score, count in (
        answers(organization=organization, start=start, end=end)
        .values("score")
        .annotate(count=Count("pk"))
        .values_list("score", "count")
    ):
        counts[score] = count
    return counts


def _scored_boxes(organization: Organization, start: datetime, end: datetime, field: str):
    return answers(organization=organization, start=start, end=end).values_list(
        "score", f"shipment__line__{field}"
    )


def nps_by_product(*, organization: Organization, start: datetime, end: datetime) -> list[NpsRow]:
    """The NPS of the boxes holding each product, most answered first (one query).

    Grouped by product, whatever the variant; each product's row breaks down per
    variant (`NpsRow.variants`, most answered first). A box holding two
    variants of one product counts once for the product, once for each variant.
    """
    totals: dict[int, Nps] = defaultdict(Nps)
    per_variant: dict[int, dict[int, Nps]] = defaultdict(lambda: defaultdict(Nps))
    names: dict[int, str] = {}
    variant_names: dict[int, str] = {}
    for score, items in _scored_boxes(organization, start, end, "items"):
        items = [item for item in items or [] if isinstance(item, dict)]
        for product in {item.get("product") for item in items}:
            if product is None:
                continue
            totals[product] += band_counts(score)
        for product, variant in {
            (item.get("product"), item.get("variant")) for item in items if item.get("variant")
        }:
            if product is not None:
                per_variant[product][variant] += band_counts(score)
        for item in items:
            if item.get("product") is None:
                continue
            # A variant's item names the variant; its product's name is kept beside it.
            names.setdefault(
                item["product"],
                item.get("product_name") or item.get("name") or item.get("sku") or "",
            )
            if item.get("variant"):
                variant_names.setdefault(item["variant"], item.get("name") or item.get("sku") or "")

    def by_answers(row: NpsRow):
        return (-row.nps.answers, row.label)

    return sorted(
        (
            NpsRow(
                key=str(product),
                label=names.get(product) or f"#{product}",
                nps=nps,
                variants=sorted(
                    (
                        NpsRow(
                            key=str(variant),
                            label=variant_names.get(variant) or f"#{variant}",
                            nps=variant_nps,
                        )
                        for variant, variant_nps in per_variant.get(product, {}).items()
                    ),
                    key=by_answers,
                ),
            )
            for product, nps in totals.items()
        ),
        key=by_answers,
    )


def _values_of(spec: validation.FieldSpec, value: Any) -> list[Any]:
    if spec.type == validation.MULTI_CHOICE:
        return list(value) if isinstance(value, list) else []
    if spec.type in (validation.CHOICE, validation.BOOLEAN) and value is not None:
        return [value]
    return []


def nps_by_preference(
    *, organization: Organization, start: datetime, end: datetime
) -> list[NpsRow]:
    """The NPS per value of each choice, multi-choice and yes/no preference, as the boxes had it.

    In the schema's order of fields and choices (three queries). Which roast do
    detractors get? The row of each roast says.
    """
    schema = [
        spec
        for spec in preference_schema(organization=organization)
        if spec.type in (validation.CHOICE, validation.MULTI_CHOICE, validation.BOOLEAN)
    ]
    specs = {spec.key: spec for spec in schema}
    totals: dict[tuple[str, Any], Nps] = defaultdict(Nps)
    for score, preferences in _scored_boxes(organization, start, end, "preferences"):
        for key, value in (preferences or {}).items():
            spec = specs.get(key)
            if spec is None:
                continue
            for one in _values_of(spec, value):
                totals[(key, one)] += band_counts(score)
    rows = []
    for spec in schema:
        order = [choice.value for choice in spec.choices] or [True, False]
        values = [value for (key, value) in totals if key == spec.key]
        values.sort(
            key=lambda value: (order.index(value) if value in order else len(order), str(value))
        )
        rows.extend(
            NpsRow(
                key=str(value).lower() if isinstance(value, bool) else str(value),
                label=display_value(spec, value),
                nps=totals[(spec.key, value)],
                group=spec.key,
                group_label=spec.label,
            )
            for value in values
        )
    return rows


def surveys_to_follow_up(*, organization: Organization) -> QuerySet[SatisfactionSurvey]:
    """Detractors who left a comment nobody followed up yet, the latest first."""
    return (
        answers(organization=organization)
        .filter(SatisfactionSurvey.TO_FOLLOW_UP)
        .select_related("customer")
        .order_by("-answered_at", "-pk")
    )


# --- What the API lists ------------------------------------------------------------

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
        return filtered(SatisfactionSurveyFilter, filters, queryset)


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
    summary = nps_summary(**period)
    return {
        "start": start,
        "end": end,
        "timezone": organization.timezone,
        **nps_figures(summary.nps),
        "sent": summary.sent,
        "response_rate": _rounded(summary.response_rate),
        "weeks": [{"week": week, **nps_figures(nps)} for week, nps in nps_by_week(**period)],
        "distribution": score_distribution(**period),
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
            for row in nps_by_product(**period)
        ],
        "preferences": [
            {
                "field": row.group,
                "field_label": row.group_label,
                "value": row.key,
                "value_label": row.label,
                **nps_figures(row.nps),
            }
            for row in nps_by_preference(**period)
        ],
    }
