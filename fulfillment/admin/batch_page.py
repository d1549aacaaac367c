"""What a batch's page shows below its fields: the open batch's preview, the production
plan, the exports offered, and the lock's confirmation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.admin_display import (
    customer_label,
    items_text,
)
from crm.models import Customer
from crm.tenant_admin import when
from fulfillment.admin.display import preferences_text
from fulfillment.models import (
    Batch,
    BatchLine,
)
from fulfillment.snapshots import (
    Box,
    DueCycle,
    open_batch_preview,
    production_plan,
)
from preferences.selectors import display_value, preference_schema

#: Boxes listed in an open batch's preview; the rest are counted.
PREVIEW_ROWS = 200

#: The packing room's exports (`fulfillment.urls`), in the order they are offered.
EXPORTS = [
    ("pick-list.csv", gettext_lazy("Pick list (CSV)")),
    ("pick-list.html", gettext_lazy("Pick list (printable)")),
    ("packing-slips.csv", gettext_lazy("Packing slips (CSV)")),
    ("packing-slips.html", gettext_lazy("Packing slips (printable)")),
    ("production-plan.csv", gettext_lazy("Production plan (CSV)")),
    ("pick-list.pdf", gettext_lazy("Pick list (PDF)")),
    ("packing-slips.pdf", gettext_lazy("Packing slips (PDF)")),
    ("production-plan.pdf", gettext_lazy("Production plan (PDF)")),
]


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
