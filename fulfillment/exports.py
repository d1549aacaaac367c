"""The packing room's exports of a batch: pick list, packing slips and production plan.

Content: a locked (dispatched, completed) batch exports its lines as frozen at
the cut-off, except the excluded and the rolled ones, each with its status. An
open batch exports its live preview (`fulfillment.snapshots.open_batch_preview`):
what locking it now would freeze (boxes whose cycle starts later, before the
cut-off, are not in it); the pages say so, and the CSV files are named
`...-preview.csv`.

Each export is a CSV file, a printable page (`fulfillment.views`) or a PDF file
(`fulfillment.pdf`), all three from the same `BatchContent`.

Every export reads a bounded number of queries whatever the number of lines:
the lines (or the preview's reads), their customers' names, the schema.

CSV decisions, for the roaster's French Excel first:

- UTF-8 with a byte-order mark: without it Excel reads UTF-8 as Windows-1252
  ("CafÃ©").
- `;` between cells: French Excel (and every locale whose decimal separator
  is a comma) splits on `;` when a file is opened by a double click; LibreOffice
  and Google Sheets detect it. A `sep=;` first line is not used: with the BOM,
  Excel shows it as a cell.
- Numbers with decimals (kilograms) are written in the staff member's language
  ("1,250" in French), so Excel reads them as numbers and not as 1250; whole
  numbers are plain digits; dates are ISO (2026-12-02), which every Excel reads.
- A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
  prefixed with `'`: names and notes come from customers and shops, and must
  not run as spreadsheet formulas.
- Labels (headers, preference fields and choices, statuses) are in the active
  language, like the HTML pages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django_countries import countries

from crm.models import Address, Customer
from fulfillment.models import Batch, BatchLine, line_code
from fulfillment.snapshots import Box, PlanRow, box_of_line, open_batch_preview, production_plan
from preferences import validation
from preferences.selectors import PreferenceRow, display_value, preference_rows, preference_schema

#: What an export shows of a locked (or later) batch: every line but these.
HIDDEN_STATUSES = (BatchLine.Status.EXCLUDED, BatchLine.Status.ROLLED)

PICK_LIST = "pick-list"
PACKING_SLIPS = "packing-slips"
PRODUCTION_PLAN = "production-plan"
EXPORTS = (PICK_LIST, PACKING_SLIPS, PRODUCTION_PLAN)
FORMATS = ("csv", "html", "pdf")

#: The address snapshot's keys, in the order a label prints them.
ADDRESS_FIELDS = Address.CONTENT_FIELDS


@dataclass
class Parcel:
    """One box of an export: a batch line, or a due cycle of an open batch's preview."""

    subscription_id: int
    customer_id: int
    customer_name: str
    status: str
    status_label: str
    line_id: int | None = None
    address: dict[str, str] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The scan code of its line; empty for a preview box that has no line yet."""
        return line_code(self.line_id) if self.line_id else ""

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.line_id or 0, self.subscription_id)


@dataclass
class BatchContent:
    """What the exports of one batch show, read once."""

    batch: Batch
    preview: bool
    parcels: list[Parcel]
    boxes: list[Box]
    schema: list[validation.FieldSpec]
    #: An open batch's boxes due before its scheduled cut-off that locking it now would
    #: move to the next batch (not among `parcels`); 0 once locked.
    later: int = 0

    @cached_property
    def columns(self) -> list[validation.FieldSpec]:
        """The preference fields shown: the active ones, and retired ones some box still has."""
        used = {
            key
            for parcel in self.parcels
            for key, value in parcel.preferences.items()
            if not validation.is_empty(value)
        }
        return [spec for spec in self.schema if spec.active or spec.key in used]

    def specs(self) -> dict[str, validation.FieldSpec]:
        return {spec.key: spec for spec in self.schema}


def _status_label(status: str, *, replacement: bool) -> str:
    label = str(BatchLine.Status(status).label)
    if replacement:  # the packing room must know it is owed, not sold
        return f"{label} · {BatchLine.Kind.REPLACEMENT.label}"
    return label


def _customer_names(customer_ids: Iterable[int]) -> dict[int, str]:
    return {
        customer.pk: str(customer)
        for customer in Customer.objects.filter(pk__in=set(customer_ids)).only(
            "pk", "first_name", "last_name", "email"
        )
    }


def _preview_parcels(batch: Batch, boxes: list[Box]) -> list[Parcel]:
    # Boxes carried into the open batch (rolled from an earlier one) already have a line
    # and a code: find them by subscription and cycle.
    carried = {
        (subscription_id, cycle): pk
        for pk, subscription_id, cycle in BatchLine.objects.filter(batch=batch)
        .exclude(status__in=HIDDEN_STATUSES)
        .values_list("pk", "subscription_id", "cycle")
    }
    names = _customer_names(box.customer_id for box in boxes)
    parcels = []
    for box in boxes:
        status = BatchLine.Status.READY if box.paid else BatchLine.Status.AWAITING_PAYMENT
        parcels.append(
            Parcel(
                subscription_id=box.subscription_id,
                customer_id=box.customer_id,
                customer_name=names.get(box.customer_id, ""),
                status=status,
                status_label=_status_label(status, replacement=box.cycle is None),
                line_id=carried.get((box.subscription_id, box.cycle)),
                address=box.address,
                items=box.items,
                preferences=box.preferences,
            )
        )
    return parcels


def batch_content(*, batch: Batch) -> BatchContent:
    """The batch's boxes for its exports: the live preview while open, else its lines.

    Schema labels are read in the active language: call it inside the request's
    language.
    """
    schema = preference_schema(organization=batch.organization)
    later = 0
    if batch.status == Batch.Status.OPEN:
        preview = open_batch_preview(batch=batch)
        boxes, later = preview.boxes, len(preview.later)
        parcels = _preview_parcels(batch, boxes)
    else:
        lines = list(
            BatchLine.objects.filter(batch=batch)
            .exclude(status__in=HIDDEN_STATUSES)
            .order_by("id")
            .only(
                "pk",
                "kind",
                "status",
                "subscription_id",
                "customer_id",
                "cycle",
                "charge_id",
                "address",
                "items",
                "preferences",
            )
        )
        boxes = [box_of_line(line) for line in lines]
        names = _customer_names(line.customer_id for line in lines)
        parcels = [
            Parcel(
                subscription_id=line.subscription_id,
                customer_id=line.customer_id,
                customer_name=names.get(line.customer_id, ""),
                status=line.status,
                status_label=_status_label(
                    line.status, replacement=line.kind == BatchLine.Kind.REPLACEMENT
                ),
                line_id=line.pk,
                address=line.address,
                items=list(line.items or []),
                preferences=dict(line.preferences or {}),
            )
            for line in lines
        ]
    return BatchContent(
        batch=batch,
        preview=batch.status == Batch.Status.OPEN,
        parcels=parcels,
        boxes=boxes,
        schema=schema,
        later=later,
    )


def preference_display(spec: validation.FieldSpec | None, value: Any) -> str:
    """A box's value as printed: choice labels, yes/no, lists joined; empty if not set."""
    if validation.is_empty(value):
        return ""
    return display_value(spec, value)


# --- Pick list ---------------------------------------------------------------------------


@dataclass
class PickRow:
    """One product (or variant of a product) of one box, with the box's preferences (one
    per column)."""

    parcel: Parcel
    product_id: int
    sku: str
    name: str
    quantity: int
    values: list[str]
    variant_id: int | None = None


@dataclass
class PickGroup:
    """The rows of one product, or of one variant of a product, and its total."""

    product_id: int
    sku: str
    name: str
    rows: list[PickRow]
    variant_id: int | None = None

    @property
    def quantity(self) -> int:
        return sum(row.quantity for row in self.rows)


def _product_key(name: str, sku: str, product_id: int) -> tuple[str, str, int]:
    return (name.casefold(), sku.casefold(), product_id)


def pick_rows(content: BatchContent) -> list[PickRow]:
    """One row per box and product (or variant), sorted by name, then line code.

    An item's name and SKU are its variant's ("Espresso Blend - 1 kg") when it has one.
    """
    columns = content.columns
    rows = []
    for parcel in content.parcels:
        values = [preference_display(spec, parcel.preferences.get(spec.key)) for spec in columns]
        for item in parcel.items:
            rows.append(
                PickRow(
                    parcel=parcel,
                    product_id=item.get("product"),
                    sku=item.get("sku", ""),
                    name=item.get("name", ""),
                    quantity=item.get("quantity", 0),
                    values=values,
                    variant_id=item.get("variant"),
                )
            )
    rows.sort(
        key=lambda r: (
            _product_key(r.name, r.sku, r.product_id),
            r.variant_id or 0,
            r.parcel.sort_key,
        )
    )
    return rows


def pick_groups(rows: Sequence[PickRow]) -> list[PickGroup]:
    """The pick list by product or variant (rows already sorted so)."""
    groups: list[PickGroup] = []
    for row in rows:
        if not groups or (groups[-1].product_id, groups[-1].variant_id) != (
            row.product_id,
            row.variant_id,
        ):
            groups.append(PickGroup(row.product_id, row.sku, row.name, [], row.variant_id))
        groups[-1].rows.append(row)
    return groups


def pick_list_table(content: BatchContent) -> tuple[list[str], list[list[Any]]]:
    header = [
        _("Code"),
        _("Subscription"),
        _("Customer"),
        _("SKU"),
        _("Product"),
        _("Quantity"),
        _("Status"),
        *[spec.label for spec in content.columns],
    ]
    rows = [
        [
            row.parcel.code,
            row.parcel.subscription_id,
            row.parcel.customer_name,
            row.sku,
            row.name,
            row.quantity,
            row.parcel.status_label,
            *row.values,
        ]
        for row in pick_rows(content)
    ]
    return header, rows


# --- Packing slips -----------------------------------------------------------------------


@dataclass
class PackingSlip:
    parcel: Parcel
    address_lines: list[str]
    items: list[dict[str, Any]]
    preferences: list[PreferenceRow]
    notes: list[PreferenceRow]


def country_name(code: str) -> str:
    return str(countries.name(code) or code) if code else ""


def address_lines(address: dict[str, str] | None) -> list[str]:
    """The address as printed on a label, one line each, empty parts left out."""
    if not address:
        return []
    town = " ".join(part for part in (address.get("postcode"), address.get("city")) if part)
    lines = [
        address.get("name", ""),
        address.get("company", ""),
        address.get("line1", ""),
        address.get("line2", ""),
        town,
        address.get("state", ""),
        country_name(address.get("country", "")),
        address.get("phone", ""),
    ]
    return [line for line in lines if line]


def packing_slips(content: BatchContent) -> list[PackingSlip]:
    """One slip per box, by line code. Text preferences (a delivery note) print apart."""
    specs = content.specs()
    slips = []
    for parcel in sorted(content.parcels, key=lambda p: p.sort_key):
        shown = [
            row
            for row in preference_rows(content.schema, parcel.preferences)
            if not validation.is_empty(row.value)
        ]
        is_text = {
            row.key: getattr(specs.get(row.key), "type", None) == validation.TEXT for row in shown
        }
        slips.append(
            PackingSlip(
                parcel=parcel,
                address_lines=address_lines(parcel.address),
                items=parcel.items,
                preferences=[row for row in shown if not is_text[row.key]],
                notes=[row for row in shown if is_text[row.key]],
            )
        )
    return slips


def address_header() -> list[str]:
    return [capfirst(Address._meta.get_field(name).verbose_name) for name in ADDRESS_FIELDS]


def packing_slips_table(content: BatchContent) -> tuple[list[str], list[list[Any]]]:
    batch = content.batch
    columns = content.columns
    header = [
        _("Code"),
        _("Subscription"),
        _("Customer"),
        *address_header(),
        _("Items"),
        *[spec.label for spec in columns],
        _("Cycle"),
        _("Ships on"),
        _("Status"),
    ]
    rows = []
    for slip in packing_slips(content):
        parcel = slip.parcel
        address = parcel.address or {}
        rows.append(
            [
                parcel.code,
                parcel.subscription_id,
                parcel.customer_name,
                *[address.get(name, "") for name in ADDRESS_FIELDS],
                ", ".join(
                    _("%(quantity)s × %(name)s (%(sku)s)")  # noqa: RUF001 (the multiplication sign)
                    % {"quantity": item["quantity"], "name": item["name"], "sku": item["sku"]}
                    for item in parcel.items
                ),
                *[preference_display(spec, parcel.preferences.get(spec.key)) for spec in columns],
                batch.cycle_date.isoformat(),
                batch.ships_on.isoformat(),
                parcel.status_label,
            ]
        )
    return header, rows


# --- Production plan ---------------------------------------------------------------------


@dataclass
class PlanValue:
    label: str
    quantity: int
    kilograms: Decimal | None


@dataclass
class PlanField:
    label: str
    values: list[PlanValue]


@dataclass
class PlanProduct:
    total: PlanRow
    fields: list[PlanField]

    @property
    def variants(self) -> list[PlanRow]:
        """The product's total per variant (none for a simple product)."""
        return self.total.variants


def plan_value_label(spec: validation.FieldSpec | None, value: Any) -> str:
    return preference_display(spec, value) or _("(not set)")


def production(content: BatchContent) -> list[PlanProduct]:
    """Per product: quantity and kilograms, then per variant (`PlanProduct.variants`),
    then per choice or yes/no field and value."""
    totals, details = production_plan(
        organization=content.batch.organization, boxes=content.boxes, schema=content.schema
    )
    specs = content.specs()
    by_product: dict[int, dict[str, PlanField]] = {}
    for row in details:
        fields = by_product.setdefault(row.product_id, {})
        spec = specs.get(row.field)
        plan_field = fields.setdefault(row.field, PlanField(spec.label if spec else row.field, []))
        plan_field.values.append(
            PlanValue(plan_value_label(spec, row.value), row.quantity, row.kilograms)
        )
    return [
        PlanProduct(total, list(by_product.get(total.product_id, {}).values())) for total in totals
    ]


def production_plan_table(content: BatchContent) -> tuple[list[str], list[list[Any]]]:
    """A product's total row (preference and value empty), then its rows per variant (the
    variant's SKU and name), then its rows per value."""
    header = [_("SKU"), _("Product"), _("Preference"), _("Value"), _("Quantity"), _("Kilograms")]
    rows: list[list[Any]] = []
    for product in production(content):
        total = product.total
        rows.append([total.sku, total.name, "", "", total.quantity, total.kilograms])
        for variant in product.variants:
            rows.append([variant.sku, variant.name, "", "", variant.quantity, variant.kilograms])
        for plan_field in product.fields:
            for value in plan_field.values:
                rows.append(
                    [
                        total.sku,
                        total.name,
                        plan_field.label,
                        value.label,
                        value.quantity,
                        value.kilograms,
                    ]
                )
    return header, rows


# --- CSV ---------------------------------------------------------------------------------

TABLES = {
    PICK_LIST: pick_list_table,
    PACKING_SLIPS: packing_slips_table,
    PRODUCTION_PLAN: production_plan_table,
}

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return formats.number_format(value, decimal_pos=3)
    if isinstance(value, bool | int):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """The table as Excel opens it: UTF-8 with a BOM, `;` between cells, CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([csv_cell(capfirst(value)) for value in header])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def export_csv(content: BatchContent, export: str) -> bytes:
    header, rows = TABLES[export](content)
    return csv_bytes(header, rows)


def export_filename(content: BatchContent, export: str, extension: str) -> str:
    """E.g. batch-2026-12-02-pick-list.csv (…-preview.csv while the batch is open)."""
    suffix = "-preview" if content.preview else ""
    return f"batch-{content.batch.cycle_date.isoformat()}-{export}{suffix}.{extension}"
