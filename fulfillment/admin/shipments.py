"""Parcels: created by the dispatch; staff set the tracking and move their status.

A shipment's page submits its carrier and tracking number to `shipment_update`
(`crm.fsm_admin.ServicePageAdminMixin`): a refusal is shown on the form, nothing written.
The after-sales cases of a shipment are added to these pages by the back
office (`dashboard.fulfillment_admin`).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy, ngettext_lazy

from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_display import (
    apply_each,
    customer_label,
    local_time,
    nothing_selected,
    refusal_text,
)
from crm.fsm_admin import PageRefused, ServicePageAdminMixin
from crm.object_tools import object_tools
from crm.tenant_admin import OrganizationTimeChangeViewMixin, TenantAdmin
from fulfillment import services
from fulfillment.admin.display import TenantRelatedListFilter, address_html
from fulfillment.models import (
    Shipment,
)


class CarrierListFilter(admin.SimpleListFilter):
    """The carriers of the shipments the user sees (not every organization's)."""

    title = gettext_lazy("carrier")
    parameter_name = "carrier"

    def lookups(self, request, model_admin):
        carriers = (
            model_admin.get_queryset(request)
            .exclude(carrier="")
            .order_by("carrier")
            .values_list("carrier", flat=True)
            .distinct()
        )
        return [(carrier, carrier) for carrier in carriers]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(carrier=self.value())


class ShipmentForm(forms.ModelForm):
    """The carrier and tracking number; `shipment_update` writes them."""

    class Meta:
        model = Shipment
        fields = ["carrier", "tracking_number"]


def _shipment_action(action: str, description, done_message):
    """An admin action running the shipment transition `action` on the selection."""

    def run(self, request, queryset):
        self._transition(request, queryset, action, done_message)

    return admin.action(description=description, permissions=["change"])(run)


@admin.register(Shipment)
class ShipmentAdmin(OrganizationTimeChangeViewMixin, ServicePageAdminMixin, TenantAdmin):
    """Parcels: created by the dispatch; staff set the tracking and move their status."""

    organization_column = True  # for staff of several organizations

    form = ShipmentForm
    list_display = [
        "id",
        "batch",
        "customer_column",
        "carrier",
        "tracking_number",
        "status",
        "shipped_column",
        "delivered_column",
    ]
    list_filter = ["status", ("batch", TenantRelatedListFilter), CarrierListFilter]
    list_select_related = ["organization", "batch", "customer"]
    search_fields = [
        "tracking_number",
        "customer__email",
        "customer__first_name",
        "customer__last_name",
    ]
    actions = ["mark_shipped", "mark_delivered", "mark_returned", "mark_lost"]
    fields = [
        "organization",
        "batch",
        "line",
        "customer",
        "status",
        "carrier",
        "tracking_number",
        "tracking_link",
        "address_column",
        "shipped_column",
        "delivered_column",
        "closed_column",
        "created_column",
    ]
    EDITABLE = ("carrier", "tracking_number")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        editable = () if obj is None or obj.is_closed else self.EDITABLE
        return [name for name in self.fields if name not in editable]

    def save_page(self, request, form, formsets, change):
        """The changed fields, written by `shipment_update`; a refusal is shown on the form."""
        changed = {name: form.cleaned_data.get(name) or "" for name in form.changed_data}
        if not changed:
            return form.instance
        try:
            return services.shipment_update(
                shipment=form.instance, actor=Actor.for_user(request.user), **changed
            )
        except ApplicationError as error:
            form.add_error(None, refusal_text(error))
            raise PageRefused from error

    def change_context(self, request, shipment) -> dict:
        # Links of the apps above (the carriers' tracking link): crm.object_tools.
        return {"object_tools": object_tools(request, shipment)}

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, shipment):
        return customer_label(shipment.customer)

    @admin.display(description=gettext_lazy("tracking link"))
    def tracking_link(self, shipment):
        """The carrier's tracking page, copied from the box's parcel at dispatch."""
        if not shipment.tracking_url:
            return "-"
        return format_html(
            '<a href="{}" rel="noopener noreferrer" target="_blank" class="tracking-link">{}</a>',
            shipment.tracking_url,
            shipment.tracking_url,
        )

    @admin.display(description=gettext_lazy("shipping address"))
    def address_column(self, shipment):
        return address_html(shipment.address)

    shipped_column = local_time("shipped_at", gettext_lazy("shipped at"), ordering=True)
    delivered_column = local_time("delivered_at", gettext_lazy("delivered at"), ordering=True)
    closed_column = local_time("closed_at", gettext_lazy("closed at"))
    created_column = local_time("created_at", gettext_lazy("created at"))

    def _transition(self, request, queryset, action: str, done_message) -> None:
        """Run `action` on each selected shipment; report the refused ones one by one."""
        if nothing_selected(self, request, queryset):
            return
        actor = Actor.for_user(request.user)
        done = apply_each(
            self,
            request,
            queryset.order_by("pk"),
            lambda shipment: services.shipment_transition(
                shipment=shipment, action=action, actor=actor
            ),
        )
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    mark_shipped = _shipment_action(
        "ship",
        gettext_lazy("Mark shipped"),
        ngettext_lazy(
            "%(count)d shipment marked shipped.", "%(count)d shipments marked shipped.", "count"
        ),
    )
    mark_delivered = _shipment_action(
        "deliver",
        gettext_lazy("Mark delivered"),
        ngettext_lazy(
            "%(count)d shipment marked delivered.", "%(count)d shipments marked delivered.", "count"
        ),
    )
    mark_returned = _shipment_action(
        "mark_returned",
        gettext_lazy("Mark returned"),
        ngettext_lazy(
            "%(count)d shipment marked returned.", "%(count)d shipments marked returned.", "count"
        ),
    )
    mark_lost = _shipment_action(
        "mark_lost",
        gettext_lazy("Mark lost"),
        ngettext_lazy(
            "%(count)d shipment marked lost.", "%(count)d shipments marked lost.", "count"
        ),
    )
