"""The back office composes the apps' admins: a subscription's whole page.

A subscription's page shows what several apps own: its items, charges, notes
and history (`subscriptions.admin`), its preferences and their history
(`preferences.admin`), its boxes (fulfillment's lines and parcels, below), its
after-sales cases (`returns.admin`) and its surveys (`satisfaction.admin`).
`subscriptions` sits below those apps and imports none of them; this module,
above them all, adds their inlines to `SubscriptionAdmin` and registers the
page on the site. Autodiscovery imports it (`dashboard` is an installed app).
"""

from __future__ import annotations

import zoneinfo

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from crm.models import Organization
from crm.tenant_admin import ReadOnlyTenantInline, organization_roles, when
from dashboard import fulfillment_admin  # noqa: F401  (registers the fulfillment pages)
from dashboard.selectors import portal_preference_changes, subscriber_events, this_week_start
from fulfillment.models import BatchLine, Shipment
from preferences.admin import PreferenceChangeInline, SubscriptionPreferenceInline
from returns.admin import SubscriptionCaseInline
from satisfaction.admin import SubscriptionSurveyInline
from subscriptions.admin import (
    ChargeInline,
    EventInline,
    SubscriptionAdmin,
    SubscriptionItemInline,
    SubscriptionNoteInline,
)
from subscriptions.models import Subscription


class SubscriptionBoxInline(ReadOnlyTenantInline):
    """The subscription's boxes: in which batch each cycle went, and its parcel."""

    model = BatchLine
    verbose_name = gettext_lazy("box")
    verbose_name_plural = gettext_lazy("boxes")
    fields = ["batch", "cycle", "status", "reason", "carrier", "tracking_number", "delivered"]
    readonly_fields = fields
    ordering = ["-batch__cutoff_at", "-id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("batch", "shipment")

    def _shipment(self, line) -> Shipment | None:
        return getattr(line, "shipment", None)

    @admin.display(description=gettext_lazy("carrier"))
    def carrier(self, line):
        shipment = self._shipment(line)
        return shipment.carrier if shipment else "-"

    @admin.display(description=gettext_lazy("tracking number"))
    def tracking_number(self, line):
        shipment = self._shipment(line)
        return (shipment.tracking_number or "-") if shipment else "-"

    @admin.display(description=gettext_lazy("delivered at"))
    def delivered(self, line):
        shipment = self._shipment(line)
        return when(shipment.delivered_at) if shipment else "-"


class SubscriberChangesListFilter(admin.SimpleListFilter):
    """Subscriptions their subscriber changed this week (Monday on, in each organization's
    time zone) in their portal: the list behind the dashboard's "changes from subscribers"."""

    title = gettext_lazy("changed by the subscriber")
    parameter_name = "subscriber_changes"

    def lookups(self, request, model_admin):
        return [("week", gettext_lazy("This week"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() != "week":
            return queryset.none()
        zones = Organization.objects.order_by().values_list("timezone", flat=True).distinct()
        if not request.user.is_superuser:
            zones = zones.filter(pk__in=organization_roles(request))
        now = timezone.now()
        within = Q(pk__in=[])
        for name in zones:
            since = this_week_start(now=now, tz=zoneinfo.ZoneInfo(name))
            changed = Q(
                pk__in=subscriber_events(since=since)
                .filter(organization__timezone=name)
                .values("subscription_id")
            ) | Q(
                pk__in=portal_preference_changes(since=since)
                .filter(organization__timezone=name)
                .values("subscription_id")
            )
            within |= Q(organization__timezone=name) & changed
        return queryset.filter(within)


@admin.register(Subscription)
class BackOfficeSubscriptionAdmin(SubscriptionAdmin):
    """A subscription's page with every app's part of it, in the order staff read them.

    Saving: the items, the details and the preferences are written by their
    services once the whole page is valid (`SubscriptionAdmin.save_page`); the
    other apps' inlines are read-only.
    """

    list_filter = [*SubscriptionAdmin.list_filter, SubscriberChangesListFilter]
    inlines = [
        SubscriptionItemInline,
        SubscriptionPreferenceInline,  # written through preferences.services (see its module)
        PreferenceChangeInline,
        ChargeInline,
        SubscriptionBoxInline,
        SubscriptionCaseInline,  # after-sales cases (returns.admin)
        SubscriptionSurveyInline,  # satisfaction surveys (satisfaction.admin)
        SubscriptionNoteInline,  # staff notes, written through the service
        EventInline,
    ]
