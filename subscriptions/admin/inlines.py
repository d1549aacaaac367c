"""The inlines of a subscription's page that belong to this app: items, charges, notes, history.

The other apps' inlines (preferences, boxes, after-sales cases, surveys) are
added by the back office (`dashboard.admin`), which composes the page.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib import admin
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.tenant_admin import (
    NoteInline,
    ReadOnlyTenantInline,
    TenantTabularInline,
    money,
    when,
)
from subscriptions.admin.forms import SubscriptionItemFormSet
from subscriptions.models import (
    BillingPeriod,
    Charge,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionNote,
)


class SubscriptionItemInline(TenantTabularInline):
    model = SubscriptionItem
    formset = SubscriptionItemFormSet
    fields = ["product", "variant", "quantity", "unit_price", "line_total"]
    readonly_fields = ["line_total"]
    min_num = 1

    def _editable(self, request, obj) -> bool:
        return (obj is None or obj.is_native) and self._has(request, "change", obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Removing an item is a change of the subscription, done by staff.
        return self._editable(request, obj)

    def get_extra(self, request, obj=None, **kwargs):
        return 0

    def get_min_num(self, request, obj=None, **kwargs):
        return 1 if self._editable(request, obj) else 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, validate_min=True, **kwargs)
        product = formset.form.base_fields.get("product")
        if obj is not None and product is not None:
            product.queryset = product.queryset.filter(organization_id=obj.organization_id)
        variant = formset.form.base_fields.get("variant")
        if variant is not None:
            variant.queryset = variant.queryset.select_related("product").order_by(
                "product__name", "position", "id"
            )
            if obj is not None:
                variant.queryset = variant.queryset.filter(organization_id=obj.organization_id)
        return formset

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "unit_price" and field is not None:
            field.required = False
            field.help_text = _("Leave empty for the variant's or the product's price.")
        if db_field.name == "product" and field is not None:
            # A variant names its product: choosing the variant is enough.
            field.required = False
            field.help_text = _("A simple product, or leave empty when choosing a variant.")
        return field

    @admin.display(description=gettext_lazy("total"))
    def line_total(self, item):
        if item.unit_price is None or item.quantity is None:
            return "-"
        return formats.number_format(item.total, 2, use_l10n=True, force_grouping=True)


class ChargeInline(ReadOnlyTenantInline):
    model = Charge
    fields = [
        "cycle",
        "period",
        "amount_with_currency",
        "adjustment",
        "refunded_amount",
        "status",
        "attempts",
        "next_retry_at",
        "failure_reason",
        "external_reference",
        "paid_at",
    ]
    readonly_fields = fields
    ordering = ["-cycle"]
    show_change_link = True

    @admin.display(description=gettext_lazy("period"))
    def period(self, charge):
        return f"{when(charge.period_start)} - {when(charge.period_end)}"

    @admin.display(description=gettext_lazy("amount"))
    def amount_with_currency(self, charge):
        # A shop can charge in another currency than the organization's: always say which.
        return money(charge.amount, charge.currency)


def event_details(event: SubscriptionEvent) -> str:
    data = event.data or {}
    Kind = SubscriptionEvent.Kind

    def instant(key):
        value = data.get(key)
        return when(datetime.fromisoformat(value)) if value else None

    def amount(value):
        # Stored as text ("12.90"): shown as the staff member's locale writes it.
        if value in (None, ""):
            return value
        return formats.number_format(Decimal(str(value)), 2, use_l10n=True, force_grouping=True)

    if event.kind == Kind.ITEMS_CHANGED:
        text = _("total %(old)s → %(new)s") % {
            "old": amount(data.get("old_total")),
            "new": amount(data.get("new_total")),
        }
        proration = data.get("proration")
        if proration:
            text += ", " + _("pro-rata %(net)s") % {"net": amount(proration.get("net"))}
        return text
    if data.get("unsettled_adjustment"):
        # Pro-rata or credit no later charge carries: staff settle it (a charge or a refund).
        left = Decimal(str(data["unsettled_adjustment"]))
        if left > 0:
            return _("%(amount)s still owed, not charged") % {"amount": amount(left)}
        return _("credit of %(amount)s not used") % {"amount": amount(-left)}
    if event.kind == Kind.PAUSED and data.get("resume_at"):
        return _("resumes on %(date)s") % {"date": instant("resume_at")}
    if event.kind in (Kind.SKIPPED, Kind.UNSKIPPED) and data.get("cycle_date"):
        return _("cycle of %(date)s") % {"date": instant("cycle_date")}
    if event.kind == Kind.SCHEDULE_CHANGED and data.get("new"):
        new = data["new"]
        period = new.get("period")
        if period in BillingPeriod.values:
            period = BillingPeriod(period).label
        return _("every %(interval)s %(period)s") % {
            "interval": new.get("interval"),
            "period": period,
        }
    if data.get("failure_reason"):
        return str(data["failure_reason"])
    if data.get("amount") and data.get("cycle") is None:  # a credit, an adjustment: no cycle
        return amount(data["amount"])
    if data.get("amount"):
        return _("cycle %(cycle)s, %(amount)s") % {
            "cycle": data.get("cycle"),
            "amount": amount(data["amount"]),
        }
    if data.get("next_charge_at"):
        return _("next charge %(date)s") % {"date": instant("next_charge_at")}
    return ""


class SubscriptionNoteInline(NoteInline):
    model = SubscriptionNote


#: Reasons the services record themselves (codes), as staff read them.
SYSTEM_REASONS = {"trial": gettext_lazy("trial")}


class EventInline(ReadOnlyTenantInline):
    model = SubscriptionEvent
    fields = ["created_at", "kind", "transition", "actor", "why", "details"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    @admin.display(description=gettext_lazy("reason"))
    def why(self, event):
        return str(SYSTEM_REASONS.get(event.reason, event.reason)) or "-"

    @admin.display(description=gettext_lazy("status"))
    def transition(self, event):
        before = event.get_from_status_display() or "-"
        after = event.get_to_status_display() or "-"
        return before if before == after else f"{before} → {after}"

    @admin.display(description=gettext_lazy("actor"))
    def actor(self, event):
        return event.actor_display()

    @admin.display(description=gettext_lazy("details"))
    def details(self, event):
        return event_details(event)
