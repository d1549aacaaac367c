"""Webhook deliveries in the back office: what the shop sent and what became of it.

Read-only; staff (not viewers) can send chosen deliveries to be processed again
(`woocommerce.services.deliveries_reprocess`).
"""

from __future__ import annotations

import contextlib
import json

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.tenant_admin import ActionsOnlyTenantAdmin
from woocommerce import services
from woocommerce.admin.common import ShopListFilter, SyncAdmin, first_line_of
from woocommerce.models import WebhookDelivery

# A delivery's body is shown up to this many characters (bodies may reach 2 MB).
BODY_SHOWN = 100_000


class DeliveryChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The list never shows bodies (up to 2 MB each), headers or tracebacks.
        return (
            super().get_queryset(request, exclude_parameters).defer("body", "headers", "traceback")
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ActionsOnlyTenantAdmin, SyncAdmin):
    """What the shop sent and what became of it; read-only, but can be processed again."""

    list_display = [
        "id",
        "topic",
        "status",
        "store",
        "woo_id",
        "attempts",
        "received_at",
        "processed_at",
        "short_error",
    ]
    list_display_links = ["id", "topic"]
    list_filter = ["status", "topic", ("store", ShopListFilter), "resource"]
    search_fields = ["woo_id__exact", "delivery_id__exact", "topic"]
    search_help_text = gettext_lazy("WooCommerce id, delivery id or topic")
    list_select_related = ["organization", "store"]
    actions = ["reprocess"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "store",
                    "topic",
                    "resource",
                    "event",
                    "woo_id",
                    "status",
                    "attempts",
                ]
            },
        ),
        (
            gettext_lazy("Delivery"),
            {
                "fields": [
                    "webhook_id",
                    "delivery_id",
                    "received_at",
                    "queued_at",
                    "started_at",
                    "processed_at",
                    "updated_at",
                ]
            },
        ),
        (gettext_lazy("Content"), {"fields": ["headers_display", "body_display"]}),
        (gettext_lazy("Error"), {"fields": ["message_display", "traceback_display"]}),
    ]

    def get_changelist(self, request, **kwargs):
        return DeliveryChangeList

    @admin.display(description=gettext_lazy("error"))
    def short_error(self, delivery):
        return first_line_of(delivery.message())

    @admin.display(description=gettext_lazy("error"))
    def message_display(self, delivery):
        """Why it was ignored or failed, in the reader's language (its stored text for rows
        older than the reason codes and for unexpected exceptions)."""
        return delivery.message() or "-"

    @admin.display(description=gettext_lazy("headers"))
    def headers_display(self, delivery):
        text = json.dumps(delivery.headers or {}, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="delivery-headers">{}</pre>', text)

    @admin.display(description=gettext_lazy("body"))
    def body_display(self, delivery):
        text = delivery.body_text
        with contextlib.suppress(ValueError):  # not JSON: shown as received
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        note = ""
        if len(text) > BODY_SHOWN:
            note = _("(%(count)d more characters not shown)") % {"count": len(text) - BODY_SHOWN}
            text = text[:BODY_SHOWN]
        return format_html(
            '<pre class="delivery-body">{}</pre>{}',
            text,
            note,
        )

    @admin.display(description=gettext_lazy("traceback"))
    def traceback_display(self, delivery):
        if not delivery.traceback:
            return "-"
        return format_html('<pre class="delivery-traceback">{}</pre>', delivery.traceback)

    @admin.action(
        description=gettext_lazy("Reprocess the selected deliveries"), permissions=["change"]
    )
    def reprocess(self, request, queryset):
        """Start the selected deliveries over: received, no attempt, no error; then queue them."""
        ids = queryset.values_list("pk", flat=True)
        if not request.user.is_superuser:
            ids = ids.filter(organization_id__in=self._allowed(request, "change"))
        count = services.deliveries_reprocess(delivery_ids=ids)
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery will be processed again.",
                "%(count)d deliveries will be processed again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
