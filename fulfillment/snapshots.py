"""What a batch holds: the billing cycles due in it, and each box as it stood at an instant.

A batch covers the billing cycles that start in `[starts_at, cutoff_at)`:

- cycles already charged: a `Charge` whose `period_start` is in the window
  (scheduled, pending, paid or failed; a voided or refunded one ships nothing);
- the cycle not charged yet: an active subscription whose `next_charge_at` is
  in the window and has no charge for `next_cycle` (the renewal run has not
  reached it; the line waits for its payment).

Paused subscriptions charge no cycle, skipped cycles have no charge and are
never `next_cycle`, so neither ships. A cycle that already has a line (a line
rolled from an earlier batch, or locked already) is not due again.

An open batch's preview is what locking it now would freeze: a lock before the
cut-off makes now the cut-off, so the cycles that start between now and the
scheduled cut-off are listed apart, as moving to the next batch
(`open_batch_preview`).

The content of each box is read *as it stood at an instant* (the cut-off), so a
batch locked late still ships what the customer had chosen in time. Current
rows are read, then the changes made at or after the instant are undone, using
the first change of each kind since then:

- preferences: `preferences.selectors.preferences_at_many` (the history);
- items: the first "items changed" event's old items;
- shipping address: the first "address changed" event's old address, and the
  first `AddressRevision` of that address (its content before an edit).

Every read is one query whatever the number of subscriptions.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef

from core import clock
from crm.models import Address, AddressRevision, Organization, Product, Variant, attribute_label
from fulfillment.models import Batch, BatchLine
from preferences import validation
from preferences.selectors import preference_schema, preferences_at_many
from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem

#: Charges whose cycle ships (once paid); voided and refunded ones do not.
SHIPPING_CHARGE_STATUSES = (
    Charge.Status.SCHEDULED,
    Charge.Status.PENDING,
    Charge.Status.PAID,
    Charge.Status.FAILED,
)


@dataclass(frozen=True)
class DueCycle:
    subscription_id: int
    cycle: int
    customer_id: int
    charge_id: int | None
    paid: bool
    #: When the cycle starts: its charge's `period_start`, else the subscription's
    #: `next_charge_at` (None for a line carried into the batch).
    starts_at: datetime | None = None


@dataclass
class Box:
    """One box as it stood at an instant: a due cycle with its content."""

    subscription_id: int
    cycle: int | None
    customer_id: int
    charge_id: int | None
    paid: bool
    address: dict[str, str] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    preferences: dict[str, Any] = field(default_factory=dict)


def _taken(organization_id: int, subscription_ref: str, cycle_ref: str):
    """A line (not rolled away) already holds this cycle."""
    return Exists(
        BatchLine.objects.filter(
            organization_id=organization_id,
            subscription_id=OuterRef(subscription_ref),
            cycle=OuterRef(cycle_ref),
        ).exclude(status=BatchLine.Status.ROLLED)
    )


def due_cycles(*, batch: Batch) -> list[DueCycle]:
    """The billing cycles due in `batch` that no line holds yet (two queries)."""
    organization_id = batch.organization_id
    window = {"gte": batch.starts_at, "lt": batch.cutoff_at}
    charged = (
        Charge.objects.filter(
            organization_id=organization_id,
            period_start__gte=window["gte"],
            period_start__lt=window["lt"],
            status__in=SHIPPING_CHARGE_STATUSES,
        )
        .exclude(_taken(organization_id, "subscription_id", "cycle"))
        .values_list(
            "subscription_id", "cycle", "subscription__customer_id", "id", "status", "period_start"
        )
        .order_by("subscription_id", "cycle")
    )
    due = {
        (subscription_id, cycle): DueCycle(
            subscription_id, cycle, customer_id, charge_id, status == Charge.Status.PAID, start
        )
        for subscription_id, cycle, customer_id, charge_id, status, start in charged
    }
    uncharged = (
        Subscription.objects.filter(
            organization_id=organization_id,
            status=Subscription.Status.ACTIVE,
            next_charge_at__gte=window["gte"],
            next_charge_at__lt=window["lt"],
        )
        .exclude(
            Exists(
                Charge.objects.filter(subscription_id=OuterRef("pk"), cycle=OuterRef("next_cycle"))
            )
        )
        .exclude(_taken(organization_id, "pk", "next_cycle"))
        .values_list("pk", "next_cycle", "customer_id", "next_charge_at")
    )
    for subscription_id, cycle, customer_id, start in uncharged:
        due.setdefault(
            (subscription_id, cycle),
            DueCycle(subscription_id, cycle, customer_id, None, False, start),
        )
    return [due[key] for key in sorted(due)]


# --- Content as it stood at an instant ---------------------------------------------


def _first_events_since(ids: list[int], kind: str, at: datetime) -> dict[int, dict]:
    """The data of each subscription's first event of `kind` at or after `at`."""
    rows = (
        SubscriptionEvent.objects.filter(subscription_id__any=ids, kind=kind, created_at__gte=at)
        .order_by("subscription_id", "created_at", "id")
        .distinct("subscription_id")
        .values_list("subscription_id", "data")
    )
    return dict(rows)


def _item_ref(item: dict) -> dict:
    """What an item names (product, variant or None, quantity); old events have no variant."""
    return {
        "product": item["product"],
        "variant": item.get("variant"),
        "quantity": item["quantity"],
    }


def box_items(refs: Iterable[list[dict]]) -> dict[tuple[int, int | None], dict[str, Any]]:
    """The content each (product, variant) prints as, read in two queries.

    The name and SKU are the variant's ("Espresso Blend - 1 kg", its SKU) or the
    simple product's; the weight is the variant's, else the product's.
    """
    refs = [item for items in refs for item in items]
    product_ids = {item["product"] for item in refs}
    variant_ids = {item["variant"] for item in refs if item.get("variant")}
    variants = {
        pk: (product_id, sku, attributes, weight)
        for pk, product_id, sku, attributes, weight in Variant.objects.filter(
            pk__in=variant_ids
        ).values_list("pk", "product_id", "sku", "attributes", "net_weight_grams")
    }
    product_ids |= {row[0] for row in variants.values()}
    products = {
        pk: (sku, name, weight)
        for pk, sku, name, weight in Product.objects.filter(pk__in=product_ids).values_list(
            "pk", "sku", "name", "net_weight_grams"
        )
    }
    content: dict[tuple[int, int | None], dict[str, Any]] = {}
    for item in refs:
        key = (item["product"], item.get("variant"))
        if key in content:
            continue
        product_sku, product_name, product_weight = products.get(item["product"], ("", "", None))
        row = {
            "product": item["product"],
            "variant": None,
            "sku": product_sku,
            "name": product_name,
            "product_sku": product_sku,
            "product_name": product_name,
            "weight_grams": product_weight,
        }
        variant = variants.get(item.get("variant"))
        if variant is not None:
            _product_id, sku, attributes, weight = variant
            row["variant"] = item["variant"]
            row["sku"] = sku
            row["name"] = f"{product_name} - {attribute_label(attributes) or sku}"
            row["weight_grams"] = product_weight if weight is None else weight
        content[key] = row
    return content


def items_at_many(*, subscription_ids: Iterable[int], at: datetime) -> dict[int, list[dict]]:
    """Each subscription's items as they stood at `at`, as a box names them: product,
    variant (None for a simple product), SKU, name, product's SKU and name, quantity,
    unit weight in grams (see `box_items`)."""
    ids = list(subscription_ids)
    current: dict[int, list[dict]] = defaultdict(list)
    for subscription_id, product_id, variant_id, quantity in (
        SubscriptionItem.objects.filter(subscription_id__any=ids)
        .order_by("subscription_id", "id")
        .values_list("subscription_id", "product_id", "variant_id", "quantity")
    ):
        current[subscription_id].append(
            {"product": product_id, "variant": variant_id, "quantity": quantity}
        )
    for subscription_id, data in _first_events_since(
        ids, SubscriptionEvent.Kind.ITEMS_CHANGED, at
    ).items():
        # Native changes say old/new, the shop's mirror before/after.
        old = data.get("old", data.get("before"))
        if isinstance(old, list):
            current[subscription_id] = [
                _item_ref(item) for item in old if isinstance(item, dict) and "product" in item
            ]
    content = box_items(current.values())
    result = {}
    for subscription_id in ids:
        result[subscription_id] = [
            {**content[(item["product"], item["variant"])], "quantity": item["quantity"]}
            for item in current.get(subscription_id, [])
        ]
    return result


def addresses_at_many(
    *, subscription_ids: Iterable[int], at: datetime
) -> dict[int, dict[str, str] | None]:
    """Each subscription's shipping address as it stood at `at` (None: it had none)."""
    ids = list(subscription_ids)
    address_of = dict(
        Subscription.objects.filter(pk__any=ids).values_list("pk", "shipping_address_id")
    )
    for subscription_id, data in _first_events_since(
        ids, SubscriptionEvent.Kind.ADDRESS_CHANGED, at
    ).items():
        address_of[subscription_id] = data.get("from")
    address_ids = {pk for pk in address_of.values() if pk}
    content = {
        pk: {
            name: str(value or "") for name, value in zip(Address.CONTENT_FIELDS, row, strict=True)
        }
        for pk, *row in Address.objects.filter(pk__any=address_ids).values_list(
            "pk", *Address.CONTENT_FIELDS
        )
    }
    content.update(
        AddressRevision.objects.filter(address_id__any=address_ids, changed_at__gte=at)
        .order_by("address_id", "changed_at", "id")
        .distinct("address_id")
        .values_list("address_id", "before")
    )
    return {pk: content.get(address_of.get(pk)) for pk in ids}


def boxes_at(
    *,
    organization: Organization,
    cycles: Iterable[DueCycle],
    at: datetime,
    schema: list[validation.FieldSpec] | None = None,
) -> list[Box]:
    """The due cycles with their address, items and preferences at `at` (a bounded number of
    queries, whatever their count)."""
    cycles = list(cycles)
    ids = sorted({cycle.subscription_id for cycle in cycles})
    preferences = preferences_at_many(
        organization=organization, subscription_ids=ids, at=at, schema=schema
    )
    items = items_at_many(subscription_ids=ids, at=at)
    addresses = addresses_at_many(subscription_ids=ids, at=at)
    return [
        Box(
            subscription_id=cycle.subscription_id,
            cycle=cycle.cycle,
            customer_id=cycle.customer_id,
            charge_id=cycle.charge_id,
            paid=cycle.paid,
            address=addresses.get(cycle.subscription_id),
            items=items.get(cycle.subscription_id, []),
            preferences=preferences.get(cycle.subscription_id, {}),
        )
        for cycle in cycles
    ]


def snapshot_instant(batch: Batch, now: datetime | None = None) -> datetime:
    """The instant a batch's content is read at: its cut-off, or now while it is ahead.

    It is also the end of the window a lock at `now` freezes: locked early, a
    batch's cut-off becomes now (`fulfillment.services.batch_lock`).
    """
    now = now or clock.now()
    return min(now, batch.cutoff_at)


@dataclass
class Preview:
    """An open batch as locking it at `at` would leave it.

    `boxes` are what the lock would freeze: the lines already in the batch and
    the cycles that start before `at`. `later` are the cycles due before the
    scheduled cut-off that start at or after `at`: locked now, the batch's
    cut-off becomes `at` and they are due in the next batch instead (empty once
    the cut-off has passed).
    """

    boxes: list[Box]
    later: list[DueCycle]
    at: datetime

    @property
    def paid(self) -> int:
        return sum(1 for box in self.boxes if box.paid)


def open_batch_preview(*, batch: Batch, now: datetime | None = None) -> Preview:
    """What locking an open batch now would freeze, and what would move to the next batch.

    Lines already in the batch come first: rolled from an earlier one (their
    content re-read as of now), then replacements (their own content). The due
    cycles are read once, over the whole window up to the scheduled cut-off,
    and split at now (a bounded number of queries, whatever their count).
    """
    at = snapshot_instant(batch, now)
    lines = list(
        BatchLine.objects.filter(batch=batch)
        .exclude(status__in=[BatchLine.Status.ROLLED, BatchLine.Status.EXCLUDED])
        .only(*LINE_BOX_FIELDS, "kind")
        .order_by("id")
    )
    replacements = [box_of_line(line) for line in lines if line.kind == BatchLine.Kind.REPLACEMENT]
    carried = [
        DueCycle(line.subscription_id, line.cycle, line.customer_id, line.charge_id, False)
        for line in lines
        if line.kind == BatchLine.Kind.CYCLE
    ]
    paid = set(
        Charge.objects.filter(
            pk__in=[c.charge_id for c in carried if c.charge_id], status=Charge.Status.PAID
        ).values_list("pk", flat=True)
    )
    carried = [dataclasses.replace(cycle, paid=cycle.charge_id in paid) for cycle in carried]
    due = due_cycles(batch=batch)
    # The window a lock at `at` freezes is `[starts_at, at)`, as `due_cycles` reads it
    # once the lock has moved the cut-off.
    frozen = [cycle for cycle in due if cycle.starts_at is None or cycle.starts_at < at]
    later = [cycle for cycle in due if cycle.starts_at is not None and cycle.starts_at >= at]
    boxes = boxes_at(organization=batch.organization, cycles=carried + frozen, at=at)
    return Preview(
        boxes=boxes[: len(carried)] + replacements + boxes[len(carried) :], later=later, at=at
    )


def batch_preview(*, batch: Batch, now: datetime | None = None) -> list[Box]:
    """An open batch's content as it stands now: exactly what locking it now would freeze
    (`open_batch_preview`'s boxes)."""
    return open_batch_preview(batch=batch, now=now).boxes


# --- A batch's content, open or not ---------------------------------------------------

#: Lines that are (or were) part of a batch's run; rolled and excluded ones left it.
IN_BATCH_STATUSES = (
    BatchLine.Status.AWAITING_PAYMENT,
    BatchLine.Status.READY,
    BatchLine.Status.PREPARED,
    BatchLine.Status.SHIPPED,
)
PAID_LINE_STATUSES = (BatchLine.Status.READY, BatchLine.Status.PREPARED, BatchLine.Status.SHIPPED)
LINE_BOX_FIELDS = (
    "subscription_id",
    "cycle",
    "customer_id",
    "charge_id",
    "status",
    "address",
    "items",
    "preferences",
)


def box_of_line(line: BatchLine) -> Box:
    """A line's frozen content as a `Box` (for `production_plan` and the exports)."""
    return Box(
        subscription_id=line.subscription_id,
        cycle=line.cycle,
        customer_id=line.customer_id,
        charge_id=line.charge_id,
        paid=line.status in PAID_LINE_STATUSES,
        address=line.address,
        items=list(line.items or []),
        preferences=dict(line.preferences or {}),
    )


def boxes_from_lines(*, batch: Batch) -> list[Box]:
    """A locked (or later) batch's boxes: its lines as frozen at the cut-off (one query)."""
    lines = (
        BatchLine.objects.filter(
            organization_id=batch.organization_id, batch=batch, status__in=IN_BATCH_STATUSES
        )
        .only(*LINE_BOX_FIELDS)
        .order_by("id")
    )
    return [box_of_line(line) for line in lines]


def batch_boxes(*, batch: Batch, now: datetime | None = None) -> tuple[list[Box], datetime, bool]:
    """What a batch ships: (boxes, the instant their content is read at, live).

    While open, live: what locking it now would freeze (`batch_preview`).
    Afterwards, its lines as frozen at its cut-off.
    """
    if batch.status == Batch.Status.OPEN:
        now = now or clock.now()
        return batch_preview(batch=batch, now=now), snapshot_instant(batch, now), True
    return boxes_from_lines(batch=batch), batch.cutoff_at, False


# --- Totals ------------------------------------------------------------------------


@dataclass
class PlanRow:
    """A product's total, a variant's total, or a product's total for one preference value."""

    product_id: int
    sku: str
    name: str
    quantity: int = 0
    grams: int | None = None
    field: str = ""
    value: Any = None
    variant_id: int | None = None
    #: A product's total: its variants' totals, in name order (empty for a simple product).
    variants: list[PlanRow] = dataclasses.field(default_factory=list)

    @property
    def kilograms(self) -> Decimal | None:
        return (
            None if self.grams is None else (Decimal(self.grams) / 1000).quantize(Decimal("0.001"))
        )


def _weights(boxes: list[Box]) -> dict[tuple[int, int | None], int | None]:
    """Unit weights of items frozen before boxes kept their weight (read now, one or two
    queries; none when every item has its own)."""
    old = [
        [item for item in box.items if "weight_grams" not in item]
        for box in boxes
        if any("weight_grams" not in item for item in box.items)
    ]
    if not old:
        return {}
    refs = [[_item_ref(item) for item in items] for items in old]
    return {key: row["weight_grams"] for key, row in box_items(refs).items()}


def production_plan(
    *, organization: Organization, boxes: Iterable[Box], schema=None
) -> tuple[list[PlanRow], list[PlanRow]]:
    """Totals per product (each with its variants' totals), and per product and value of
    each choice or yes/no field.

    For the roaster: kilograms of each coffee, of each of its sizes, and of each
    coffee per grind. A unit's weight is the one the box froze (the variant's,
    else the product's); boxes frozen before that read it now. Returns (per
    product, per product and preference value).
    """
    if schema is None:
        schema = preference_schema(organization=organization)
    fields = [spec for spec in schema if spec.type in ("choice", "boolean")]
    boxes = list(boxes)
    weights = _weights(boxes)
    totals: dict[int, PlanRow] = {}
    per_variant: dict[tuple[int, int], PlanRow] = {}
    by_value: dict[tuple[int, str, Any], PlanRow] = {}

    def add(row: PlanRow, quantity: int, weight: int | None) -> None:
        row.quantity += quantity
        if weight is not None:
            row.grams = (row.grams or 0) + weight * quantity

    for box in boxes:
        for item in box.items:
            product_id, quantity = item["product"], item["quantity"]
            variant_id = item.get("variant")
            if "weight_grams" in item:
                weight = item["weight_grams"]
            else:
                weight = weights.get((product_id, variant_id))
            row = totals.setdefault(
                product_id,
                PlanRow(
                    product_id,
                    item.get("product_sku", item.get("sku", "")),
                    item.get("product_name", item.get("name", "")),
                ),
            )
            add(row, quantity, weight)
            if variant_id is not None:
                variant_row = per_variant.get((product_id, variant_id))
                if variant_row is None:
                    variant_row = per_variant[(product_id, variant_id)] = PlanRow(
                        product_id, item.get("sku", ""), item.get("name", ""), variant_id=variant_id
                    )
                    row.variants.append(variant_row)
                add(variant_row, quantity, weight)
            for spec in fields:
                value = box.preferences.get(spec.key)
                key = (product_id, spec.key, value if not isinstance(value, list) else None)
                detail = by_value.setdefault(
                    key, PlanRow(product_id, row.sku, row.name, field=spec.key, value=key[2])
                )
                add(detail, quantity, weight)
    for row in totals.values():
        row.variants.sort(key=lambda r: (r.name, r.variant_id))
    order = {spec.key: index for index, spec in enumerate(fields)}
    choice_order = {
        (spec.key, choice.value): index
        for spec in fields
        for index, choice in enumerate(spec.choices)
    }
    products = sorted(totals.values(), key=lambda r: (r.name, r.product_id))
    details = sorted(
        by_value.values(),
        key=lambda r: (
            r.name,
            r.product_id,
            order[r.field],
            choice_order.get((r.field, r.value), len(choice_order)),
            str(r.value),
        ),
    )
    return products, details
