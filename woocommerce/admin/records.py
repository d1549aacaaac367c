"""What the sync wrote, read in the back office: mappings (a WooCommerce id to its CRM
row) and orders (with the subscriptions and charges they pay)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Customer
from crm.tenant_admin import money
from subscriptions.models import Subscription
from woocommerce import selectors
from woocommerce.admin.common import ReadOnlySyncAdmin, ShopListFilter, change_url
from woocommerce.models import Resource, WooMapping, WooOrder, WooRelatedOrder

# --- Mappings ---------------------------------------------------------------------------

# The admin page of the CRM row each resource's mapping points to.
CRM_PAGES = {
    Resource.CUSTOMER: "admin:crm_customer_change",
    Resource.PRODUCT: "admin:crm_product_change",
    Resource.VARIATION: "admin:crm_product_change",  # a variant is shown on its product's page
    Resource.SUBSCRIPTION: "admin:subscriptions_subscription_change",
    Resource.ORDER: "admin:woocommerce_wooorder_change",
}


class MappingChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        selectors.mappings_with_crm_labels(mappings=self.result_list)


@admin.register(WooMapping)
class WooMappingAdmin(ReadOnlySyncAdmin):
    list_display = [
        "resource",
        "woo_id",
        "crm_link",
        "woo_modified_at",
        "remote_status",
        "deleted_upstream_at",
        "store",
    ]
    list_filter = [
        "resource",
        ("store", ShopListFilter),
        ("deleted_upstream_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["woo_id__exact"]
    search_help_text = gettext_lazy("WooCommerce id")
    list_select_related = ["organization", "store"]
    fields = [
        "organization",
        "store",
        "resource",
        "woo_id",
        "crm_link",
        "woo_modified_at",
        "remote_status",
        "deleted_upstream_at",
        "updated_at",
    ]

    def get_changelist(self, request, **kwargs):
        return MappingChangeList

    @admin.display(description=gettext_lazy("CRM record"))
    def crm_link(self, mapping):
        if mapping.object_id is None:
            return "-"
        if not hasattr(mapping, "crm_label"):  # a mapping's own page
            selectors.mappings_with_crm_labels(mappings=[mapping])
        page = CRM_PAGES.get(mapping.resource)
        if page is None or mapping.crm_label is None:
            # Unknown resource, or the row is gone: nothing to link to.
            return f"#{mapping.object_id}"
        return format_html(
            '<a href="{}">{}</a>', reverse(page, args=[mapping.crm_target]), mapping.crm_label
        )


# --- Orders -----------------------------------------------------------------------------


@admin.register(WooOrder)
class WooOrderAdmin(ReadOnlySyncAdmin):
    list_display = [
        "order_number",
        "kind",
        "status",
        "subscriptions_column",
        "customer_column",
        "total_column",
        "ordered_at",
        "paid_at",
        "deleted_upstream",
        "store",
    ]
    list_filter = ["kind", "status", ("store", ShopListFilter), "deleted_upstream"]
    search_fields = ["number", "woo_id__exact", "customer__email"]
    search_help_text = gettext_lazy("Order number, WooCommerce id or customer e-mail")
    list_select_related = ["organization", "store", "customer", "billing_address"]
    fields = [
        "organization",
        "store",
        "woo_id",
        "number",
        "kind",
        "status",
        "subscriptions_column",
        "customer_column",
        "billing_address_column",
        "charges_column",
        "total_column",
        "ordered_at",
        "paid_at",
        "deleted_upstream",
        "updated_at",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "links",
                    queryset=WooRelatedOrder.objects.select_related("charge").order_by(
                        "woo_subscription_id"
                    ),
                )
            )
        )

    @admin.display(description=gettext_lazy("number"), ordering="number")
    def order_number(self, order):
        return str(order)

    @admin.display(description=gettext_lazy("subscriptions"))
    def subscriptions_column(self, order):
        """Every subscription the order belongs to (an initial order can start several)."""
        rows = list(order.links.all())
        if not rows:
            return "-"
        return format_html_join(
            ", ",
            "{}",
            (
                (
                    format_html(
                        '<a href="{}">#{}</a>',
                        change_url(Subscription, row.subscription_id),
                        row.subscription_id,
                    )
                    if row.subscription_id
                    else _("WooCommerce #%(id)s (not received yet)")
                    % {"id": row.woo_subscription_id},
                )
                for row in rows
            ),
        )

    @admin.display(description=gettext_lazy("charges"))
    def charges_column(self, order):
        rows = [row for row in order.links.all() if row.charge_id]
        if not rows:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (
                    reverse("admin:subscriptions_charge_change", args=[row.charge_id]),
                    _("cycle %(cycle)s of #%(subscription)s: %(amount)s")
                    % {
                        "cycle": row.charge.cycle,
                        "subscription": row.subscription_id,
                        "amount": money(row.charge.amount, row.charge.currency),
                    },
                )
                for row in rows
            ),
        )

    @admin.display(description=gettext_lazy("billing address"))
    def billing_address_column(self, order):
        return str(order.billing_address) if order.billing_address_id else "-"

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, order):
        if order.customer_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', change_url(Customer, order.customer_id), order.customer.email
        )

    @admin.display(description=gettext_lazy("total"), ordering="total")
    def total_column(self, order):
        if order.total is None:
            return "-"
        return money(order.total, order.currency)
