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
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, Q, Subquery

from subscriptions.models import BillingPeriod, Charge, Subscription
from subscriptions.services import subscription_mirror
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
    reads = {"preference_rows": ArraySubquery(shop_preferences.preference_mappings(store))}
    lines = base.line_mappings(store, payload.get("line_items"))
    if lines is not None:
        reads["line_rows"] = ArraySubquery(lines)
    woo_id, mapping, modified, skip = base.begin(
        store, Resource.SUBSCRIPTION, payload, event, annotations=reads
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
    items = base.line_items(store, payload, getattr(mapping, "line_rows", []))
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
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .filter(pk=mapping.object_id, organization=organization)
            .first()
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
    link = WooRelatedOrder.objects.filter(order=OuterRef("pk"), woo_subscription_id=woo_id)
    unpaid = WooRelatedOrder.objects.filter(
        woo_subscription_id=woo_id, charge__isnull=True, order__store=store
    ).values("order_id")
    return list(
        WooOrder.objects.select_for_update(of=("self",))
        .filter(store=store)
        .filter(Q(woo_id=parent_id) | (Q(pk__in=unpaid) & ~Q(status="")))
        .annotate(
            link_id=Subquery(link.values("pk")[:1]),
            link_lines=Subquery(link.values("lines")[:1]),
            link_charge_id=Subquery(link.values("charge_id")[:1]),
        )
        .order_by("woo_id")
    )


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
        order_handler.locked_order(store, parent_id)
        found = _locked_orders(store, woo_id, parent_id)
        parent = next(o for o in found if o.woo_id == parent_id)
    orders = []
    if parent is not None:
        if parent.kind != WooOrder.Kind.PARENT:
            parent.kind = WooOrder.Kind.PARENT
            parent.save(update_fields=["kind", "updated_at"])
        if parent.link_id is None:
            row = order_handler.link(parent, woo_id)
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
