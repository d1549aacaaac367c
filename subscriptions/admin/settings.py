"""Billing settings: how each organization charges."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy

from crm.tenant_admin import Role, TenantAdmin
from subscriptions.models import BillingSettings


@admin.register(BillingSettings)
class BillingSettingsAdmin(TenantAdmin):
    """How each organization charges: its administrators choose; everyone may read."""

    required_roles = {
        "view": Role.VIEWER,
        "add": Role.ADMIN,
        "change": Role.ADMIN,
        "delete": Role.ADMIN,
    }
    list_display = ["organization", "gateway", "retry_days_column"]
    list_filter = ["gateway"]
    fields = ["organization", "gateway", "retry_days"]

    @admin.display(description=gettext_lazy("dunning retries (days after the first failure)"))
    def retry_days_column(self, row):
        return ", ".join(str(day) for day in row.retry_days)
