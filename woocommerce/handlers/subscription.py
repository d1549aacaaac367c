"""`subscription.*` -> a `Subscription` with `source=woocommerce`, mirrored from the shop.

Statuses follow the table in docs/woocommerce.md (`payloads.subscription_status`).
Dates come from the `*_gmt` fields and are the shop's to the second: cycle 0
(the initial order) starts at the start date, cycles are counted as the shop
counts them, in GMT, and `next_charge_at` is the shop's next payment date.

Statements (issue 26), for a subscription the CRM already mirrors, at any number of
line items: lock its mapping, reading in the same statement the mappings of every
line's product and variation and the shop's preference mappings (1); the customer with
its addresses (1); the initial order and the orders still without this subscription's
charge, locked, with their links (1); the subscription, locked (1); its items, with
their products (1). Then only what changed is written: the mapping's modification time
(1), the subscription's changed columns (1), one event per kind of change (1 each), the
items deleted and inserted in one statement each. So 5, no write, for a version already
applied; 6 for a newer one that changes nothing the CRM keeps; 8 for a cancellation, 9
for on-hold (its latest renewal is read), 10 for an items change (tests/woocommerce/
test_statements.py). An order, customer or address seen for the first time costs its own
statements; lines whose product or variation is seen for the first time are looked up
together, in one query (`base.first_sight`), and only the rows made from them and their
mappings are written one by one.

The reconciliation's first import applies a page of new subscriptions in bulk
(`upsert_page`, 17 statements a page at any size), with the same rows and events; a
message of webhook deliveries too (`processing.process_many`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import transaction
from django.db.models import JSONField, OuterRef, Q, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone

from subscriptions.models import BillingPeriod, Charge, Subscription
from subscriptions.services import NewMirror, subscription_mirror, subscriptions_mirror_new
from woocommerce import payloads, reasons
from woocommerce import preferences as shop_preferences
from woocommerce.handlers import base
from woocommerce.handlers import order as order_handler
from woocommerce.models import (
    Resource,
    WooCommerceStore,
    WooMapping,
    WooOrder,
    WooRelatedOrder,
)
from woocommerce.payloads import PayloadError

LIVE = ("pending", "active", "paused", "past_due")


def _latest_renewal_status(store: WooCommerceStore, woo_id: int) -> str | None:
    return (
        WooOrder.objects.filter(
            store=store,
            links__woo_subscription_id=woo_id,
            kind=WooOrder.Kind.RENEWAL,
            deleted_upstream=False,
        )
        .exclude(status="")
        .order_by("-ordered_at", "-woo_id")
        .values_list("status", flat=True)
        .first()
    )


def _schedule(
    subscription: Subscription | None,
    *,
    start,
    period: str,
    interval: int,
    next_payment,
    ended: bool,
) -> dict[str, Any]:
    """The schedule as the shop has it, to the second (docs/decisions/0011).

    Cycle 0 starts at the shop's start date and the cycles follow the shop's own
    GMT arithmetic (`Subscription.calendar`). When the shop's next payment is not
    where that arithmetic puts a cycle (a renewal paid late moves it, a trial ends
    off the grid, staff can edit it), the schedule is anchored again at it, so the
    next cycle starts exactly when the shop says.

    The next cycle is the one the shop's next payment starts, and always comes
    after the last paid cycle: a payload older than an order already applied may
    name a cycle that is paid, and then the next one is charged next, at the date
    the shop's arithmetic gives it (the next payload brings the shop's own).
    """
    same = subscription is not None and (
        subscription.billing_period,
        subscription.billing_interval,
    ) == (period, interval)
    if same and subscription.anchor_cycle > 0:
        anchor, anchor_cycle = subscription.billing_anchor, subscription.anchor_cycle
    else:
        anchor, anchor_cycle = start, 0
    paid = subscription.current_cycle if subscription is not None else None
    earliest = 1 if paid is None else max(1, paid + 1)
    if next_payment is None:  # none yet (pending), or any more (ended, suspended)
        known = subscription.next_cycle if subscription is not None else 1
        return {
            "billing_period": period,
            "billing_interval": interval,
            "billing_anchor": anchor,
            "anchor_cycle": anchor_cycle,
            "next_cycle": max(known, earliest),
            "next_charge_at": None,
        }
    probe = Subscription(
        source=Subscription.Source.WOOCOMMERCE,
        billing_anchor=anchor,
        anchor_cycle=anchor_cycle,
        billing_period=period,
        billing_interval=interval,
        started_at=start,
    )
    named = max(1, probe.nearest_cycle(next_payment))
    if probe.cycle_start(named) != next_payment:
        probe.billing_anchor, probe.anchor_cycle = next_payment, named
    cycle = max(named, earliest)
    return {
        "billing_period": period,
        "billing_interval": interval,
        "billing_anchor": probe.billing_anchor,
        "anchor_cycle": probe.anchor_cycle,
        "next_cycle": cycle,
        "next_charge_at": None if ended else probe.cycle_start(cycle),
    }


def _align_charges(subscription: Subscription) -> None:
    """After the schedule was anchored again at the shop's next payment: the charge of the
    cycle before it ends there, and charges of later cycles (their order came first) take
    the new dates. Charges of earlier cycles keep the dates they were given."""
    first = subscription.anchor_cycle - 1
    for charge in subscription.charges.filter(cycle__gte=first).order_by("cycle"):
        start, end = subscription.cycle_bounds(charge.cycle)
        if charge.cycle == first:
            start = charge.period_start
        if (charge.period_start, charge.period_end) != (start, end):
            Charge.objects.filter(pk=charge.pk).update(period_start=start, period_end=end)
            if charge.cycle == subscription.current_cycle:
                Subscription.objects.filter(pk=subscription.pk).update(
                    current_period_start=start, current_period_end=end
                )


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    # Read with the lock, in its statement: the mappings of the lines and the preferences.
    woo_id, mapping, modified, skip = base.begin_with_lines(
        store, Resource.SUBSCRIPTION, payload, event
    )
    if skip:
        return skip
    organization = store.organization
    woo_status = base.text(payload, "status", 32)
    period = payload.get("billing_period")
    if period not in BillingPeriod.values:
        raise PayloadError(
            "unknown_billing_period", resource="subscription", woo_id=woo_id, period=repr(period)
        )
    interval = payloads.integer(payload.get("billing_interval"), "billing_interval", minimum=1)
    start = payloads.gmt(payload.get("start_date_gmt")) or payloads.gmt(
        payload.get("date_created_gmt")
    )
    if start is None:
        raise PayloadError("no_start_date", resource="subscription", woo_id=woo_id)
    next_payment = payloads.gmt(payload.get("next_payment_date_gmt"))
    end = payloads.gmt(payload.get("end_date_gmt"))
    cancelled = payloads.gmt(payload.get("cancelled_date_gmt"))
    customer = base.customer_for(
        store,
        payload.get("customer_id"),
        payload.get("billing"),
        ("subscription", woo_id),
        addresses=True,
    )
    items = base.line_items(store, payload, mapping.line_rows)
    billing, shipping = base.addresses_for(
        customer, payload.get("billing"), payload.get("shipping")
    )

    orders = _link_orders(store, woo_id, payload.get("parent_id"), payloads.line_amounts(payload))
    on_hold = woo_status.removeprefix("wc-") == "on-hold"  # only then do its renewals matter
    mirrored = payloads.subscription_status(
        woo_status, latest_renewal_status=_latest_renewal_status(store, woo_id) if on_hold else None
    )
    ended = mirrored.status not in LIVE
    subscription = None
    if mapping.object_id:  # locked after its orders (the lock order of every handler)
        subscription = base.one(
            Subscription.objects.select_for_update(of=("self",)).filter(
                pk=mapping.object_id, organization=organization
            )
        )
        if subscription is not None:
            subscription.organization = organization
    fields = {
        **_schedule(
            subscription,
            start=start,
            period=period,
            interval=interval,
            next_payment=next_payment,
            ended=ended,
        ),
        "started_at": start,
        "trial_ends_at": payloads.gmt(payload.get("trial_end_date_gmt")),
        "ends_at": end,
        "canceled_at": cancelled,
        "ended_at": end if ended else None,
        "cancel_at_period_end": mirrored.cancel_at_period_end,
        "shipping_address": shipping,
        "billing_address": billing,
        "currency": (base.text(payload, "currency", 3) or organization.currency).upper(),
    }
    anchored = (subscription.billing_anchor, subscription.anchor_cycle) if subscription else None
    subscription, _changed = subscription_mirror(
        locked=True,
        organization=organization,
        subscription=subscription,
        customer=customer,
        status=mirrored.status,
        fields=fields,
        items=items,
        actor=base.actor(store),
        reason=mirrored.reason or ("canceled in the shop" if mirrored.status == "canceled" else ""),
        data={"woocommerce_id": woo_id, "woocommerce_status": woo_status},
    )
    if anchored not in (None, (subscription.billing_anchor, subscription.anchor_cycle)):
        _align_charges(subscription)
    base.remember(mapping, subscription.pk, modified, status=woo_status)
    # A refused preference value never fails the sync: it becomes the delivery's note.
    problems = shop_preferences.preferences_sync(
        store=store, subscription=subscription, payload=payload, mappings=mapping.preference_rows
    )
    for order in orders:
        order_handler.sync_charges(store, order)
    return base.Outcome.noted(reasons.notes(problems))


def _locked_orders(store: WooCommerceStore, woo_id: int, parent_id: int) -> list[WooOrder]:
    """The initial order and the orders linked to the subscription without its charge yet,
    locked in one statement (by id), each with its link to the subscription (`link_id`,
    `link_lines`, `link_charge_id`; None when not linked)."""
    # One link per (order, subscription): read as one JSON object, with no ORDER BY (the
    # default ordering's join); the outer query keeps the orders to its own store.
    link = (
        WooRelatedOrder.objects.filter(order=OuterRef("pk"), woo_subscription_id=woo_id)
        .order_by()
        .values(json=JSONObject(id="id", lines="lines", charge_id="charge_id"))[:1]
    )
    unpaid = (
        WooRelatedOrder.objects.filter(woo_subscription_id=woo_id, charge__isnull=True)
        .order_by()
        .values("order_id")
    )
    found = list(
        WooOrder.objects.select_for_update(of=("self",))
        .filter(store=store)
        .filter(Q(woo_id=parent_id) | (Q(pk__in=unpaid) & ~Q(status="")))
        .annotate(link_row=Subquery(link, output_field=JSONField()))
        .order_by("woo_id")
    )
    for order in found:
        row = order.link_row or {}
        order.link_id, order.link_lines, order.link_charge_id = (
            row.get("id"),
            row.get("lines"),
            row.get("charge_id"),
        )
    return found


def _link_orders(
    store: WooCommerceStore, woo_id: int, parent_id: Any, lines: list[list[Any]]
) -> list[WooOrder]:
    """This subscription's orders whose charges to bring up to date, locked.

    Its initial order is created empty if not seen yet, and linked with the
    subscription's lines (which of the order's lines are its own); the initial
    order is synced again when that changes the shares of the subscriptions it
    started. Other orders are synced until they have this subscription's charge.
    All are read and locked in one statement; only a first sight inserts.
    """
    parent_id = payloads.integer(parent_id or 0, "parent_id", minimum=0)
    found = _locked_orders(store, woo_id, parent_id)
    parent = next((o for o in found if o.woo_id == parent_id), None) if parent_id else None
    if parent_id and parent is None:  # first sight of the initial order: created empty
        # Inserted as the initial order it is (no UPDATE of its kind), then locked with
        # the others; one another worker inserted meanwhile is read as it is.
        WooOrder.objects.bulk_create(
            [
                WooOrder(
                    organization_id=store.organization_id,
                    store=store,
                    woo_id=parent_id,
                    kind=WooOrder.Kind.PARENT,
                )
            ],
            ignore_conflicts=True,
        )
        found = _locked_orders(store, woo_id, parent_id)
        parent = next(o for o in found if o.woo_id == parent_id)
    orders = []
    if parent is not None:
        if parent.kind != WooOrder.Kind.PARENT:
            parent.kind = WooOrder.Kind.PARENT
            parent.save(update_fields=["kind", "updated_at"])
        if parent.link_id is None:  # inserted with its lines (read back, as another's may be)
            row = order_handler.link(parent, woo_id, lines=lines, known_missing=True)
            parent.link_id, parent.link_lines, parent.link_charge_id = (
                row.pk,
                row.lines,
                row.charge_id,
            )
        if parent.link_lines != lines or parent.link_charge_id is None:
            if parent.link_lines != lines:
                WooRelatedOrder.objects.filter(pk=parent.link_id).update(lines=lines)
            if parent.status:
                orders.append(parent)
    orders.extend(o for o in found if o.woo_id != parent_id)
    return orders


def refresh_status(store: WooCommerceStore, subscription: Subscription) -> None:
    """Re-derive an on-hold subscription's status once its renewal orders changed."""
    mapping = WooMapping.objects.filter(
        store=store, resource=Resource.SUBSCRIPTION, object_id=subscription.pk
    ).first()
    if mapping is None or mapping.remote_status != "on-hold":
        return
    mirrored = payloads.subscription_status(
        "on-hold", latest_renewal_status=_latest_renewal_status(store, mapping.woo_id)
    )
    if mirrored.status == subscription.status:
        return
    subscription_mirror(
        organization=store.organization,
        subscription=subscription,
        customer=subscription.customer,
        status=mirrored.status,
        fields={},
        items=[
            {
                "product": i.product_id,
                "variant": i.variant_id,
                "quantity": i.quantity,
                "unit_price": i.unit_price,
            }
            for i in subscription.items.all()
        ],
        actor=base.actor(store),
        data={"woocommerce_id": mapping.woo_id, "woocommerce_status": "on-hold"},
    )


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Trashed in the shop: canceled here (reason: deleted in the shop)."""
    mapping = base.lock_mapping(store, Resource.SUBSCRIPTION, woo_id)
    subscription = (
        Subscription.objects.filter(pk=mapping.object_id, organization_id=store.organization_id)
        .select_related("customer")
        .first()
        if mapping.object_id
        else None
    )
    if subscription is not None and subscription.status != Subscription.Status.CANCELED:
        subscription_mirror(
            organization=store.organization,
            subscription=subscription,
            customer=subscription.customer,
            status=Subscription.Status.CANCELED,
            fields={"next_charge_at": None},
            items=[
                {
                    "product": i.product_id,
                    "variant": i.variant_id,
                    "quantity": i.quantity,
                    "unit_price": i.unit_price,
                }
                for i in subscription.items.all()
            ],
            actor=base.actor(store),
            reason="deleted in the shop",
            data={"woocommerce_id": woo_id, "woocommerce_status": "trash"},
        )
    mapping.remote_status = "trash"
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted_in_shop")


# --- A page of the first import, in bulk (issue 26) ----------------------------------------


def upsert_page(
    store: WooCommerceStore, items: list[Any], event: str
) -> list[base.Outcome | PayloadError | None]:
    """Apply a page of subscriptions the CRM does not mirror yet with a bounded number of
    statements (the reconciliation's first import); for each item its outcome, or None:
    applied one by one by `upsert` instead (which also refuses what it must refuse).

    The rules are `upsert`'s, and so are the rows and events: what is applied here is a
    subscription never mirrored, not on hold, of a customer (mapped, or made from the billing
    details as `base.customer_for` makes it when the subscription comes first). Its mapping is
    created if new and locked first (the lock order of every handler), the page's
    customers with their addresses (their mappings, then the customers), lines' mappings,
    preference mappings and orders are read in one statement each, then subscriptions,
    items, events, new addresses, initial orders and their links are inserted in bulk
    (`subscriptions_mirror_new`), and the
    mappings written in one statement. Lines seen for the first time make their product or
    variant as `base.line_items` does, one by one (once per product, not per item). A
    subscription whose payload carries preference values, or whose orders already carry a
    status (their charges), has them synced by the handler's own functions, per item.
    Runs inside the caller's transaction; `base.PageAbandoned` asks the caller to apply
    the page one by one.
    """
    results: list[base.Outcome | PayloadError | None] = [None] * len(items)
    wanted = base.page_wanted(items)  # item index -> woo id, the first of each id
    if not wanted:
        return results
    organization = store.organization
    # The mappings first (lock order): those that exist, locked, then the new ones.
    mappings, inserted = base.page_mappings(store, Resource.SUBSCRIPTION, list(wanted.values()))

    prepared = base.page_prepared(items, wanted, mappings, event, _parse, results)
    if not prepared:  # nothing new (a message of updates): the handler's, item by item
        base.page_forget(inserted, set())
        return results
    customers = base.page_customers(store, {row["customer_id"] for row in prepared.values()})
    # A customer the shop has not sent yet (its subscription came first) is made below, as
    # `base.customer_for` makes it; one of whose items carries an e-mail `customer_for`
    # would refuse is left to the handler, all its items in the page's order.
    refused = {
        row["customer_id"]
        for index, row in prepared.items()
        if row["customer_id"] not in customers
        and not base.valid_email(base.billing_email(items[index]))
    }
    prepared = {i: row for i, row in prepared.items() if row["customer_id"] not in refused}
    lines = base.line_mappings(
        store, [line for i in prepared for line in items[i].get("line_items") or []]
    )
    known_lines = [row["json"] for row in lines] if lines is not None else []
    preference_rows = [row["json"] for row in shop_preferences.preference_mappings(store)]
    orders = _PageOrders(store, prepared)
    # An order that charges two of the page's subscriptions (one checkout, two schedules)
    # is synced by the handler after each in turn (its events tell the amounts of each
    # step): the later ones are left to it.
    syncing: set[int] = set()
    for index, row in list(prepared.items()):
        mine = orders.syncing(row)
        if mine & syncing:
            del prepared[index]
        syncing |= mine

    lines_of: dict[int, list] = {}  # item index -> its items, for the items `upsert` takes
    for index, row in prepared.items():
        item = items[index]
        by_product, by_variation = base.mapped_lines(known_lines)
        first = any(
            product_id not in by_product or (variation_id and variation_id not in by_variation)
            for product_id, variation_id in row["line_ids"]
        )
        try:
            if first:  # made as `line_items` makes them; what it made joins the known lines
                with transaction.atomic():
                    line_items = base.line_items(store, item, known_lines)
                fresh = base.line_mappings(store, item.get("line_items"))
                known_lines.extend(r["json"] for r in fresh or [])
            else:
                line_items = base.line_items(store, item, known_lines)
        except PayloadError:
            continue  # refused by `upsert`, with nothing of it kept
        lines_of[index] = line_items
    # The customers not mapped yet, made from the billing details of their first item.
    unmapped: dict[int, Any] = {}
    for index in lines_of:
        if prepared[index]["customer_id"] not in customers:
            unmapped.setdefault(prepared[index]["customer_id"], items[index].get("billing"))
    customers.update(base.page_customers_made(store, unmapped))

    addresses = base.PageAddresses()
    new, applied = [], []
    for index, line_items in lines_of.items():
        row, item = prepared[index], items[index]
        if row["customer_id"] not in customers:
            continue  # an e-mail several customers have: the handler picks one
        customer = customers[row["customer_id"]]
        billing, shipping = addresses.of(customer, item.get("billing"), item.get("shipping"))
        ended = row["mirrored"].status not in LIVE
        mirrored = row["mirrored"]
        fields = {
            **_schedule(
                None,
                start=row["start"],
                period=row["period"],
                interval=row["interval"],
                next_payment=row["next_payment"],
                ended=ended,
            ),
            "started_at": row["start"],
            "trial_ends_at": row["trial_end"],
            "ends_at": row["end"],
            "canceled_at": row["cancelled"],
            "ended_at": row["end"] if ended else None,
            "cancel_at_period_end": mirrored.cancel_at_period_end,
            "shipping_address": shipping,
            "billing_address": billing,
            "currency": (base.text(item, "currency", 3) or organization.currency).upper(),
        }
        new.append(
            NewMirror(
                customer=customer,
                status=mirrored.status,
                fields=fields,
                items=line_items,
                reason=mirrored.reason
                or ("canceled in the shop" if mirrored.status == "canceled" else ""),
                data={"woocommerce_id": row["woo_id"], "woocommerce_status": row["woo_status"]},
            )
        )
        applied.append(index)

    addresses.save()  # before the subscriptions that point at them
    subscriptions = subscriptions_mirror_new(
        organization=organization, new=new, actor=base.actor(store)
    )
    base.page_remember(
        [
            (mappings[prepared[i]["woo_id"]], subscription.pk, prepared[i]["modified"],
             prepared[i]["woo_status"])
            for i, subscription in zip(applied, subscriptions, strict=True)
        ]
    )  # fmt: skip
    to_sync = orders.link({prepared[i]["woo_id"]: prepared[i] for i in applied})
    # A new mapping of an item left to `upsert` goes, as its rolled back transaction's would.
    base.page_forget(inserted, {prepared[i]["woo_id"] for i in applied})

    for index, subscription in zip(applied, subscriptions, strict=True):
        problems = []
        if preference_rows and shop_preferences.collect(
            [(r["woo_key"], r["key"]) for r in preference_rows], items[index]
        ):
            try:
                problems = shop_preferences.preferences_sync(
                    store=store,
                    subscription=subscription,
                    payload=items[index],
                    mappings=preference_rows,
                )
            except PayloadError as exc:
                raise base.PageAbandoned from exc
        results[index] = base.Outcome.noted(reasons.notes(problems))
    try:
        for order in to_sync:
            order_handler.sync_charges(store, order)
    except PayloadError as exc:
        raise base.PageAbandoned from exc
    return results


def _parse(item: dict[str, Any], woo_id: int) -> dict[str, Any] | None:
    """What `upsert` reads of a payload without the database, or None: left to `upsert`
    (a payload it refuses, an on-hold subscription, a guest's)."""
    try:
        woo_status = base.text(item, "status", 32)
        period = item.get("billing_period")
        if period not in BillingPeriod.values:
            return None
        interval = payloads.integer(item.get("billing_interval"), "billing_interval", minimum=1)
        start = payloads.gmt(item.get("start_date_gmt")) or payloads.gmt(
            item.get("date_created_gmt")
        )
        if start is None:
            return None
        row = {
            "woo_id": woo_id,
            "woo_status": woo_status,
            "period": period,
            "interval": interval,
            "start": start,
            "next_payment": payloads.gmt(item.get("next_payment_date_gmt")),
            "end": payloads.gmt(item.get("end_date_gmt")),
            "cancelled": payloads.gmt(item.get("cancelled_date_gmt")),
            "trial_end": payloads.gmt(item.get("trial_end_date_gmt")),
            "customer_id": payloads.integer(item.get("customer_id") or 0, "customer_id", minimum=0),
            "amounts": payloads.line_amounts(item),
            "parent_id": payloads.integer(item.get("parent_id") or 0, "parent_id", minimum=0),
        }
        row["line_ids"] = [(product, variation) for product, variation, _ in row["amounts"]]
        if not row["customer_id"] or woo_status.removeprefix("wc-") == "on-hold":
            return None
        row["mirrored"] = payloads.subscription_status(woo_status, latest_renewal_status=None)
    except PayloadError:
        return None
    return row


class _PageOrders:
    """The initial orders of a page's subscriptions and the orders linked to them without
    their charge yet, locked in one statement with their links to the page's subscriptions
    (as `_locked_orders` reads them for one)."""

    def __init__(self, store: WooCommerceStore, rows: dict[int, dict[str, Any]]) -> None:
        self.store = store
        self.orders: dict[int, WooOrder] = {}
        if not rows:
            return
        parents = {row["parent_id"] for row in rows.values() if row["parent_id"]}
        ids = [row["woo_id"] for row in rows.values()]
        unpaid = WooRelatedOrder.objects.filter(
            woo_subscription_id__in=ids, charge__isnull=True, order__store=store
        ).values("order_id")
        links = WooRelatedOrder.objects.filter(
            order=OuterRef("pk"), woo_subscription_id__in=ids
        ).values(
            json=JSONObject(
                id="id", subscription="woo_subscription_id", lines="lines", charge="charge_id"
            )
        )
        self.orders = {
            order.woo_id: order
            for order in WooOrder.objects.select_for_update(of=("self",))
            .filter(store=store)
            .filter(Q(woo_id__in=parents) | (Q(pk__in=unpaid) & ~Q(status="")))
            .annotate(link_rows=ArraySubquery(links))
            .order_by("woo_id")
        }

    def syncing(self, row: dict[str, Any]) -> set[int]:
        """The orders with a status (their charges synced) of a subscription (parsed row)."""
        found = set()
        for order in self.orders.values():
            if not order.status:
                continue
            if order.woo_id == row["parent_id"] or any(
                r["subscription"] == row["woo_id"] and r["charge"] is None for r in order.link_rows
            ):
                found.add(order.pk)
        return found

    def link(self, applied: dict[int, dict[str, Any]]) -> list[WooOrder]:
        """Link the applied subscriptions (woo id -> parsed row) to their initial orders
        (created empty when not seen yet) as `_link_orders` does; the orders whose charges to
        sync, in the order the handler syncs them, each once."""
        store = self.store
        missing = sorted(
            {
                row["parent_id"]
                for row in applied.values()
                if row["parent_id"] and row["parent_id"] not in self.orders
            }
        )
        for order in WooOrder.objects.bulk_create(
            [
                WooOrder(
                    organization_id=store.organization_id,
                    store=store,
                    woo_id=woo_id,
                    kind=WooOrder.Kind.PARENT,
                )
                for woo_id in missing
            ]
        ):
            order.link_rows = []
            self.orders[order.woo_id] = order
        kinds, new_links, lines, to_sync = {}, [], [], {}
        for woo_id, row in applied.items():
            parent_id = row["parent_id"]
            parent = self.orders.get(parent_id) if parent_id else None
            if parent is not None:
                if parent.kind != WooOrder.Kind.PARENT:
                    parent.kind = WooOrder.Kind.PARENT
                    parent.updated_at = timezone.now()
                    kinds[parent.pk] = parent
                link = next((r for r in parent.link_rows if r["subscription"] == woo_id), None)
                if link is None:
                    new_links.append(
                        WooRelatedOrder(
                            organization_id=store.organization_id,
                            order=parent,
                            woo_subscription_id=woo_id,
                            lines=row["amounts"],
                        )
                    )
                    if parent.status:
                        to_sync.setdefault(parent.pk, parent)
                elif link["lines"] != row["amounts"] or link["charge"] is None:
                    if link["lines"] != row["amounts"]:
                        lines.append(WooRelatedOrder(pk=link["id"], lines=row["amounts"]))
                    if parent.status:
                        to_sync.setdefault(parent.pk, parent)
            for order in self.orders.values():
                if (
                    order.woo_id != parent_id
                    and order.status
                    and any(
                        r["subscription"] == woo_id and r["charge"] is None for r in order.link_rows
                    )
                ):
                    to_sync.setdefault(order.pk, order)
        WooOrder.objects.bulk_update(kinds.values(), ["kind", "updated_at"])
        WooRelatedOrder.objects.bulk_create(new_links)
        WooRelatedOrder.objects.bulk_update(lines, ["lines"])
        return list(to_sync.values())
