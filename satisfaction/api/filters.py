"""Query parameters of the survey list; applied by `satisfaction.selectors`.

A date-time without an offset (`answered_after=2026-11-02` or
`2026-11-02T08:00`) is read in the organization's time: the selector
validates the filters with that time zone active.
"""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.api.filters import IdFilter, IsoDateTimeFilter, StrictBooleanFilter
from satisfaction.models import SatisfactionSurvey, ScoreBand
from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN

Status = SatisfactionSurvey.Status

# A band as a condition on the score (a survey without a score has no band).
BANDS = {
    ScoreBand.PROMOTER: Q(score__gte=PROMOTER_MIN),
    ScoreBand.PASSIVE: Q(score__gte=PASSIVE_MIN, score__lt=PROMOTER_MIN),
    ScoreBand.DETRACTOR: Q(score__lt=PASSIVE_MIN),
}

# `SatisfactionSurvey.needs_follow_up` in SQL: a detractor who said why, not followed up.
# The answer service strips comments, so a blank comment is an empty one.
NEEDS_FOLLOW_UP = (
    Q(status=Status.ANSWERED, followed_up_at__isnull=True)
    & BANDS[ScoreBand.DETRACTOR]
    & ~Q(comment="")
)


class SatisfactionSurveyFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices, label=_("Status (repeat the parameter for several)")
    )
    band = django_filters.MultipleChoiceFilter(
        choices=ScoreBand.choices,
        method="in_band",
        label=_("Band of the score (repeat the parameter for several)"),
    )
    answered_after = IsoDateTimeFilter(
        field_name="answered_at",
        lookup_expr="gte",
        label=_(
            "First answered at or after this ISO 8601 date-time (without an offset: the "
            "organization's time)"
        ),
    )
    answered_before = IsoDateTimeFilter(
        field_name="answered_at",
        lookup_expr="lt",
        label=_(
            "First answered before this ISO 8601 date-time (without an offset: the "
            "organization's time)"
        ),
    )
    product = IdFilter(
        method="with_product", label=_("Product id: surveys about a box that held it")
    )
    customer = IdFilter(field_name="customer", label=_("Customer id"))
    subscription = IdFilter(field_name="subscription", label=_("Subscription id"))
    needs_follow_up = StrictBooleanFilter(
        method="follow_up",
        label=_(
            "A detractor's answer with a comment nobody followed up yet (true), or any "
            "other survey (false)"
        ),
    )

    class Meta:
        model = SatisfactionSurvey
        fields = []

    def in_band(self, queryset, name, value):
        if not value:
            return queryset
        condition = Q()
        for band in value:
            condition |= BANDS[band]
        return queryset.filter(condition)

    def with_product(self, queryset, name, value):
        # The box's `items` is the snapshot [{"product": id, ...}]: JSON containment finds the id.
        return queryset.filter(shipment__line__items__contains=[{"product": value}])

    def follow_up(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(NEEDS_FOLLOW_UP) if value else queryset.exclude(NEEDS_FOLLOW_UP)
