"""The cut-off settings' page: one row per organization, chosen by its administrators."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, show_refusal
from crm.tenant_admin import Role, TenantAdmin, when
from fulfillment import services
from fulfillment.models import (
    FulfillmentSettings,
)


@admin.register(FulfillmentSettings)
class FulfillmentSettingsAdmin(ServicePageAdminMixin, TenantAdmin):
    """When each organization closes its weekly cycle: its administrators choose
    (`fulfillment_settings_update` writes it)."""

    required_roles = {
        "view": Role.VIEWER,
        "add": Role.ADMIN,
        "change": Role.ADMIN,
        "delete": Role.ADMIN,
    }
    list_display = ["organization", "cutoff_column", "shipping_offset_days", "unpaid_lines"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "cutoff_weekday",
                    "cutoff_time",
                    "time_zone",
                    "shipping_offset_days",
                    "unpaid_lines",
                    "default_carrier",
                    "next_cutoff",
                ],
                "description": gettext_lazy(
                    "The cut-off weekday and time are in the organization's time zone. A "
                    "change counts from the next batch created: the open batch keeps its "
                    "cut-off."
                ),
            },
        ),
    ]
    readonly_fields = ["time_zone", "next_cutoff"]

    def has_delete_permission(self, request, obj=None):
        # Without its row an organization silently falls back to the default cut-off.
        return False

    def save_page(self, request, form, formsets, change):
        data = form.cleaned_data
        try:
            return services.fulfillment_settings_update(
                organization=data.get("organization") or form.instance.organization,
                **{name: data[name] for name in services.SETTINGS_FIELDS if name in data},
            )
        except ApplicationError as error:
            show_refusal(form, error)
            raise PageRefused from error

    @admin.display(description=gettext_lazy("cut-off"))
    def cutoff_column(self, row):
        return _("%(weekday)s %(time)s (%(timezone)s)") % {
            "weekday": row.get_cutoff_weekday_display(),
            "time": row.cutoff_time.strftime("%H:%M"),
            "timezone": row.organization.timezone,
        }

    @admin.display(description=gettext_lazy("time zone"))
    def time_zone(self, row):
        return row.organization.timezone if row.organization_id else "-"

    @admin.display(description=gettext_lazy("next cut-off"))
    def next_cutoff(self, row):
        if row.pk is None:
            return "-"
        tz = row.organization.tzinfo
        return when(row.next_cutoff(timezone.now()), tz)
