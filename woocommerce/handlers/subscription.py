"""`subscription.*` -> a `Subscription` with `source=woocommerce`, mirrored from the shop.

Statuses follow the table in docs/woocommerce.md (`payloads.subscription_status`).
Dates come from the `*_gmt` fields. The schedule is anchored at the start date
(cycle 0, the initial order); `next_charge_at` is the shop's next payment date.
"""

from __future__ import annotations

from typing import Any

from crm.models import Address
from subscriptions import schedule
from subscriptions.models import BillingPeriod, Subscription
from subscriptions.services import subscription_mirror
from woocommerce import payloads
from woocommerce import preferences as shop_preferences
from woocommerce.handlers import base
from woocommerce.handlers import order as order_handler
from woocommerce.models import Resource, WooCommerceStore, WooMapping, WooOrder
from woocommerce.payloads import PayloadError

LIVE = ("pending", "active", "paused", "past_due")


def _latest_renewal_status(store: WooCommerceStore, woo_id: int) -> str | None:
    return (
        WooOrder.objects.filter(
            store=store,
            woo_subscription_id=woo_id,
            kind=WooOrder.Kind.RENEWAL,
            deleted_upstream=False,
        )
        .exclude(status="")
        .order_by("-ordered_at", "-woo_id")
        .values_list("status", flat=True)
        .first()
    )


def _next_cycle(anchor, period, interval, tz, next_payment) -> int:
    """The cycle starting nearest to the shop's next payment date (at least 1)."""
    cycle = schedule.cycle_at(
        anchor=anchor, period=period, interval=interval, at=next_payment, tz=tz
    )
    start, end = schedule.cycle_bounds(
        anchor=anchor, period=period, interval=interval, cycle=cycle, tz=tz
    )
    if end - next_payment < next_payment - start:
        cycle += 1
    return max(1, cycle)


def upsert(store: WooCommerceStore, payload: dict[str, Any], event: str) -> base.Outcome:
    woo_id, mapping, modified, skip = base.begin(store, Resource.SUBSCRIPTION, payload, event)
    if skip:
        return skip
    organization = store.organization
    woo_status = base.text(payload, "status", 32)
    period = payload.get("billing_period")
    if period not in BillingPeriod.values:
        raise PayloadError(f"subscription {woo_id}: unknown billing_period {period!r}")
    interval = payloads.integer(payload.get("billing_interval"), "billing_interval", minimum=1)
    start = payloads.gmt(payload.get("start_date_gmt")) or payloads.gmt(
        payload.get("date_created_gmt")
    )
    if start is None:
        raise PayloadError(f"subscription {woo_id} has no start date")
    next_payment = payloads.gmt(payload.get("next_payment_date_gmt"))
    end = payloads.gmt(payload.get("end_date_gmt"))
    cancelled = payloads.gmt(payload.get("cancelled_date_gmt"))
    customer = base.customer_for(
        store, payload.get("customer_id"), payload.get("billing"), f"subscription {woo_id}"
    )
    items = base.line_items(store, payload)
    shipping = base.address_for(
        customer, Address.Kind.SHIPPING, payload.get("shipping")
    ) or base.address_for(customer, Address.Kind.SHIPPING, payload.get("billing"))

    orders = _link_orders(store, woo_id, payload.get("parent_id"))
    mirrored = payloads.subscription_status(
        woo_status, latest_renewal_status=_latest_renewal_status(store, woo_id)
    )
    tz = organization.timezone
    ended = mirrored.status not in LIVE
    fields = {
        "billing_period": period,
        "billing_interval": interval,
        "billing_anchor": start,
        "anchor_cycle": 0,
        "started_at": start,
        "trial_ends_at": payloads.gmt(payload.get("trial_end_date_gmt")),
        "next_charge_at": None if ended else next_payment,
        "ends_at": end,
        "canceled_at": cancelled,
        "ended_at": end if ended else None,
        "cancel_at_period_end": mirrored.cancel_at_period_end,
        "shipping_address": shipping,
        "currency": (base.text(payload, "currency", 3) or organization.currency).upper(),
    }
    subscription = None
    if mapping.object_id:
        subscription = Subscription.objects.filter(
            pk=mapping.object_id, organization=organization
        ).first()
    if next_payment:
        fields["next_cycle"] = _next_cycle(start, period, interval, tz, next_payment)
    elif subscription is None:
        fields["next_cycle"] = 1  # no next payment yet (pending) or any more (ended)
    subscription, _changed = subscription_mirror(
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
    base.remember(mapping, subscription.pk, modified, status=woo_status)
    # A refused preference value never fails the sync: it becomes the delivery's note.
    problems = shop_preferences.preferences_sync(
        store=store, subscription=subscription, payload=payload
    )
    for order in orders:
        order_handler.sync_charge(store, order)
    return base.Outcome.applied("; ".join(problems))


def _link_orders(store: WooCommerceStore, woo_id: int, parent_id: Any) -> list[WooOrder]:
    """This subscription's orders, locked; the initial one is created empty if not seen yet."""
    parent_id = payloads.integer(parent_id or 0, "parent_id", minimum=0)
    if parent_id:
        parent = order_handler.locked_order(store, parent_id)
        if parent.kind != WooOrder.Kind.PARENT or parent.woo_subscription_id != woo_id:
            parent.kind = WooOrder.Kind.PARENT
            parent.woo_subscription_id = woo_id
            parent.save(update_fields=["kind", "woo_subscription_id", "updated_at"])
    return list(
        WooOrder.objects.select_for_update()
        .filter(store=store, woo_subscription_id=woo_id, charge__isnull=True)
        .exclude(status="")
        .order_by("woo_id")
    )


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
            {"product": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price}
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
                {"product": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price}
                for i in subscription.items.all()
            ],
            actor=base.actor(store),
            reason="deleted in the shop",
            data={"woocommerce_id": woo_id, "woocommerce_status": "trash"},
        )
    mapping.remote_status = "trash"
    base.mark_deleted(mapping)
    return base.Outcome.applied("deleted in the shop")
