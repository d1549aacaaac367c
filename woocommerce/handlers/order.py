"""`order.*` -> `WooOrder`, and for a subscription's orders its `Charge`.

A subscription's initial order is the one its `parent_id` names; one checkout
can start several subscriptions (one per billing schedule), all naming the same
initial order, which pays the first cycle of each. Renewal, switch and
resubscribe orders name their subscription in their meta
(`_subscription_renewal`...). Orders and subscriptions arrive in any order:
whichever comes second links them (`WooRelatedOrder`, written under the order's
row lock). An order of no subscription is kept for reference only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crm.models import Address
from fulfillment.services import lines_payment_refresh
from returns.services import returns_refunded_in_shop
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from woocommerce import payloads
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore, WooMapping, WooOrder, WooRelatedOrder

# What an order's payload may change (the key and the modification time aside).
ORDER_COLUMNS = [
    f for f in WooOrder._meta.concrete_fields if not f.primary_key and f.name != "updated_at"
]
KEPT_WHEN_DELETED = (Charge.Status.PAID, Charge.Status.REFUNDED)
SUBSCRIPTION_KINDS = (
    WooOrder.Kind.PARENT,
    WooOrder.Kind.RENEWAL,
    WooOrder.Kind.SWITCH,
    WooOrder.Kind.RESUBSCRIBE,
)


def locked_order(store: WooCommerceStore, woo_id: int) -> WooOrder:
    """The `WooOrder` row of `woo_id` (created empty if new), locked."""
    locked = WooOrder.objects.select_for_update().filter(store=store, woo_id=woo_id)
    order = base.one(locked)  # one statement when it exists, the usual case
    if order is None:
        WooOrder.objects.bulk_create(
            [WooOrder(organization_id=store.organization_id, store=store, woo_id=woo_id)],
            ignore_conflicts=True,
        )
        order = locked.get()
    return order


def link(
    order: WooOrder,
    woo_subscription_id: int,
    *,
    lines: list[list[Any]] | None = None,
    known_missing: bool = False,
) -> WooRelatedOrder:
    """The link of `order` (locked by the caller) to a subscription, created if new (with
    `lines`, when given). `known_missing`: the caller read no link under the order's lock,
    so it is not looked for first (one that exists all the same is read after the insert)."""
    row = WooRelatedOrder.objects.filter(order=order, woo_subscription_id=woo_subscription_id)
    if not known_missing:
        found = base.one(row)  # one statement when it exists, the usual case
        if found is not None:
            return found
    WooRelatedOrder.objects.bulk_create(
        [
            WooRelatedOrder(
                organization_id=order.organization_id,
                order=order,
                woo_subscription_id=woo_subscription_id,
                **({"lines": lines} if lines is not None else {}),
            )
        ],
        ignore_conflicts=True,
    )
    return row.get()


def _subscription_ids(store: WooCommerceStore, woo_id: int) -> set[int]:
    return set(
        WooRelatedOrder.objects.filter(order__store=store, order__woo_id=woo_id).values_list(
            "woo_subscription_id", flat=True
        )
    )


def _lines(payload: dict[str, Any]) -> list[list[Any]]:
    # Read only to share an initial order between its subscriptions: lines that cannot be
    # read leave the order without them rather than failing an order kept for reference.
    try:
        return payloads.line_amounts(payload)
    except payloads.PayloadError:
        return []


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id, mapping, modified, skip = base.begin(store, Resource.ORDER, payload, event)
    if skip:
        return skip
    named = payloads.order_link(payload)
    subscription_ids = _subscription_ids(store, woo_id) | ({named[1]} if named else set())
    for woo_subscription_id in sorted(subscription_ids):
        # Lock order: the subscriptions' mappings before their orders.
        base.lock_mapping(store, Resource.SUBSCRIPTION, woo_subscription_id)
    order = locked_order(store, woo_id)
    columns = {f.attname: getattr(order, f.attname) for f in ORDER_COLUMNS}
    if named:
        order.kind = named[0]
    elif order.kind not in SUBSCRIPTION_KINDS:
        order.kind = WooOrder.Kind.OTHER
    status = base.text(payload, "status", 32)
    if not status:
        raise payloads.PayloadError("no_status", resource="order", woo_id=woo_id)
    order.number = base.text(payload, "number", 32)
    order.status = status
    order.total = payloads.decimal(payload.get("total"), None)
    order.currency = base.text(payload, "currency", 3).upper()
    order.ordered_at = payloads.gmt(payload.get("date_created_gmt"))
    order.paid_at = payloads.gmt(payload.get("date_paid_gmt"))
    order.deleted_upstream = False
    order.customer = base.customer_for(
        store, payload.get("customer_id"), payload.get("billing"), ("order", woo_id)
    )
    order.billing_address = base.address_for(
        order.customer, Address.Kind.BILLING, payload.get("billing")
    )
    order.lines = _lines(payload)
    dirty = [f.name for f in ORDER_COLUMNS if getattr(order, f.attname) != columns[f.attname]]
    if dirty:  # only the columns that changed, none when none did
        order.save(update_fields=[*dirty, "updated_at"])
    if named:
        link(order, named[1])
    base.remember(mapping, order.pk, modified, status=status)
    sync_charges(store, order)
    return base.Outcome.applied()


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Trashed in the shop: an unpaid charge of it is voided, a paid one kept."""
    mapping = base.lock_mapping(store, Resource.ORDER, woo_id)
    if WooOrder.objects.filter(store=store, woo_id=woo_id).exists():
        for woo_subscription_id in sorted(_subscription_ids(store, woo_id)):
            base.lock_mapping(store, Resource.SUBSCRIPTION, woo_subscription_id)
        order = locked_order(store, woo_id)
        order.deleted_upstream = True
        order.status = "trash"
        order.save()
        sync_charges(store, order)
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted_in_shop")


def sync_charges(store: WooCommerceStore, order: WooOrder) -> None:
    """Make the charge of every subscription `order` (locked) belongs to match it.

    An initial order of one subscription is its charge of cycle 0 for the
    order's total; an initial order of several is each one's cycle 0 for the
    amount of its own lines (`payloads.initial_shares`). Links are read under
    the order's lock, so a subscription linked meanwhile is seen.
    """
    if not order.status or order.kind not in SUBSCRIPTION_KINDS:
        return
    links = list(order.links.select_related("charge").order_by("woo_subscription_id"))
    if order.kind == WooOrder.Kind.PARENT and len(links) > 1:
        amounts = payloads.initial_shares(
            order.lines, {row.woo_subscription_id: row.lines for row in links}
        )
    else:
        amounts = {row.woo_subscription_id: order.total for row in links}
    for row in links:
        sync_charge(store, order, row, amounts[row.woo_subscription_id])


def sync_charge(
    store: WooCommerceStore, order: WooOrder, row: WooRelatedOrder, amount: Decimal | None
) -> Charge | None:
    """Make one subscription's charge for `order` match it (create, update, or nothing).

    Cycle numbers: the initial order is cycle 0; another order takes the cycle
    whose start is nearest to its date, or the next free one. A status change
    writes a "charge paid/failed" event with the WooCommerce actor; when the
    subscription is on hold in the shop, its status is re-derived (past due
    while its latest renewal is unpaid, else paused). A paid cycle becomes the
    current period, and the next cycle is always a later one.
    """
    subscription = base.mapped(store, Resource.SUBSCRIPTION, row.woo_subscription_id, Subscription)
    if subscription is None:  # only known from the order so far
        return None
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=subscription.pk)
    )
    charge = row.charge
    status = payloads.charge_status(order.status)
    if order.deleted_upstream and charge is not None and charge.status in KEPT_WHEN_DELETED:
        status = charge.status  # trashing a paid order in the shop refunds nothing
    if charge is None:
        if order.kind == WooOrder.Kind.PARENT:
            cycle = 0
        else:
            cycle = max(1, subscription.nearest_cycle(order.ordered_at or order.updated_at))
        taken = set(subscription.charges.values_list("cycle", flat=True))
        while cycle in taken:
            cycle += 1
        start, end = subscription.cycle_bounds(cycle)
        charge = Charge(
            organization_id=subscription.organization_id,
            subscription=subscription,
            cycle=cycle,
            period_start=start,
            period_end=end,
            gateway="woocommerce",
            external_reference=str(order.woo_id),
        )
        before = None
    else:
        before = charge.status
    values = {
        "amount": amount if amount is not None else charge.amount or 0,
        "currency": order.currency or subscription.currency,
        "status": status,
        "paid_at": order.paid_at if status in ("paid", "refunded") else None,
    }
    if charge.pk is None or any(getattr(charge, k) != v for k, v in values.items()):
        for name, value in values.items():
            setattr(charge, name, value)
        if status == Charge.Status.FAILED and charge.first_failed_at is None:
            charge.first_failed_at = order.updated_at
        charge.attempts = max(charge.attempts, 1 if status in ("paid", "failed") else 0)
        charge.save()
    if (row.subscription_id, row.charge_id) != (subscription.pk, charge.pk):
        row.subscription, row.charge = subscription, charge
        row.save(update_fields=["subscription", "charge"])
    if before != charge.status:
        lines_payment_refresh(subscription_id=subscription.pk)  # charge-then-ship
    if before != charge.status and charge.status == Charge.Status.REFUNDED:
        returns_refunded_in_shop(charge=charge, actor=base.actor(store))  # after-sales
    if before != charge.status and charge.status in (Charge.Status.PAID, Charge.Status.FAILED):
        kind = (
            SubscriptionEvent.Kind.CHARGE_PAID
            if charge.status == Charge.Status.PAID
            else SubscriptionEvent.Kind.CHARGE_FAILED
        )
        SubscriptionEvent.objects.create(
            organization_id=subscription.organization_id,
            subscription=subscription,
            kind=kind,
            from_status=subscription.status,
            to_status=subscription.status,
            data={"cycle": charge.cycle, "amount": str(charge.amount), "order": order.woo_id},
            **base.actor(store).as_fields(),
        )
    if charge.status == Charge.Status.PAID and charge.cycle >= (subscription.current_cycle or 0):
        _advance(subscription, charge)
    from woocommerce.handlers import subscription as subscription_handler

    subscription_handler.refresh_status(store, subscription)
    return charge


def _advance(subscription: Subscription, charge: Charge) -> None:
    """A paid cycle is the current period; the next cycle follows it.

    The shop's next payment date usually arrives with the subscription's own
    payload; until then the next cycle is the one after the paid one, from the
    end of the paid period at the earliest (never a second box for a paid cycle).
    """
    values = {
        "current_cycle": charge.cycle,
        "current_period_start": charge.period_start,
        "current_period_end": charge.period_end,
    }
    if subscription.next_cycle <= charge.cycle:
        values["next_cycle"] = charge.cycle + 1
        if subscription.next_charge_at is not None:
            values["next_charge_at"] = max(subscription.next_charge_at, charge.period_end)
    Subscription.objects.filter(pk=subscription.pk).update(**values)
    for name, value in values.items():
        setattr(subscription, name, value)


# --- A page of the first import, in bulk (issue 26) ----------------------------------------


def upsert_page(
    store: WooCommerceStore, items: list[Any], event: str
) -> list[base.Outcome | payloads.PayloadError | None]:
    """Apply a page of orders the CRM has not seen yet with a bounded number of statements
    (the reconciliation's first import); for each item its outcome, or None: applied one by
    one by `upsert` instead (which also refuses what it must refuse).

    The rules are `upsert`'s, and so are the rows: what is applied here is an order never
    applied and without a `WooOrder` row, of a mapped customer, that names no subscription
    the CRM mirrors already (its charge would be synced: the first import reads orders
    before subscriptions, so there is none). The page's mappings are locked (the new ones
    inserted), then its subscriptions' mappings (created if new, as `upsert` does, and
    locked), the customers with their addresses and the orders' rows are read in one
    statement each, and orders, new billing addresses and links are inserted in one
    statement each. Runs inside the caller's transaction.
    """
    results: list[base.Outcome | payloads.PayloadError | None] = [None] * len(items)
    wanted = base.page_wanted(items)  # item index -> woo id, the first of each id
    if not wanted:
        return results
    mappings, inserted = base.page_mappings(store, Resource.ORDER, list(wanted.values()))
    prepared = base.page_prepared(items, wanted, mappings, event, _parse, results)
    if not prepared:  # nothing new (a message of updates): the handler's, item by item
        base.page_forget(inserted, set())
        return results
    existing = set(
        WooOrder.objects.filter(
            store=store, woo_id__in=[row["woo_id"] for row in prepared.values()]
        ).values_list("woo_id", flat=True)
    )
    customers = base.page_customers(store, {row["customer_id"] for row in prepared.values()})
    prepared = {
        index: row
        for index, row in prepared.items()
        if row["woo_id"] not in existing and row["customer_id"] in customers
    }
    # Its subscriptions' mappings, as `upsert` locks them (created if new); an order of a
    # subscription the CRM mirrors is left to `upsert` (its charge is synced).
    named = sorted({row["named"][1] for row in prepared.values() if row["named"]})
    mirrored = set()
    if named:
        WooMapping.objects.bulk_create(
            [
                WooMapping(
                    organization_id=store.organization_id,
                    store=store,
                    resource=Resource.SUBSCRIPTION,
                    woo_id=woo_id,
                )
                for woo_id in named
            ],
            ignore_conflicts=True,
        )
        mirrored = set(
            WooMapping.objects.select_for_update(of=("self",))
            .filter(store=store, resource=Resource.SUBSCRIPTION, woo_id__in=named)
            .order_by("woo_id")
            .filter(object_id__isnull=False)
            .values_list("woo_id", flat=True)
        )
    addresses = base.PageAddresses()
    orders = {}
    for index, row in prepared.items():
        if row["named"] and row["named"][1] in mirrored:
            continue
        item = items[index]
        customer = customers[row["customer_id"]]
        orders[index] = WooOrder(
            organization_id=store.organization_id,
            store=store,
            woo_id=row["woo_id"],
            kind=row["named"][0] if row["named"] else WooOrder.Kind.OTHER,
            number=base.text(item, "number", 32),
            status=row["status"],
            total=row["total"],
            currency=base.text(item, "currency", 3).upper(),
            ordered_at=row["ordered_at"],
            paid_at=row["paid_at"],
            deleted_upstream=False,
            customer=customer,
            billing_address=addresses.address(customer, Address.Kind.BILLING, item.get("billing")),
            lines=_lines(item),
        )
    addresses.save()
    for order in orders.values():  # the addresses made above have their ids now
        order.billing_address = order.billing_address
    WooOrder.objects.bulk_create(orders.values())
    WooRelatedOrder.objects.bulk_create(
        [
            WooRelatedOrder(
                organization_id=store.organization_id,
                order=order,
                woo_subscription_id=prepared[index]["named"][1],
            )
            for index, order in orders.items()
            if prepared[index]["named"]
        ]
    )
    base.page_remember(
        [
            (mappings[prepared[i]["woo_id"]], order.pk, prepared[i]["modified"],
             prepared[i]["status"])
            for i, order in orders.items()
        ]
    )  # fmt: skip
    base.page_forget(inserted, {prepared[i]["woo_id"] for i in orders})
    for index in orders:
        results[index] = base.Outcome.applied()
    return results


def _parse(item: dict[str, Any], woo_id: int) -> dict[str, Any] | None:
    """What `upsert` reads of an order without the database, or None: left to `upsert`
    (a payload it refuses, a guest's order)."""
    try:
        status = base.text(item, "status", 32)
        row = {
            "woo_id": woo_id,
            "named": payloads.order_link(item),
            "status": status,
            "total": payloads.decimal(item.get("total"), None),
            "ordered_at": payloads.gmt(item.get("date_created_gmt")),
            "paid_at": payloads.gmt(item.get("date_paid_gmt")),
            "customer_id": payloads.integer(item.get("customer_id") or 0, "customer_id", minimum=0),
        }
    except (payloads.PayloadError, TypeError, AttributeError):
        return None
    if not status or not row["customer_id"]:
        return None
    return row
