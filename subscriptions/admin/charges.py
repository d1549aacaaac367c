"""Charges: read-only, written by renewals and the services; staff record manual payments."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import refusal_messages
from crm.tenant_admin import ActionsOnlyTenantAdmin, money
from subscriptions import services
from subscriptions.forms import ChargeFailureForm
from subscriptions.models import Charge


@admin.register(Charge)
class ChargeAdmin(ActionsOnlyTenantAdmin):
    """Charges are written by renewals and services; staff record manual payments here."""

    list_display = [
        "id",
        "subscription_link",
        "customer",
        "cycle",
        "period_start",
        "amount_column",
        "status",
        "attempts",
        "next_retry_at",
        "gateway",
        "paid_at",
    ]
    list_filter = ["status", "gateway"]
    search_fields = ["subscription__customer__email", "external_reference"]
    list_select_related = ["organization", "subscription__customer"]
    actions = ["mark_paid", "mark_failed"]

    def lookup_allowed(self, lookup, value, request=None):
        # A customer's page links to their charges (dashboard.views.customer_page).
        if lookup == "subscription__customer__id__exact":
            return True
        return super().lookup_allowed(lookup, value, request)

    fields = [
        "organization",
        "subscription",
        "cycle",
        "period_start",
        "period_end",
        "amount",
        "adjustment",
        "refunded_amount",
        "currency",
        "status",
        "attempts",
        "first_failed_at",
        "next_retry_at",
        "failure_reason",
        "gateway",
        "external_reference",
        "paid_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("subscription"), ordering="subscription_id")
    def subscription_link(self, charge):
        url = reverse("admin:subscriptions_subscription_change", args=[charge.subscription_id])
        return format_html('<a href="{}">#{}</a>', url, charge.subscription_id)

    @admin.display(description=gettext_lazy("customer"))
    def customer(self, charge):
        return charge.subscription.customer.email

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_column(self, charge):
        return money(charge.amount, charge.currency)

    def _each(self, request, queryset, apply, done_message) -> None:
        actor = Actor.for_user(request.user)
        done = 0
        for charge in queryset.select_related("subscription").order_by("pk"):
            refused = None
            if not self._has(request, "change", charge):
                refused = _("you may not change it.")
            else:
                try:
                    apply(charge, actor)
                except ApplicationError as error:
                    refused = " ".join(refusal_messages(error))
            if refused is None:
                done += 1
            else:
                self.message_user(
                    request,
                    _("Charge %(charge)s: %(error)s") % {"charge": charge, "error": refused},
                    messages.ERROR,
                )
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=gettext_lazy("Mark paid"), permissions=["change"])
    def mark_paid(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda charge, actor: services.charge_mark_paid(charge=charge, actor=actor),
            lambda n: (
                ngettext("%(count)d charge marked paid.", "%(count)d charges marked paid.", n)
                % {"count": n}
            ),
        )

    @admin.action(description=gettext_lazy("Mark failed"), permissions=["change"])
    def mark_failed(self, request, queryset):
        form = ChargeFailureForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(
                request,
                queryset,
                lambda charge, actor: services.charge_mark_failed(
                    charge=charge, actor=actor, reason=reason
                ),
                lambda n: (
                    ngettext(
                        "%(count)d charge marked failed.", "%(count)d charges marked failed.", n
                    )
                    % {"count": n}
                ),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Mark charges failed"),
            "rows": [
                (
                    charge.pk,
                    f"{charge} ({charge.subscription.customer.email}, "
                    f"{charge.get_status_display()})",
                )
                for charge in queryset.select_related("subscription__customer")
            ],
            "action": "mark_failed",
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/action_form.html", context)
