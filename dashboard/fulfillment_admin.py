"""The fulfillment pages as the back office shows them: with the after-sales cases.

Fulfillment sits below returns, so its admin (`fulfillment.admin`) knows
nothing of cases. The back office composes the two: a shipment's list counts
its cases and its page lists them, with the way to open one while none is
open; a replacement box's page names the case it was added by. The cases are
read through `returns.selectors`. The boxes list's "Print labels" action
sends a selection of one batch's boxes to the carriers' labels file
(`carriers.admin.ParcelAdmin.print_labels_view`, by its address). Registered
in place of fulfillment's own admins (`dashboard.admin` imports this module).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.tenant_admin import when
from fulfillment.admin import BatchLineAdmin, ShipmentAdmin
from fulfillment.models import BatchLine, Shipment
from returns import selectors as cases


def _fields_after(fields, after: str, *added: str) -> list:
    index = fields.index(after) + 1
    return [*fields[:index], *added, *fields[index:]]


class ShipmentWithCasesAdmin(ShipmentAdmin):
    """A shipment's pages, with its after-sales cases."""

    list_display = [*ShipmentAdmin.list_display, "cases_column"]
    fields = [*ShipmentAdmin.fields, "cases_detail"]

    def get_object(self, request, object_id, from_field=None):
        shipment = super().get_object(request, object_id, from_field)
        # Read by `cases_detail`, which is not given the request.
        shipment.may_open_case = self._has(request, "add", shipment)
        return shipment

    def get_queryset(self, request):
        # The list's after-sales column: counted in the page's one query.
        return cases.shipments_with_cases_count(super().get_queryset(request))

    @admin.display(description=gettext_lazy("after-sales"), ordering="cases_count")
    def cases_column(self, shipment):
        count = getattr(shipment, "cases_count", 0)
        if not count:
            return "-"
        cases_list = reverse("admin:returns_returnrequest_changelist")
        url = f"{cases_list}?shipment__id__exact={shipment.pk}"
        return format_html(
            '<a href="{}" class="return-cases">{}</a>',
            url,
            ngettext("%(count)d case", "%(count)d cases", count) % {"count": count},
        )

    @admin.display(description=gettext_lazy("after-sales cases"))
    def cases_detail(self, shipment):
        """The shipment's cases, and the way to open one while none is open."""
        found = cases.shipment_cases(shipment=shipment)
        rows = format_html_join(
            mark_safe("<br>"),
            '<a href="{}" class="return-case">{}</a>: {}, {} ({})',
            (
                (
                    reverse("admin:returns_returnrequest_change", args=[case.pk]),
                    case,
                    case.reason.display_label,
                    case.get_status_display().lower(),
                    _("opened %(date)s") % {"date": when(case.opened_at)},
                )
                for case in found
            ),
        )
        parts = [rows] if found else [_("None.")]
        if getattr(shipment, "may_open_case", False) and cases.case_may_open(
            shipment=shipment, cases=found
        ):
            url = f"{reverse('admin:returns_returnrequest_add')}?shipment={shipment.pk}"
            parts.append(
                format_html(
                    '<a href="{}" class="open-return-case">{}</a>',
                    url,
                    _("Open an after-sales case"),
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))


class BatchLineWithCaseAdmin(BatchLineAdmin):
    """A line's page, naming the case a replacement box was added by."""

    fieldsets = [
        (
            None,
            {
                **BatchLineAdmin.fieldsets[0][1],
                "fields": _fields_after(
                    BatchLineAdmin.fieldsets[0][1]["fields"], "kind", "replacement_case"
                ),
            },
        ),
        *BatchLineAdmin.fieldsets[1:],
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]
    actions = [*BatchLineAdmin.actions, "print_labels"]

    @admin.action(description=gettext_lazy("Print labels"), permissions=["view"])
    def print_labels(self, request, queryset):
        """The selected boxes' labels, as one PDF (boxes of one batch)."""
        rows = list(queryset.order_by("pk").values_list("pk", "batch_id"))
        batches = {batch_id for _pk, batch_id in rows}
        if len(batches) != 1:
            self.message_user(
                request, _("Select boxes of one batch to print their labels."), messages.ERROR
            )
            return None
        url = reverse("admin:carriers_parcel_print_labels", args=[batches.pop()])
        lines = ",".join(str(pk) for pk, _batch in rows)
        return HttpResponseRedirect(f"{url}?lines={lines}")

    @admin.display(description=gettext_lazy("replaces"))
    def replacement_case(self, line):
        """The after-sales case a replacement box was added by."""
        case = cases.replacement_case(line=line)
        if case is None:
            return "-"
        url = reverse("admin:returns_returnrequest_change", args=[case.pk])
        return format_html('<a href="{}" class="return-case">{}</a>', url, case)


for model, model_admin in ((Shipment, ShipmentWithCasesAdmin), (BatchLine, BatchLineWithCaseAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
