"""Reads of satisfaction: the Net Promoter Score for a period, by week, per product
and per preference value, the score distribution, and what needs following up.

An answer belongs to the period (and the week, in the organization's time) of
its first answer, so a week's figures do not move when a customer changes their
mind later; the score counted is their latest. The response rate is the share
of the surveys sent in the period that were answered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, DateField, Q, QuerySet
from django.db.models.functions import TruncWeek

from core.periods import week_start
from crm.models import Organization
from preferences import validation
from preferences.selectors import display_value, preference_schema
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
