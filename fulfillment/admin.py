"""The back office's fulfillment pages: cut-off settings, batches, their lines and shipments.

Settings are one row per organization, chosen by its administrators (everyone
may read them). Batches, lines and shipments change only through
`fulfillment.services`:

- a batch's page is read-only; its buttons (django-fsm-2's `FSMAdminMixin`
  through `crm.fsm_admin.ServiceActionsAdminMixin`: Lock, Dispatch, Complete,
  Cancel) each open a short confirmation form whose submission calls the
  matching service, and a refusal comes back as an error message with nothing
  written. While the batch is open the page shows a live preview of its boxes;
  from the lock on, what its lines hold. A locked batch's page has a "scan a
  line code" field for the packing room.
- lines are listed read-only, with filters by batch, status, product and
  preference value, and the bulk actions "Mark prepared" and "Exclude".
- a shipment's carrier and tracking number are edited on its page (saved by
  `shipment_update`); its status moves with the list's actions.

Who may act is decided as on the subscriptions' pages: the "change" role
(staff) of the row's organization; viewers see the pages without buttons.
On a batch's, line's or shipment's page times are in its organization's zone.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, ngettext_lazy

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import ServiceActionsAdminMixin
from crm.models import Customer, Organization, Product
from crm.object_tools import object_tools
from crm.tenant_admin import ActionsOnlyTenantAdmin, Role, TenantAdmin, when
from fulfillment import services
from fulfillment.models import (
    Batch,
    BatchLine,
    FulfillmentSettings,
    Shipment,
    line_code,
    line_pk_from_code,
)
from fulfillment.selectors import fulfillment_settings_for
from fulfillment.snapshots import (
    Box,
    DueCycle,
    boxes_from_lines,
    open_batch_preview,
    production_plan,
)
from fulfillment.tasks import batch_archive_start
from preferences import validation
from preferences.models import PreferenceChoice, PreferenceField
from preferences.selectors import display_value, preference_schema
from returns.models import ReturnRequest

LineStatus = BatchLine.Status

#: Boxes listed in an open batch's preview; the rest are counted.
PREVIEW_ROWS = 200

#: The packing room's exports (`fulfillment.urls`), in the order they are offered.
EXPORTS = [
    ("pick-list.csv", gettext_lazy("Pick list (CSV)")),
    ("pick-list.html", gettext_lazy("Pick list (printable)")),
    ("packing-slips.csv", gettext_lazy("Packing slips (CSV)")),
    ("packing-slips.html", gettext_lazy("Packing slips (printable)")),
    ("production-plan.csv", gettext_lazy("Production plan (CSV)")),
]


def local_time(field: str, description, *, ordering: bool = False):
    """An admin column: the instant `field` of a row in its organization's time zone."""

    def column(self, row):
        return when(getattr(row, field), row.organization.tzinfo)

    return admin.display(description=description, ordering=field if ordering else None)(column)


def refusal_text(error: ApplicationError) -> str:
    """A service's refusal as one sentence for a message."""
    fields = error.extra.get("fields") or {}
    found = [str(message) for messages_ in fields.values() for message in messages_]
    return error.message if error.message else " ".join(found)


def customer_label(customer: Customer) -> str:
    if customer.full_name:
        return f"{customer.full_name} <{customer.email}>"
    return customer.email


def items_text(items: list[dict[str, Any]] | None) -> str:
    """A snapshot's items as "2 x Coffee, 1 x Filters"."""
    return (
        ", ".join(
            f"{item.get('quantity')} x {item.get('name') or item.get('sku') or item.get('product')}"
            for item in items or []
        )
        or "-"
    )


def preferences_text(values: dict[str, Any] | None, specs: dict[str, validation.FieldSpec]) -> str:
    """A snapshot's preferences as "Grind: Espresso, Decaf: No" (empty values left out)."""
    values = values or {}
    order = {key: index for index, key in enumerate(specs)}
    parts = []
    for key in sorted(values, key=lambda k: (order.get(k, len(order)), k)):
        value = values[key]
        if validation.is_empty(value):
            continue
        spec = specs.get(key)
        parts.append(f"{spec.label if spec else key}: {display_value(spec, value)}")
    return ", ".join(parts) or "-"


def address_html(address: dict[str, str] | None):
    """A snapshot's address as the lines of a label."""
    if not address:
        return _("No shipping address.")
    lines = [
        address.get("name"),
        address.get("company"),
        address.get("line1"),
        address.get("line2"),
        " ".join(part for part in (address.get("postcode"), address.get("city")) if part),
        address.get("state"),
        address.get("country"),
        address.get("phone"),
    ]
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line))


def schemas_for(organization_ids) -> dict[int, dict[str, validation.FieldSpec]]:
    """Each organization's preference fields by key, in order (two queries for all)."""
    fields = (
        PreferenceField.objects.filter(organization_id__in=set(organization_ids))
        .prefetch_related(
            Prefetch("choices", queryset=PreferenceChoice.objects.order_by("position", "id"))
        )
        .order_by("organization_id", "position", "id")
    )
    schemas: dict[int, dict[str, validation.FieldSpec]] = defaultdict(dict)
    for field in fields:
        schemas[field.organization_id][field.key] = field.spec()
    return schemas


def visible_organizations(request, model_admin) -> set[int] | None:
    """Ids of the organizations whose rows the user sees; None for a superuser (all)."""
    if request.user.is_superuser:
        return None
    return model_admin._allowed(request, "view") | model_admin._allowed(request, "change")


def may_change(model_admin, request, organization_id: int) -> bool:
    return request.user.is_superuser or organization_id in model_admin._allowed(request, "change")


def nothing_selected(model_admin, request, queryset) -> bool:
    """Only rows the user cannot see were ticked (another organization's ids): say so as
    Django does when nothing is ticked."""
    if queryset.exists():
        return False
    model_admin.message_user(
        request,
        _(
            "Items must be selected in order to perform actions on them. No items have "
            "been changed."
        ),
        messages.WARNING,
    )
    return True


# --- List filters ------------------------------------------------------------------


def lowercase_first(text: str) -> str:
    """A name inside a sentence: "batch of Dec. 9, 2026" (the month keeps its capital)."""
    return text[:1].lower() + text[1:]


class TenantRelatedListFilter(admin.RelatedFieldListFilter):
    """A "by batch" filter naming only the batches of the organizations the user sees."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        visible = visible_organizations(request, model_admin)
        limit = {} if visible is None else {"organization_id__in": visible}
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=limit)


class ProductListFilter(admin.SimpleListFilter):
    """Lines whose items hold a product."""

    title = gettext_lazy("product")
    parameter_name = "product"
    #: The JSON list of the box's items, from the rows filtered.
    items_field = "items"

    def lookups(self, request, model_admin):
        products = Product.objects.order_by("name", "pk")
        visible = visible_organizations(request, model_admin)
        if visible is not None:
            products = products.filter(organization_id__in=visible)
        return [
            (str(pk), f"{name} ({sku})")
            for pk, name, sku in products.values_list("pk", "name", "sku")
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            product_id = int(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(**{f"{self.items_field}__contains": [{"product": product_id}]})


class PreferenceValueListFilter(admin.SimpleListFilter):
    """Lines whose preferences hold a value of a choice or yes/no field ("grind=espresso")."""

    title = gettext_lazy("preference")
    parameter_name = "preference"

    def lookups(self, request, model_admin):
        visible = visible_organizations(request, model_admin)
        organization_ids = (
            visible if visible is not None else Organization.objects.values_list("pk", flat=True)
        )
        self.types: dict[str, str] = {}
        choices: dict[str, str] = {}
        for specs in schemas_for(organization_ids).values():
            for spec in specs.values():
                if spec.type == "choice":
                    values = [(choice.value, choice.label) for choice in spec.choices]
                elif spec.type == "boolean":
                    values = [("true", _("Yes")), ("false", _("No"))]
                else:
                    continue
                self.types.setdefault(spec.key, spec.type)
                for value, label in values:
                    choices.setdefault(f"{spec.key}={value}", f"{spec.label}: {label}")
        return list(choices.items())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        key, sep, raw = self.value().partition("=")
        if not sep or not key:
            return queryset.none()
        value: Any = raw
        if getattr(self, "types", {}).get(key) == "boolean":
            if raw not in ("true", "false"):
                return queryset.none()
            value = raw == "true"
        return queryset.filter(preferences__contains={key: value})


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


# --- Settings ------------------------------------------------------------------------


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


# --- Batches -------------------------------------------------------------------------


class BatchActionForm(forms.Form):
    """Lock, complete, cancel: a confirmation, nothing to fill in."""

    def __init__(self, *args, batch=None, **kwargs):
        self.batch = batch
        super().__init__(*args, **kwargs)


class DispatchForm(BatchActionForm):
    carrier = forms.CharField(
        label=gettext_lazy("Carrier"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Set on every shipment created; each can be changed later."),
    )

    def __init__(self, *args, batch=None, **kwargs):
        super().__init__(*args, batch=batch, **kwargs)
        if batch is not None:
            settings_row = fulfillment_settings_for(organization=batch.organization)
            self.fields["carrier"].initial = settings_row.default_carrier


def apply_each(model_admin, request, rows, call) -> int:
    """Call the service `call(row)` for each selected row; report each refusal as an error
    message naming the row ("Line 1234: ..."), and return how many were done."""
    done = 0
    for row in rows:
        if not may_change(model_admin, request, row.organization_id):
            refused = _("You may not change it.")
        else:
            try:
                call(row)
            except ApplicationError as error:
                refused = refusal_text(error)
            else:
                done += 1
                continue
        model_admin.message_user(
            request, _("%(row)s: %(error)s") % {"row": row, "error": refused}, messages.ERROR
        )
    return done


class ScanForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Line code"), max_length=40)


def kilograms(value) -> str:
    return "-" if value is None else formats.number_format(value, 3, use_l10n=True)


def plan_tables(batch: Batch, boxes: list[Box]) -> dict[str, Any]:
    """The production plan of `boxes` as rows for the page."""
    schema = preference_schema(organization=batch.organization)
    specs = {spec.key: spec for spec in schema}
    products, details = production_plan(organization=batch.organization, boxes=boxes, schema=schema)
    boxes_with = defaultdict(int)
    for box in boxes:
        for key in {(item["product"], None) for item in box.items} | {
            (item["product"], item.get("variant")) for item in box.items if item.get("variant")
        }:
            boxes_with[key] += 1
    return {
        # Each product's total, then its variants' (the production plan's order).
        "products": [
            {
                "product": row.name or row.sku,
                "sku": row.sku,
                "boxes": boxes_with[(row.product_id, row.variant_id)],
                "quantity": row.quantity,
                "kilograms": kilograms(row.kilograms),
                **({"variant": True} if row.variant_id is not None else {}),
            }
            for product in products
            for row in (product, *product.variants)
        ],
        "details": [
            {
                "product": row.name or row.sku,
                "sku": row.sku,
                "field": specs[row.field].label if row.field in specs else row.field,
                "value": (
                    display_value(specs.get(row.field), row.value)
                    if row.value is not None
                    else _("(not set)")
                ),
                "quantity": row.quantity,
                "kilograms": kilograms(row.kilograms),
            }
            for row in details
        ],
    }


def later_rows(batch: Batch, later: list[DueCycle]) -> list[dict[str, Any]]:
    """The first cycles a lock now would move to the next batch (one query for their
    customers): whose, and when the cycle starts."""
    shown = later[:PREVIEW_ROWS]
    customers = Customer.objects.in_bulk({cycle.customer_id for cycle in shown})
    tz = batch.organization.tzinfo
    return [
        {
            "subscription_id": cycle.subscription_id,
            "customer": (
                customer_label(customers[cycle.customer_id])
                if cycle.customer_id in customers
                else cycle.customer_id
            ),
            "starts_at": when(cycle.starts_at, tz),
            "paid": cycle.paid,
        }
        for cycle in shown
    ]


def preview_rows(batch: Batch, boxes: list[Box]) -> list[dict[str, Any]]:
    """The first boxes of an open batch, as rows (one query for their customers)."""
    shown = boxes[:PREVIEW_ROWS]
    customers = Customer.objects.in_bulk({box.customer_id for box in shown})
    specs = {spec.key: spec for spec in preference_schema(organization=batch.organization)}
    rows = []
    for box in shown:
        customer = customers.get(box.customer_id)
        rows.append(
            {
                "subscription_id": box.subscription_id,
                "customer": customer_label(customer) if customer else box.customer_id,
                "items": items_text(box.items),
                "preferences": preferences_text(box.preferences, specs),
                "paid": box.paid,
                # A box owed after a case has no cycle: the packing room must know.
                "replacement": str(BatchLine.Kind.REPLACEMENT.label) if box.cycle is None else "",
            }
        )
    return rows


def lock_description(batch: Batch, now=None) -> str:
    """The lock's confirmation: how many boxes locking now freezes, and how many due before
    the scheduled cut-off move to the next batch (the preview's two numbers)."""
    preview = open_batch_preview(batch=batch, now=now)
    cutoff = when(batch.cutoff_at, batch.organization.tzinfo)
    frozen = ngettext("%(count)s box", "%(count)s boxes", len(preview.boxes)) % {
        "count": len(preview.boxes)
    }
    paid = ngettext("%(count)s paid", "%(count)s paid", preview.paid) % {"count": preview.paid}
    frozen = f"{frozen} ({paid})"
    if preview.at >= batch.cutoff_at:
        return _(
            "The cut-off (%(cutoff)s) has passed: the batch freezes %(frozen)s, as they "
            "stood at the cut-off."
        ) % {"cutoff": cutoff, "frozen": frozen}
    text = _(
        "Locking now freezes %(frozen)s, as they stand now, instead of at the cut-off "
        "(%(cutoff)s): changes made from now on count for the next batch."
    ) % {"frozen": frozen, "cutoff": cutoff}
    moved = len(preview.later)
    if moved:
        text += " " + ngettext(
            "%(count)s box due before the cut-off moves to the next batch: its cycle starts "
            "after now.",
            "%(count)s boxes due before the cut-off move to the next batch: their cycle starts "
            "after now.",
            moved,
        ) % {"count": moved}
    else:
        text += " " + _("No box due before the cut-off moves to the next batch.")
    return text


class BatchChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # Every row's counts in the page's one query.
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .annotate(
                **{
                    f"lines_{status}": Count("lines", filter=Q(lines__status=status))
                    for status in LineStatus.values
                }
            )
        )


@admin.register(Batch)
class BatchAdmin(ServiceActionsAdminMixin, TenantAdmin):
    """Read-only: batches are opened, locked and dispatched by the fulfillment services."""

    organization_column = True  # for staff of several organizations

    change_form_template = "admin/fulfillment/batch/change_form.html"
    fsm_forms = {"dispatch": DispatchForm}
    default_action_form = BatchActionForm
    action_form_object = "batch"

    list_display = ["cycle_date", "cutoff_column", "ships_on", "status", "lines_column"]
    list_filter = ["status"]
    ordering = ["-cutoff_at"]
    fields = [
        "organization",
        "cycle_date",
        "starts_column",
        "cutoff_column",
        "ships_on",
        "status",
        "locked_column",
        "dispatched_column",
        "completed_column",
    ]
    readonly_fields = fields

    # --- Permissions: nobody edits a batch; staff act on it through its buttons.

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def may_act(self, request, batch: Batch) -> bool:
        """The buttons and the scan field: staff of the batch's organization."""
        return self._has(request, "change", batch)

    # --- Changelist

    def get_changelist(self, request, **kwargs):
        return BatchChangeList

    cutoff_column = local_time("cutoff_at", gettext_lazy("cut-off"), ordering=True)
    starts_column = local_time("starts_at", gettext_lazy("covers cycles from"))
    locked_column = local_time("locked_at", gettext_lazy("locked at"))
    dispatched_column = local_time("dispatched_at", gettext_lazy("dispatched at"))
    completed_column = local_time("completed_at", gettext_lazy("completed at"))

    @admin.display(description=gettext_lazy("lines"))
    def lines_column(self, batch):
        counts = [(status, getattr(batch, f"lines_{status.value}", 0)) for status in LineStatus]
        shown = [(status, count) for status, count in counts if count]
        if not shown:
            return "-"
        base = reverse("admin:fulfillment_batchline_changelist")
        return format_html_join(
            ", ",
            '<a href="{}?batch__id__exact={}&amp;status__exact={}" data-status="{}">{}: {}</a>',
            (
                (base, batch.pk, status.value, status.value, status.label, count)
                for status, count in shown
            ),
        )

    # --- Change page

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/scan/",
                self.admin_site.admin_view(self.scan_view),
                name=f"{opts.app_label}_{opts.model_name}_scan",
            ),
            path(
                "<path:object_id>/exports-zip/",
                self.admin_site.admin_view(self.exports_zip_view),
                name=f"{opts.app_label}_{opts.model_name}_exports_zip",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, unquote(object_id))
        with timezone.override(batch.organization.tzinfo):
            context = {**(extra_context or {}), **self._panels(request, batch)}
            response = super().change_view(request, object_id, form_url, context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    def _panels(self, request, batch: Batch) -> dict[str, Any]:
        """What the batch's page shows below its fields."""
        counts = dict(
            BatchLine.objects.filter(batch=batch)
            .order_by()
            .values_list("status")
            .annotate(count=Count("id"))
        )
        lines_url = (
            f"{reverse('admin:fulfillment_batchline_changelist')}?batch__id__exact={batch.pk}"
        )
        context: dict[str, Any] = {
            "line_counts": [
                {
                    "status": status.value,
                    "label": status.label,
                    "count": counts.get(status.value, 0),
                    "url": f"{lines_url}&status__exact={status.value}",
                }
                for status in LineStatus
            ],
            "lines_total": sum(counts.values()),
            "lines_url": lines_url,
            "exports": self._exports(batch),
            "may_act": self.may_act(request, batch),
            "exports_archive": self._exports_archive(request, batch),
            # Links of the apps above (the carriers' "Create labels"): crm.object_tools.
            "object_tools": object_tools(request, batch),
        }
        if batch.status in (Batch.Status.DISPATCHED, Batch.Status.COMPLETED):
            context["shipments_url"] = (
                f"{reverse('admin:fulfillment_shipment_changelist')}?batch__id__exact={batch.pk}"
            )
        if batch.status == Batch.Status.OPEN:
            preview = open_batch_preview(batch=batch)
            boxes = preview.boxes
            context["preview"] = {
                "rows": preview_rows(batch, boxes),
                "total": len(boxes),
                "more": max(len(boxes) - PREVIEW_ROWS, 0),
                "paid": preview.paid,
                "later": len(preview.later),
                "later_rows": later_rows(batch, preview.later),
                "later_more": max(len(preview.later) - PREVIEW_ROWS, 0),
                "at_cutoff": len(boxes) + len(preview.later),
                "cutoff": when(batch.cutoff_at, batch.organization.tzinfo),
                "cutoff_ahead": preview.at < batch.cutoff_at,
            }
            context["plan"] = plan_tables(batch, boxes)
        elif batch.status != Batch.Status.CANCELED:
            context["plan"] = plan_tables(batch, boxes_from_lines(batch=batch))
        if batch.status == Batch.Status.LOCKED and context["may_act"]:
            context["scan_form"] = ScanForm(auto_id="id_scan_%s")
            context["scan_url"] = reverse(
                "admin:fulfillment_batch_scan", args=[batch.pk], current_app=self.admin_site.name
            )
        return context

    @staticmethod
    def _exports(batch: Batch) -> list[dict[str, str]]:
        links = []
        for kind, label in EXPORTS:
            try:
                url = reverse("fulfillment:batch-export", kwargs={"pk": batch.pk, "kind": kind})
            except NoReverseMatch:  # the exports are not installed (yet)
                continue
            links.append({"kind": kind, "label": str(label), "url": url})
        return links

    def _exports_archive(self, request, batch: Batch) -> dict[str, str] | None:
        """The "Prepare all exports (ZIP)" button: staff's, like the batch's other buttons.

        Reading an export is everyone's; starting work in the background is not.
        """
        if batch.status == Batch.Status.CANCELED or not self.may_act(request, batch):
            return None
        return {
            "label": _("Prepare all exports (ZIP)"),
            "url": reverse(
                "admin:fulfillment_batch_exports_zip",
                args=[batch.pk],
                current_app=self.admin_site.name,
            ),
        }

    def exports_zip_view(self, request, object_id):
        """GET: confirm; POST: start the operation building the ZIP, and show its page."""
        batch = self.get_object(request, unquote(object_id))
        if not self.may_act(request, batch):
            raise PermissionDenied
        if request.method != "POST":
            return TemplateResponse(
                request,
                "admin/operations/start_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "original": batch,
                    "title": _("Prepare all exports (ZIP)"),
                    "question": _(
                        "Prepare the pick list, packing slips and production plan of the %(batch)s "
                        "in one ZIP file? It is built in the background; its page shows the "
                        "progress and then offers the file."
                    )
                    % {"batch": str(batch).lower()},
                    "button": _("Prepare all exports (ZIP)"),
                    "cancel_url": self._change_url(batch),
                },
            )
        operation = batch_archive_start(
            batch=batch, started_by=request.user, language=translation.get_language()
        )
        return HttpResponseRedirect(
            reverse("admin:operations_operation_change", args=[operation.pk])
        )

    # --- The packing room's scanner

    def scan_view(self, request, object_id):
        batch = self.get_object(request, unquote(object_id))
        if not self.may_act(request, batch):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(batch))
        form = ScanForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Scan or type a line code."), messages.ERROR)
            return HttpResponseRedirect(self._change_url(batch))
        code = form.cleaned_data["code"].strip()
        elsewhere = self._line_elsewhere(batch, code)
        if elsewhere is not None:
            self.message_user(
                request,
                _("Line %(code)s is in the %(batch)s, not this one: nothing was changed.")
                % {"code": elsewhere.code, "batch": lowercase_first(str(elsewhere.batch))},
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(batch))
        try:
            line = services.line_prepare_code(
                organization=batch.organization, code=code, actor=Actor.for_user(request.user)
            )
        except ApplicationError as error:
            self.message_user(request, refusal_text(error), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Line %(code)s prepared: %(customer)s")
                % {"code": line.code, "customer": customer_label(line.customer)},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self._change_url(batch))

    @staticmethod
    def _line_elsewhere(batch: Batch, code: str) -> BatchLine | None:
        """The line a code stands for when it belongs to another batch of the organization.

        Preparing it from this page would be a box put on the wrong pile.
        """
        pk = line_pk_from_code(code)
        if pk is None:
            return None
        return (
            BatchLine.objects.filter(organization_id=batch.organization_id, pk=pk)
            .exclude(batch_id=batch.pk)
            .select_related("batch")
            .first()
        )

    # --- Buttons (django-fsm transitions, through the services:
    # crm.fsm_admin.ServiceActionsAdminMixin)

    action_labels = {
        "lock": gettext_lazy("Lock"),
        "dispatch": gettext_lazy("Dispatch"),
        "complete": gettext_lazy("Complete"),
        "cancel": gettext_lazy("Cancel"),
    }

    def admin_actions(self) -> dict:
        return {
            "lock": self._lock,
            "dispatch": self._dispatch,
            "complete": self._complete,
            "cancel": self._cancel,
        }

    def not_possible_message(self, batch: Batch, label: str) -> str:
        return _("“%(action)s” is not possible now: the batch is %(status)s.") % {
            "action": label,
            "status": batch.get_status_display().lower(),
        }

    def refusal_text(self, error: ApplicationError) -> str:
        return refusal_text(error)

    def describe_transition(self, batch: Batch, name: str) -> str:
        if name == "lock":
            return lock_description(batch)
        if name == "dispatch":
            settings_row = fulfillment_settings_for(organization=batch.organization)
            return _(
                "A shipment is created for each prepared, paid line. Lines still unpaid: "
                "%(unpaid)s. Paid lines nobody prepared roll to the next batch."
            ) % {"unpaid": settings_row.get_unpaid_lines_display().lower()}
        if name == "complete":
            return _("The batch is closed: every shipment must be delivered, returned or lost.")
        if name == "cancel":
            return _(
                "No shipment run this cycle: the next batch opens and covers this batch's cycles."
            )
        return ""

    # One per button: call the service, say what happened.

    def _lock(self, batch, actor, data):
        batch = services.batch_lock(batch=batch, actor=actor)
        count = BatchLine.objects.filter(batch=batch).count()
        return ngettext(
            "The batch is locked: %(count)d line.", "The batch is locked: %(count)d lines.", count
        ) % {"count": count}

    def _dispatch(self, batch, actor, data):
        report = services.batch_dispatch(batch=batch, actor=actor, carrier=data.get("carrier", ""))
        return _("The batch is dispatched: %(shipped)s, %(rolled)s, %(excluded)s.") % {
            "shipped": ngettext(
                "%(count)d shipment created", "%(count)d shipments created", report.shipped
            )
            % {"count": report.shipped},
            "rolled": ngettext(
                "%(count)d line rolled to the next batch",
                "%(count)d lines rolled to the next batch",
                report.rolled,
            )
            % {"count": report.rolled},
            "excluded": ngettext(
                "%(count)d line excluded", "%(count)d lines excluded", report.excluded
            )
            % {"count": report.excluded},
        }

    def _complete(self, batch, actor, data):
        services.batch_complete(batch=batch, actor=actor)
        return _("The batch is completed.")

    def _cancel(self, batch, actor, data):
        services.batch_cancel(batch=batch, actor=actor)
        return _("The batch is canceled: its cycles ship with the next batch.")


# --- Lines -----------------------------------------------------------------------------


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
class BatchLineAdmin(ActionsOnlyTenantAdmin):
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
                    "replacement_case",
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        line = self.get_object(request, unquote(object_id))
        # Links of the apps above (the carriers' parcel of this box): crm.object_tools.
        extra_context = {**(extra_context or {}), "object_tools": object_tools(request, line)}
        with timezone.override(line.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

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

    @admin.display(description=gettext_lazy("replaces"))
    def replacement_case(self, line):
        """The after-sales case a replacement box was added by."""
        if line.kind != BatchLine.Kind.REPLACEMENT:
            return "-"
        case = ReturnRequest.objects.filter(replacement_line=line).first()
        if case is None:
            return "-"
        url = reverse("admin:returns_returnrequest_change", args=[case.pk])
        return format_html('<a href="{}" class="return-case">{}</a>', url, case)

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


# --- Shipments ---------------------------------------------------------------------------


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
class ShipmentAdmin(TenantAdmin):
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
        "cases_column",
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
        "address_column",
        "shipped_column",
        "delivered_column",
        "closed_column",
        "created_column",
        "cases_detail",
    ]
    EDITABLE = ("carrier", "tracking_number")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        editable = () if obj is None or obj.is_closed else self.EDITABLE
        return [name for name in self.fields if name not in editable]

    def get_object(self, request, object_id, from_field=None):
        shipment = super().get_object(request, object_id, from_field)
        # Read by `cases_detail`, which is not given the request.
        shipment.may_open_case = self._has(request, "add", shipment)
        return shipment

    def get_queryset(self, request):
        # The list's after-sales column: counted in the page's one query.
        return super().get_queryset(request).annotate(cases_count=Count("return_requests"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        model_admin = self

        class ShipmentUpdateForm(form_class):
            def clean(self):
                cleaned = super().clean()
                if not self.errors and self.instance.pk is not None and self.changed_data:
                    model_admin._update(request, self)
                return cleaned

        return ShipmentUpdateForm

    def _update(self, request, form) -> None:
        """Write the changed fields through the service while the page is validated: a
        refusal is shown on the form, and nothing is written."""
        changed = {name: form.cleaned_data.get(name) or "" for name in form.changed_data}
        try:
            services.shipment_update(
                shipment=form.instance, actor=Actor.for_user(request.user), **changed
            )
        except ApplicationError as error:
            raise ValidationError(refusal_text(error)) from error

    def save_model(self, request, obj, form, change):
        # Written by `shipment_update` when the form was validated (see get_form).
        return

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shipment = self.get_object(request, unquote(object_id))
        # Links of the apps above (the carriers' tracking link): crm.object_tools.
        extra_context = {**(extra_context or {}), "object_tools": object_tools(request, shipment)}
        with timezone.override(shipment.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, shipment):
        return customer_label(shipment.customer)

    @admin.display(description=gettext_lazy("shipping address"))
    def address_column(self, shipment):
        return address_html(shipment.address)

    @admin.display(description=gettext_lazy("after-sales"), ordering="cases_count")
    def cases_column(self, shipment):
        count = getattr(shipment, "cases_count", 0)
        if not count:
            return "-"
        cases = reverse("admin:returns_returnrequest_changelist")
        url = f"{cases}?shipment__id__exact={shipment.pk}"
        return format_html(
            '<a href="{}" class="return-cases">{}</a>',
            url,
            ngettext("%(count)d case", "%(count)d cases", count) % {"count": count},
        )

    @admin.display(description=gettext_lazy("after-sales cases"))
    def cases_detail(self, shipment):
        """The shipment's cases, and the way to open one while none is open."""
        cases = list(
            ReturnRequest.objects.filter(shipment=shipment)
            .select_related("reason")
            .order_by("opened_at", "id")
        )
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
                for case in cases
            ),
        )
        parts = [rows] if cases else [_("None.")]
        may_open = (
            shipment.status != Shipment.Status.CREATED
            and not any(case.is_open for case in cases)
            and getattr(shipment, "may_open_case", False)
        )
        if may_open:
            url = f"{reverse('admin:returns_returnrequest_add')}?shipment={shipment.pk}"
            parts.append(
                format_html(
                    '<a href="{}" class="open-return-case">{}</a>',
                    url,
                    _("Open an after-sales case"),
                )
            )
        return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))

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
