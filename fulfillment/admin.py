"""The back office's fulfillment pages: each organization's cut-off settings, and its batches.

Settings are one row per organization, chosen by its administrators (everyone
may read them). Batches are listed read-only here; they change only through
the fulfillment services.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.tenant_admin import Role, TenantAdmin
from fulfillment.models import Batch, FulfillmentSettings


def when(value: datetime | None, tz=None) -> str:
    """An instant as staff read it: localized, in `tz` (default: the current time zone)."""
    if value is None:
        return "-"
    return formats.date_format(timezone.localtime(value, tz), "DATETIME_FORMAT")


@admin.register(FulfillmentSettings)
class FulfillmentSettingsAdmin(TenantAdmin):
    """When each organization closes its weekly cycle: its administrators choose."""

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


@admin.register(Batch)
class BatchAdmin(TenantAdmin):
    """Read-only: batches are opened, locked and dispatched by the fulfillment services."""

    list_display = ["cycle_date", "cutoff_column", "ships_on", "status"]
    list_filter = ["status"]
    ordering = ["-cutoff_at"]
    fields = ["organization", "cycle_date", "cutoff_column", "ships_on", "status", "locked_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, unquote(object_id))
        with timezone.override(batch.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("cut-off"), ordering="cutoff_at")
    def cutoff_column(self, batch):
        return when(batch.cutoff_at, batch.organization.tzinfo)
