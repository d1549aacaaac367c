"""`order.*` -> `WooOrder`, and for a subscription's orders its `Charge`.

A subscription's initial order is the one its `parent_id` names; renewal,
switch and resubscribe orders name the subscription in their meta
(`_subscription_renewal`...). Orders and subscriptions arrive in any order:
whichever comes second links them. An order of no subscription is kept for
reference only.
"""

from __future__ import annotations

from typing import Any

from fulfillment.services import lines_payment_refresh
from returns.services import returns_refunded_in_shop
from subscriptions import schedule
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from woocommerce import payloads
from woocommerce.handlers import base
from woocommerce.models import Resource, WooCommerceStore, WooOrder

KEPT_WHEN_DELETED = (Charge.Status.PAID, Charge.Status.REFUNDED)
SUBSCRIPTION_KINDS = (
    WooOrder.Kind.PARENT,
    WooOrder.Kind.RENEWAL,
    WooOrder.Kind.SWITCH,
    WooOrder.Kind.RESUBSCRIBE,
)


def locked_order(store: WooCommerceStore, woo_id: int) -> WooOrder:
    """The `WooOrder` row of `woo_id` (created empty if new), locked."""
    WooOrder.objects.bulk_create(
        [WooOrder(organization_id=store.organization_id, store=store, woo_id=woo_id)],
        ignore_conflicts=True,
    )
    return WooOrder.objects.select_for_update().get(store=store, woo_id=woo_id)


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id, mapping, modified, skip = base.begin(store, Resource.ORDER, payload, event)
    if skip:
        return skip
    link = payloads.order_link(payload)
    known = WooOrder.objects.filter(store=store, woo_id=woo_id).values_list(
        "woo_subscription_id", flat=True
    )
    woo_subscription_id = link[1] if link else next(iter(known), None)
    if woo_subscription_id:  # lock order: the subscription's mapping before its orders
        base.lock_mapping(store, Resource.SUBSCRIPTION, woo_subscription_id)
    order = locked_order(store, woo_id)
    if link:
        order.kind, order.woo_subscription_id = link
    elif order.kind not in SUBSCRIPTION_KINDS:
        order.kind = WooOrder.Kind.OTHER
    status = base.text(payload, "status", 32)
    if not status:
        raise payloads.PayloadError(f"order {woo_id} has no status")
    order.number = base.text(payload, "number", 32)
    order.status = status
    order.total = payloads.decimal(payload.get("total"), None)
    order.currency = base.text(payload, "currency", 3).upper()
    order.ordered_at = payloads.gmt(payload.get("date_created_gmt"))
    order.paid_at = payloads.gmt(payload.get("date_paid_gmt"))
    order.deleted_upstream = False
    order.customer = base.customer_for(
        store, payload.get("customer_id"), payload.get("billing"), f"order {woo_id}"
    )
    order.save()
    base.remember(mapping, order.pk, modified, status=status)
    sync_charge(store, order)
    return base.Outcome.applied()


def delete(store: WooCommerceStore, woo_id: int) -> base.Outcome:
    """Trashed in the shop: an unpaid charge of it is voided, a paid one kept."""
    mapping = base.lock_mapping(store, Resource.ORDER, woo_id)
    order = WooOrder.objects.filter(store=store, woo_id=woo_id).first()
    if order is not None:
        if order.woo_subscription_id:
            base.lock_mapping(store, Resource.SUBSCRIPTION, order.woo_subscription_id)
        order = locked_order(store, woo_id)
        order.deleted_upstream = True
        order.status = "trash"
        order.save()
        sync_charge(store, order)
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted in the shop")


def subscription_of(store: WooCommerceStore, order: WooOrder) -> Subscription | None:
    if not order.woo_subscription_id or order.kind not in SUBSCRIPTION_KINDS:
        return None
    return base.mapped(store, Resource.SUBSCRIPTION, order.woo_subscription_id, Subscription)


def _nearest_cycle(subscription: Subscription, at) -> int:
    """The cycle whose start is nearest to `at` (renewal orders are made at the due date)."""
    cycle = schedule.cycle_at(
        anchor=subscription.billing_anchor,
        period=subscription.billing_period,
        interval=subscription.billing_interval,
        at=at,
        tz=subscription.organization.timezone,
    )
    start, end = subscription.cycle_bounds(cycle + subscription.anchor_cycle)
    if end - at < at - start:
        cycle += 1
    return cycle + subscription.anchor_cycle


def sync_charge(store: WooCommerceStore, order: WooOrder) -> Charge | None:
    """Make the subscription's charge for `order` match it (create, update, or nothing).

    Cycle numbers: the initial order is cycle 0; another order takes the cycle
    whose start is nearest to its date, or the next free one. A status change
    writes a "charge paid/failed" event with the WooCommerce actor; when the
    subscription is on hold in the shop, its status is re-derived (past due
    while its latest renewal is unpaid, else paused).
    """
    if not order.status:  # only known from the subscription so far
        return None
    subscription = subscription_of(store, order)
    if subscription is None:
        return None
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=subscription.pk)
    )
    order.subscription = subscription
    charge = order.charge
    status = payloads.charge_status(order.status)
    if order.deleted_upstream and charge is not None and charge.status in KEPT_WHEN_DELETED:
        status = charge.status  # trashing a paid order in the shop refunds nothing
    if charge is None:
        if order.kind == WooOrder.Kind.PARENT:
            cycle = 0
        else:
            cycle = max(1, _nearest_cycle(subscription, order.ordered_at or order.updated_at))
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
        "amount": order.total if order.total is not None else charge.amount or 0,
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
    order.charge = charge
    order.save(update_fields=["subscription", "charge", "updated_at"])
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
        Subscription.objects.filter(pk=subscription.pk).update(
            current_cycle=charge.cycle,
            current_period_start=charge.period_start,
            current_period_end=charge.period_end,
        )
    from woocommerce.handlers import subscription as subscription_handler

    subscription_handler.refresh_status(store, subscription)
    return charge
