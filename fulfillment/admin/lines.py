"""The batches' lines: read-only, prepared or excluded by the list's actions.

The after-sales case a replacement box was added by is shown by the back
office (`dashboard.fulfillment_admin`).
"""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_display import (
    ProductListFilter,
    apply_each,
    customer_label,
    items_text,
    local_time,
    may_change,
    nothing_selected,
    refusal_text,
)
from crm.models import Organization
from crm.object_tools import object_tools
from crm.tenant_admin import ActionsOnlyTenantAdmin, OrganizationTimeChangeViewMixin
from fulfillment import services
from fulfillment.admin.display import (
    PreferenceValueListFilter,
    TenantRelatedListFilter,
    address_html,
    preferences_text,
    schemas_for,
)
from fulfillment.models import (
    BatchLine,
    Shipment,
    line_code,
    line_pk_from_code,
)
from preferences import validation
from preferences.selectors import display_value, preference_schema


class ExcludeForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=400,
        help_text=gettext_lazy("Kept on each line, e.g. out of stock, asked by the customer."),
    )


class BatchLineChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # The page's preference labels: two queries whatever the number of rows.
        schemas = schemas_for({line.organization_id for line in self.result_list})
        for line in self.result_list:
            line.preference_specs = schemas.get(line.organization_id, {})


@admin.register(BatchLine)
class BatchLineAdmin(OrganizationTimeChangeViewMixin, ActionsOnlyTenantAdmin):
    """The boxes of the batches: read-only; prepared or excluded by the list's actions."""

    organization_column = True  # for staff of several organizations

    list_display = [
        "code_column",
        "batch",
        "customer_column",
        "products_column",
        "preferences_column",
        "status",
        "kind",
        "charge_status",
    ]
    list_display_links = ["code_column"]
    list_filter = [
        "status",
        "kind",
        ("batch", TenantRelatedListFilter),
        ProductListFilter,
        PreferenceValueListFilter,
    ]
    list_select_related = ["organization", "batch", "customer", "charge"]
    search_fields = ["customer__email", "customer__first_name", "customer__last_name"]
    search_help_text = gettext_lazy("A customer's name or e-mail, or a line code.")
    actions = ["mark_prepared", "exclude_lines"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "code_column",
                    "batch",
                    "status",
                    "kind",
                    "reason",
                    "subscription",
                    "cycle",
                    "customer",
                    "charge",
                    "charge_status",
                    "rolled_from",
                    "shipment_link",
                ]
            },
        ),
        (
            gettext_lazy("Content at the cut-off"),
            {"fields": ["address_column", "items_column", "preferences_detail"]},
        ),
        (
            gettext_lazy("Packing"),
            {"fields": ["prepared_column", "prepared_by", "created_column"]},
        ),
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]

    def get_changelist(self, request, **kwargs):
        return BatchLineChangeList

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        codes = [line_pk_from_code(term) for term in search_term.split()]
        codes = [pk for pk in codes if pk is not None]
        if codes:
            results = results | queryset.filter(pk__in=codes)
        # A SKU (a variant's or a simple product's) finds the boxes holding it.
        for term in search_term.split():
            results = results | queryset.filter(items__contains=[{"sku": term}])
        return results, may_have_duplicates

    def change_context(self, request, line) -> dict:
        # Links of the apps above (the carriers' parcel of this box): crm.object_tools.
        return {"object_tools": object_tools(request, line)}

    # --- Columns

    @admin.display(description=gettext_lazy("code"), ordering="id")
    def code_column(self, line):
        return line.code

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, line):
        return customer_label(line.customer)

    @admin.display(description=gettext_lazy("items"))
    def products_column(self, line):
        return items_text(line.items)

    @admin.display(description=gettext_lazy("preferences"))
    def preferences_column(self, line):
        specs = getattr(line, "preference_specs", None)
        if specs is None:
            specs = {spec.key: spec for spec in preference_schema(organization=line.organization)}
        return preferences_text(line.preferences, specs)

    @admin.display(description=gettext_lazy("charge"), ordering="charge__status")
    def charge_status(self, line):
        return line.charge.get_status_display() if line.charge_id else "-"

    @admin.display(description=gettext_lazy("shipping address"))
    def address_column(self, line):
        return address_html(line.address)

    @admin.display(description=gettext_lazy("items"))
    def items_column(self, line):
        if not line.items:
            return "-"
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("SKU"),
            _("Product"),
            _("Quantity"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (item.get("sku", ""), item.get("name", ""), item.get("quantity"))
                    for item in line.items
                ),
            ),
        )

    @admin.display(description=gettext_lazy("preferences"))
    def preferences_detail(self, line):
        specs = {spec.key: spec for spec in preference_schema(organization=line.organization)}
        rows = [
            (specs[key].label if key in specs else key, display_value(specs.get(key), value))
            for key, value in sorted(
                (line.preferences or {}).items(),
                key=lambda pair: list(specs).index(pair[0]) if pair[0] in specs else len(specs),
            )
            if not validation.is_empty(value)
        ]
        if not rows:
            return "-"
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description=gettext_lazy("shipment"))
    def shipment_link(self, line):
        shipment = Shipment.objects.filter(line=line).first()
        if shipment is None:
            return "-"
        url = reverse("admin:fulfillment_shipment_change", args=[shipment.pk])
        return format_html('<a href="{}">{}</a>', url, shipment)

    prepared_column = local_time("prepared_at", gettext_lazy("prepared at"))
    created_column = local_time("created_at", gettext_lazy("created at"))

    # --- Actions

    @admin.action(description=gettext_lazy("Mark prepared"), permissions=["change"])
    def mark_prepared(self, request, queryset):
        if nothing_selected(self, request, queryset):
            return
        actor = Actor.for_user(request.user)
        ids_by_organization: dict[int, list[int]] = defaultdict(list)
        refused: dict[str, list[int]] = defaultdict(list)
        for pk, organization_id in queryset.order_by("pk").values_list("pk", "organization_id"):
            if may_change(self, request, organization_id):
                ids_by_organization[organization_id].append(pk)
            else:
                refused[_("You may not change it.")].append(pk)
        organizations = Organization.objects.in_bulk(list(ids_by_organization))
        done = 0
        for organization_id, ids in ids_by_organization.items():
            try:
                report = services.lines_prepare(
                    organization=organizations[organization_id], line_ids=ids, actor=actor
                )
            except ApplicationError as error:
                refused[refusal_text(error)].extend(ids)
                continue
            done += len(report.done)
            for pk, reason in report.refused.items():
                refused[reason].append(pk)
        if done:
            self.message_user(
                request,
                ngettext(
                    "%(count)d line marked prepared.", "%(count)d lines marked prepared.", done
                )
                % {"count": done},
                messages.SUCCESS,
            )
        for reason, ids in refused.items():
            self.message_user(
                request,
                ngettext(
                    "%(count)d line not prepared: %(reason)s (%(codes)s)",
                    "%(count)d lines not prepared: %(reason)s (%(codes)s)",
                    len(ids),
                )
                % {
                    "count": len(ids),
                    "reason": reason,
                    "codes": ", ".join(line_code(pk) for pk in sorted(ids)),
                },
                messages.ERROR,
            )

    @admin.action(description=gettext_lazy("Exclude from the batch"), permissions=["change"])
    def exclude_lines(self, request, queryset):
        if nothing_selected(self, request, queryset):
            return None
        form = ExcludeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            actor = Actor.for_user(request.user)
            reason = form.cleaned_data["reason"]
            done = apply_each(
                self,
                request,
                queryset.order_by("pk"),
                lambda line: services.line_exclude(line=line, actor=actor, reason=reason),
            )
            if done:
                self.message_user(
                    request,
                    ngettext("%(count)d line excluded.", "%(count)d lines excluded.", done)
                    % {"count": done},
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Exclude lines from their batch"),
            "intro": _("These lines will not ship with their batch:"),
            "rows": [
                (line.pk, f"{line} ({line.customer}, {line.batch}, {line.get_status_display()})")
                for line in queryset.select_related("customer", "batch").order_by("pk")
            ],
            "action": "exclude_lines",
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/action_form.html", context)
