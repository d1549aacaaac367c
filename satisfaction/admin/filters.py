"""The surveys' list filters: by score band, product, answer period and follow-up."""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.periods import local_midnight, months_back, today_in, week_start
from crm.admin_display import (
    ProductListFilter,
    visible_organizations,
)
from crm.models import Organization
from satisfaction import selectors
from satisfaction.models import SatisfactionSurvey, ScoreBand
from satisfaction.nps import PASSIVE_MIN, PROMOTER_MIN

# --- Surveys: list filters -------------------------------------------------------------------


class ScoreBandListFilter(admin.SimpleListFilter):
    title = gettext_lazy("score")
    parameter_name = "band"

    def lookups(self, request, model_admin):
        return [*ScoreBand.choices, ("none", _("Not answered"))]

    def queryset(self, request, queryset):
        bands = {
            ScoreBand.PROMOTER: Q(score__gte=PROMOTER_MIN),
            ScoreBand.PASSIVE: Q(score__gte=PASSIVE_MIN, score__lt=PROMOTER_MIN),
            ScoreBand.DETRACTOR: Q(score__lt=PASSIVE_MIN),
            "none": Q(score__isnull=True),
        }
        if self.value() is None:
            return queryset
        if self.value() not in bands:
            return queryset.none()
        return queryset.filter(bands[self.value()])


class BoxProductListFilter(ProductListFilter):
    """Surveys about a box that held a product."""

    items_field = "shipment__line__items"


class AnsweredListFilter(admin.SimpleListFilter):
    """Answered (first) in a recent period, counted in each organization's time zone.

    A week starts on Monday; "last 4 weeks" is this week and the three before it,
    "last 3 months" this month and the two before it, as on the report; "last 30 days"
    is today and the 29 days before it, as on the dashboard.
    """

    title = gettext_lazy("answered")
    parameter_name = "answered"

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin  # whose organizations the user sees
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [
            ("week", _("This week")),
            ("4weeks", _("Last 4 weeks")),
            ("30days", _("Last 30 days")),
            ("month", _("This month")),
            ("3months", _("Last 3 months")),
        ]

    @staticmethod
    def first_day(period: str, today: date) -> date:
        return {
            "week": week_start(today),
            "4weeks": week_start(today) - timedelta(weeks=3),
            "30days": today - timedelta(days=selectors.RECENT_DAYS - 1),
            "month": today.replace(day=1),
            "3months": months_back(today, 2),
        }[period]

    def queryset(self, request, queryset):
        period = self.value()
        if period is None:
            return queryset
        if period not in dict(self.lookup_choices):
            return queryset.none()
        zones = Organization.objects.order_by().values_list("timezone", flat=True).distinct()
        visible = visible_organizations(request, self.model_admin)
        if visible is not None:
            zones = zones.filter(pk__in=visible)
        since = Q(pk__in=[])
        for name in zones:
            tz = zoneinfo.ZoneInfo(name)
            start = local_midnight(self.first_day(period, today_in(timezone.now(), tz)), tz)
            since |= Q(organization__timezone=name, answered_at__gte=start)
        return queryset.filter(since)


class FollowUpListFilter(admin.SimpleListFilter):
    title = gettext_lazy("follow-up")
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [
            ("todo", _("To follow up")),
            ("case", _("After-sales case opened")),
            ("done", _("Followed up")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "todo":
            return queryset.filter(SatisfactionSurvey.TO_FOLLOW_UP)
        if self.value() == "case":
            return queryset.filter(return_request__isnull=False)
        if self.value() == "done":
            return queryset.filter(followed_up_at__isnull=False)
        return queryset
