"""Writes of the subscription lifecycle.

Every action is atomic: it locks the subscription row, checks the transition
is allowed (django-fsm-2), changes the row, writes one `SubscriptionEvent` in
the same transaction and schedules follow-up work on commit. A refused action
raises `ApplicationError` (400: bad input) or `ConflictError` (409: not allowed
in this status, or managed by WooCommerce) and changes nothing.

Scheduled changes survive edits: a pending cancellation at period end, a
skipped cycle and a resume date are kept by a change of items or schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django_fsm import can_proceed

from core import clock, cycles
from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from core.locks import lock_row, save_transition
from core.queueing import enqueue_on_commit
from crm.models import Address, Contract, Customer, Organization, Product, Variant
from crm.services import note_text
from subscriptions import schedule
from subscriptions.gateways import ChargeResult
from subscriptions.models import (
    BillingPeriod,
    BillingSettings,
    Charge,
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionNote,
)
from subscriptions.signals import charge_settled

Status = Subscription.Status
Kind = SubscriptionEvent.Kind
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")  # amounts are stored with 10 digits, 2 after the point


UNCHANGED = object()  # a keyword argument left out: the field keeps its value


def _action_label(action: str) -> str:
    labels = {
        "activate": _("activate"),
        "pause": _("pause"),
        "resume": _("resume"),
        "skip": _("skip the next cycle"),
        "skip_cycle": _("skip a cycle"),
        "unskip_cycle": _("bring back a skipped cycle"),
        "move_next_date": _("move the next charge date"),
        "change_schedule": _("change the schedule"),
        "change_items": _("change the items"),
        "cancel": pgettext("subscription", "cancel"),
        "schedule_cancel": _("cancel at period end"),
        "withdraw_cancellation": _("withdraw the cancellation"),
        "expire": _("expire"),
        "mark_past_due": _("mark past due"),
        "recover": _("recover"),
    }
    return labels.get(action, action)


def _amount(value: Decimal) -> str:
    """An amount in a message: 12.90 in English, 12,90 in French."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(_("Invalid input."), {"fields": {field: [message]}})


# --- Locking and history -----------------------------------------------------


def _lock(subscription: Subscription | int) -> Subscription:
    """Re-read the subscription with a row lock held until the transaction ends."""
    return lock_row(Subscription.objects.select_related("organization"), subscription)


def _allow(subscription: Subscription, action: str, actor: Actor) -> None:
    """Refuse an action the status does not allow, or a hand-made one on a shop subscription."""
    if not subscription.is_native and actor.kind not in (ActorKind.WOOCOMMERCE, ActorKind.SYSTEM):
        raise ConflictError(
            _(
                "This subscription is managed by WooCommerce: change it in the shop, "
                "the change will be synchronized here."
            ),
            {"source": subscription.source, "action": action},
        )
    if not can_proceed(getattr(subscription, action)):
        raise ConflictError(
            _("Cannot %(action)s: the subscription is %(status)s.")
            % {
                "status": subscription.get_status_display().lower(),
                "action": _action_label(action),
            },
            {"status": subscription.status, "action": action},
        )


def _transition(subscription: Subscription, action: str, actor: Actor, **kwargs) -> str:
    """Apply a status transition; return the status it left."""
    _allow(subscription, action, actor)
    from_status = subscription.status
    getattr(subscription, action)(**kwargs)
    return from_status


def _save(subscription: Subscription, update_fields: list[str] | None = None) -> None:
    save_transition(
        subscription,
        changed=gettext_lazy("The subscription changed meanwhile; try again."),
        update_fields=update_fields,
    )


def _record(
    subscription: Subscription,
    kind: str,
    actor: Actor,
    *,
    from_status: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> SubscriptionEvent:
    return SubscriptionEvent.objects.create(
        organization_id=subscription.organization_id,
        subscription=subscription,
        kind=kind,
        from_status=from_status if from_status is not None else subscription.status,
        to_status=subscription.status,
        reason=reason[:500],
        data=data or {},
        **actor.as_fields(),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- Schedule helpers --------------------------------------------------------


def _set_next_cycle(subscription: Subscription, cycle: int) -> None:
    """Point `next_charge_at` at `cycle` (or at nothing past a fixed end)."""
    subscription.next_cycle = cycle
    starts_at = subscription.cycle_start(cycle)
    in_term = schedule.in_term(cycle_starts_at=starts_at, ends_at=subscription.ends_at)
    subscription.next_charge_at = starts_at if in_term else None


#: Amounts are stored with 10 digits, 2 of them cents: every amount is below this.
AMOUNT_LIMIT = Decimal("100000000")

_LINE_TOTAL = ExpressionWrapper(
    F("unit_price") * F("quantity"), output_field=DecimalField(max_digits=12, decimal_places=2)
)


def _items_total(subscription: Subscription) -> Decimal:
    total = subscription.items.aggregate(total=Sum(_LINE_TOTAL))["total"]
    return (total or Decimal("0")).quantize(CENT)


def _items_snapshot(subscription: Subscription) -> list[dict[str, Any]]:
    """The items as an event keeps them: product, variant (or None), SKU and name of
    what goes in the box, quantity, price."""
    return _snapshot_of(
        subscription.items.select_related("product", "variant__product").order_by("id")
    )


def _snapshot_of(items: Iterable[SubscriptionItem]) -> list[dict[str, Any]]:
    """`_items_snapshot` of items already read (with their product and variant)."""
    return [
        {
            "product": item.product_id,
            "variant": item.variant_id,
            "sku": item.sku,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": str(item.unit_price),
        }
        for item in items
    ]


def _attach_products(items: list[SubscriptionItem], known: list[SubscriptionItem]) -> None:
    """Give new items their product and variant rows: those `known` items had, the
    others read in one query each (none when only quantities or prices changed)."""
    products = {i.product_id: i.product for i in known}
    variants = {i.variant_id: i.variant for i in known if i.variant_id}
    missing = {i.product_id for i in items} - products.keys()
    if missing:
        products.update(Product.objects.in_bulk(missing))
    missing = {i.variant_id for i in items if i.variant_id} - variants.keys()
    if missing:
        variants.update(Variant.objects.select_related("product").in_bulk(missing))
    for item in items:
        item.product = products[item.product_id]
        if item.variant_id:
            item.variant = variants[item.variant_id]


def _validate_schedule(billing_period: str, billing_interval: int) -> None:
    if billing_period not in BillingPeriod.values:
        raise _invalid(
            "billing_period",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(BillingPeriod.values)},
        )
    if not isinstance(billing_interval, int) or billing_interval < 1:
        raise _invalid("billing_interval", _("The interval must be a whole number of at least 1."))


def _item_variant(
    organization: Organization, item: dict[str, Any], n: int, keep: set[int]
) -> tuple[Product, Variant | None]:
    """The product and variant an item names, both of the organization.

    A variant implies its product; a product with variants needs one of them;
    a retired variant is refused unless the subscription holds it already
    (`keep`: a change of its other items does not take it away).
    """
    product, variant = item.get("product"), item.get("variant")
    if isinstance(variant, int) and not isinstance(variant, bool):
        variant = (
            Variant.objects.filter(organization=organization, pk=variant)
            .select_related("product")
            .first()
        )
        if variant is None:
            raise _invalid("items", _("Item %(n)s: unknown variant.") % {"n": n})
    if variant is not None and (
        not isinstance(variant, Variant) or variant.organization_id != organization.pk
    ):
        raise _invalid("items", _("Item %(n)s: unknown variant.") % {"n": n})
    if product is None and variant is not None:
        product = variant.product
    if isinstance(product, int) and not isinstance(product, bool):
        product = Product.objects.filter(organization=organization, pk=product).first()
    if not isinstance(product, Product) or product.organization_id != organization.pk:
        raise _invalid("items", _("Item %(n)s: unknown product.") % {"n": n})
    if variant is None:
        if product.variants.exists():
            raise _invalid(
                "items",
                _("Item %(n)s: %(product)s is sold by variant: choose one of its variants.")
                % {"n": n, "product": product.name},
            )
        return product, None
    if variant.product_id != product.pk:
        raise _invalid(
            "items", _("Item %(n)s: this variant is not one of the product's.") % {"n": n}
        )
    if not variant.active and variant.pk not in keep:
        raise _invalid(
            "items",
            _("Item %(n)s: the variant %(variant)s is retired.") % {"n": n, "variant": variant},
        )
    return product, variant


def _validate_items(
    organization: Organization,
    items: Sequence[dict[str, Any]],
    *,
    keep_variants: set[int] | None = None,
) -> list[dict]:
    """Items as {product, variant, quantity, unit_price}, of the organization only.

    An item names a product (a simple one) or a variant (its product implied);
    the price defaults to the variant's, else the product's. Items of the same
    product, variant and price are merged into one (quantities added); two
    variants of one product stay two items.
    """
    if not items:
        raise _invalid("items", _("A subscription needs at least one item."))
    cleaned: list[dict] = []
    merged: dict[tuple, dict] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid("items", _("Item %(n)s: unknown product.") % {"n": index + 1})
        product, variant = _item_variant(organization, item, index + 1, keep_variants or set())
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _invalid(
                "items", _("Item %(n)s: the quantity must be at least 1.") % {"n": index + 1}
            )
        unit_price = item.get("unit_price")
        if unit_price is None:
            unit_price = (variant or product).unit_price
        unit_price = Decimal(unit_price)
        if unit_price < 0:
            raise _invalid(
                "items", _("Item %(n)s: the unit price cannot be negative.") % {"n": index + 1}
            )
        key = (product.pk, variant.pk if variant else None, unit_price.quantize(CENT))
        if key in merged:
            merged[key]["quantity"] += quantity
            continue
        merged[key] = {
            "product": product,
            "variant": variant,
            "quantity": quantity,
            "unit_price": unit_price,
        }
        cleaned.append(merged[key])
    total = sum((i["unit_price"] * i["quantity"] for i in cleaned), Decimal("0"))
    if total >= AMOUNT_LIMIT:
        # A cycle's charge (and the pro-rata carried to it) is an amount of 10 digits.
        raise _invalid(
            "items",
            _("The items come to %(total)s a cycle: a charge holds less than %(limit)s.")
            % {"total": total.quantize(CENT), "limit": AMOUNT_LIMIT},
        )
    return cleaned


def _replace_items(
    subscription: Subscription, items: list[dict], *, new: bool = False
) -> list[SubscriptionItem]:
    """`items` in place of the subscription's; `new`: it was just inserted, it has none."""
    if not new:
        subscription.items.all().delete()
    return SubscriptionItem.objects.bulk_create(
        SubscriptionItem(
            organization_id=subscription.organization_id, subscription=subscription, **i
        )
        for i in items
    )


# --- Create ------------------------------------------------------------------


@transaction.atomic
def subscription_create(
    *,
    organization: Organization,
    customer: Customer,
    items: Sequence[dict[str, Any]],
    actor: Actor,
    billing_period: str = BillingPeriod.MONTH,
    billing_interval: int = 1,
    start_at: datetime | None = None,
    trial_ends_at: datetime | None = None,
    ends_at: datetime | None = None,
    shipping_address: Address | None = None,
    contract: Contract | None = None,
    source: str = Subscription.Source.NATIVE,
    now: datetime | None = None,
) -> Subscription:
    """A new subscription: pending until its first charge is paid.

    With a trial it is active at once and its first charge falls at the trial's
    end, which anchors the schedule; otherwise the schedule is anchored at its
    start and the first charge is attempted at once (on commit).
    """
    now = now or clock.now()
    start_at = start_at or now
    if customer.organization_id != organization.pk:
        raise _invalid("customer", _("Unknown customer."))
    if shipping_address is not None and shipping_address.customer_id != customer.pk:
        raise _invalid("shipping_address", _("Choose one of the customer's addresses."))
    if contract is not None and (
        contract.organization_id != organization.pk
        or contract.customer_id not in (None, customer.pk)
    ):
        raise _invalid("contract", _("Choose a contract of this customer."))
    if trial_ends_at is not None and trial_ends_at <= start_at:
        raise _invalid("trial_ends_at", _("The trial must end after the start."))
    anchor = trial_ends_at or start_at
    if ends_at is not None and ends_at <= anchor:
        raise _invalid("ends_at", _("The fixed end must be after the first charge."))
    _validate_schedule(billing_period, billing_interval)
    cleaned_items = _validate_items(organization, items)
    if shipping_address is None:
        shipping_address = customer.addresses.filter(kind=Address.Kind.SHIPPING).first()

    subscription = Subscription(
        organization=organization,
        customer=customer,
        contract=contract,
        source=source,
        billing_period=billing_period,
        billing_interval=billing_interval,
        billing_anchor=anchor,
        started_at=start_at,
        trial_ends_at=trial_ends_at,
        ends_at=ends_at,
        shipping_address=shipping_address,
        currency=organization.currency,
    )
    _set_next_cycle(subscription, 0)
    subscription.save()
    _replace_items(subscription, cleaned_items)
    _record(
        subscription,
        Kind.CREATED,
        actor,
        from_status="",
        data={"items": _items_snapshot(subscription), "next_charge_at": _iso(anchor)},
    )
    if trial_ends_at is not None:
        subscription.activate()
        subscription.current_period_start = start_at
        subscription.current_period_end = trial_ends_at
        _save(subscription)
        _record(subscription, Kind.ACTIVATED, actor, from_status=Status.PENDING, reason="trial")
    elif subscription.is_native and anchor <= now:
        from subscriptions import tasks

        # The renewal run would charge it within minutes anyway.
        enqueue_on_commit(tasks.renew_subscription, subscription.pk)
    return subscription


# --- Staff and API actions ---------------------------------------------------


@transaction.atomic
def subscription_pause(
    *,
    subscription: Subscription,
    actor: Actor,
    resume_at: datetime | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Stop charging and shipping; resume by hand or automatically at `resume_at`."""
    subscription = _lock(subscription)
    now = now or clock.now()
    _allow(subscription, "pause", actor)
    if resume_at is not None and resume_at <= now:
        raise _invalid("resume_at", _("The resume date must be in the future."))
    from_status = _transition(subscription, "pause", actor)
    subscription.paused_at = now
    subscription.resume_at = resume_at
    _save(subscription)
    _record(
        subscription,
        Kind.PAUSED,
        actor,
        from_status=from_status,
        reason=reason,
        data={"resume_at": _iso(resume_at)},
    )
    return subscription


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, actor: Actor, reason: str = "", now: datetime | None = None
) -> Subscription:
    """Charge and ship again. Cycles whose date passed during the pause are not charged.

    The pause lasts until now, or until its resume date when that has come (beat
    resumes a few minutes after it): the cycle of the resume date itself is charged,
    as the next-cycles table and `next_due` promised.
    """
    subscription = _lock(subscription)
    now = now or clock.now()
    from_status = _transition(subscription, "resume", actor)
    missed = []
    resumes_at = now
    if subscription.resume_at is not None and subscription.resume_at <= now:
        resumes_at = subscription.resume_at
    if subscription.next_charge_at is not None:
        first = subscription.resuming_cycle(resumes_at)
        missed = [
            cycle
            for cycle in range(subscription.next_cycle, first)
            if cycle not in subscription.skipped_cycles
        ]
        _set_next_cycle(subscription, first)
    paused_at = subscription.paused_at
    subscription.paused_at = None
    subscription.resume_at = None
    _save(subscription)
    _record(
        subscription,
        Kind.RESUMED,
        actor,
        from_status=from_status,
        reason=reason,
        data={
            "paused_at": _iso(paused_at),
            "missed_cycles": missed,
            "next_charge_at": _iso(subscription.next_charge_at),
        },
    )
    return subscription


def _refuse_if_next_cycle_charging(subscription: Subscription, action: str) -> None:
    """The next cycle's charge exists: its amount and period are fixed, so are its date
    and whether it ships (a skip, or a schedule re-anchored around it, would be ignored)."""
    charge = subscription.charges.filter(cycle=subscription.next_cycle).first()
    if charge is not None and charge.status != Charge.Status.VOIDED:
        raise ConflictError(
            _("The next cycle is already being charged (%(status)s): it cannot be changed.")
            % {"status": charge.get_status_display().lower()},
            {"action": action, "charge": charge.pk},
        )


def _cycle_to_skip(subscription: Subscription) -> int:
    """The cycle a skip acts on: the next one charged, never one inside a pause or past.

    Active: the schedule's next cycle. Paused: the first cycle after the resume date
    (the cycles before it fall in the pause and are not charged anyway); with no
    resume date that cycle is not known, and the skip is refused.
    """
    if subscription.status == Status.PAUSED:
        if subscription.resume_at is None:
            raise ConflictError(
                _(
                    "The subscription is paused with no resume date: the first cycle after "
                    "the pause is not known yet. Give the pause a resume date, or skip once "
                    "it has resumed."
                ),
                {"action": "skip", "status": subscription.status},
            )
        return subscription.resuming_cycle(subscription.resume_at)
    return subscription.next_cycle


@transaction.atomic
def subscription_skip(
    *, subscription: Subscription, actor: Actor, reason: str = ""
) -> Subscription:
    """Neither charge nor ship the next cycle; the schedule after it is unchanged.

    Paused, the cycle skipped is the first one after the resume date (`_cycle_to_skip`);
    the cycles between fall in the pause: they are not charged, even if the
    subscription is resumed early.
    """
    subscription = _lock(subscription)
    _allow(subscription, "skip", actor)
    if subscription.next_charge_at is None:
        raise ConflictError(_("There is no next cycle to skip."), {"action": "skip"})
    _refuse_if_next_cycle_charging(subscription, "skip")
    skipped = _cycle_to_skip(subscription)
    skipped_at = subscription.cycle_start(skipped)
    if not schedule.in_term(cycle_starts_at=skipped_at, ends_at=subscription.ends_at):
        raise ConflictError(_("There is no next cycle to skip."), {"action": "skip"})
    passed_over = [
        cycle
        for cycle in range(subscription.next_cycle, skipped)
        if cycle not in subscription.skipped_cycles
    ]
    subscription.skip()
    subscription.skipped_cycles = sorted({*subscription.skipped_cycles, skipped})
    _set_next_cycle(
        subscription, schedule.next_cycle(after=skipped, skipped=subscription.skipped_cycles)
    )
    _save(subscription)
    _record(
        subscription,
        Kind.SKIPPED,
        actor,
        reason=reason,
        data={
            "cycle": skipped,
            "cycle_date": _iso(skipped_at),
            "missed_cycles": passed_over,
            "next_charge_at": _iso(subscription.next_due_at),
        },
    )
    return subscription


@transaction.atomic
def subscription_change_schedule(
    *,
    subscription: Subscription,
    actor: Actor,
    billing_period: str,
    billing_interval: int,
    reason: str = "",
) -> Subscription:
    """Charge every `billing_interval` `billing_period` from the next charge date on.

    The cycle already paid is not re-cut (nothing to pro-rate): the new
    frequency counts from the next charge date, which stays where it was. Refused
    while that charge is under way (its period is fixed; the paid period, and a
    cancellation at its end, must not move under it), as a skip is.
    """
    subscription = _lock(subscription)
    _allow(subscription, "change_schedule", actor)
    _validate_schedule(billing_period, billing_interval)
    _refuse_if_next_cycle_charging(subscription, "change_schedule")
    if (billing_period, billing_interval) == (
        subscription.billing_period,
        subscription.billing_interval,
    ):
        # Valid input the subscription's state refuses: a conflict (409), like a transition.
        message = _("This is already the subscription's schedule.")
        raise ConflictError(message, {"fields": {"billing_period": [message]}})
    subscription.change_schedule()
    old = {"period": subscription.billing_period, "interval": subscription.billing_interval}
    next_cycle = subscription.next_cycle
    subscription.billing_anchor = subscription.cycle_start(next_cycle)
    subscription.anchor_cycle = next_cycle
    subscription.billing_period = billing_period
    subscription.billing_interval = billing_interval
    _set_next_cycle(subscription, next_cycle)
    _save(subscription)
    _record(
        subscription,
        Kind.SCHEDULE_CHANGED,
        actor,
        reason=reason,
        data={
            "old": old,
            "new": {"period": billing_period, "interval": billing_interval},
            "next_charge_at": _iso(subscription.next_charge_at),
        },
    )
    return subscription


@transaction.atomic
def subscription_change_items(
    *,
    subscription: Subscription,
    actor: Actor,
    items: Sequence[dict[str, Any]],
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Replace the items; the rest of a paid period is charged or credited pro rata.

    The difference (`schedule.prorate`) is carried to the next charge as the
    subscription's `adjustment`, active or paused alike. Refused while a
    cancellation at period end is scheduled: no next charge would carry it.
    """
    subscription = _lock(subscription)
    _allow(subscription, "change_items", actor)
    if subscription.cancel_at_period_end:
        raise ConflictError(
            _(
                "The subscription ends with its paid period: no later charge would settle "
                "a change of items. Withdraw the cancellation first."
            ),
            {"action": "change_items", "cancel_at_period_end": True},
        )
    held = set(
        subscription.items.filter(variant__isnull=False).values_list("variant_id", flat=True)
    )
    cleaned = _validate_items(subscription.organization, items, keep_variants=held)
    now = now or clock.now()
    old_items = _items_snapshot(subscription)
    old_total = _items_total(subscription)
    subscription.change_items()
    _replace_items(subscription, cleaned)
    new_total = _items_total(subscription)
    proration = None
    paid = (
        subscription.status in (Status.ACTIVE, Status.PAUSED)
        and subscription.current_cycle is not None
        and subscription.current_period_start is not None
        # A cycle charged ahead ("charge now") counts as paid from its start.
        and now < subscription.current_period_end
        and subscription.charges.filter(
            cycle=subscription.current_cycle, status=Charge.Status.PAID
        ).exists()
    )
    if paid:
        proration = schedule.prorate(
            old_amount=old_total,
            new_amount=new_total,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            at=max(now, subscription.current_period_start),
        )
        subscription.adjustment += proration.net
        if abs(subscription.adjustment) >= AMOUNT_LIMIT:
            raise _invalid(
                "items",
                _("The pro-rata carried to the next charge would reach %(limit)s.")
                % {"limit": AMOUNT_LIMIT},
            )
    _save(subscription)
    _record(
        subscription,
        Kind.ITEMS_CHANGED,
        actor,
        reason=reason,
        data={
            "old": old_items,
            "new": _items_snapshot(subscription),
            "old_total": str(old_total),
            "new_total": str(new_total),
            "proration": None
            if proration is None
            else {
                "credit": str(proration.credit),
                "charge": str(proration.charge),
                "net": str(proration.net),
                "remaining_seconds": proration.remaining_seconds,
                "total_seconds": proration.total_seconds,
            },
        },
    )
    return subscription


def _record_address_change(
    subscription: Subscription, before: int | None, actor: Actor, data: dict | None = None
) -> None:
    """The event batches read to know where a box went at their cut-off (see fulfillment)."""
    _record(
        subscription,
        Kind.ADDRESS_CHANGED,
        actor,
        data={**(data or {}), "from": before, "to": subscription.shipping_address_id},
    )


@transaction.atomic
def subscription_change_details(
    *,
    subscription: Subscription,
    actor: Actor,
    contract: Contract | object | None = UNCHANGED,
    shipping_address: Address | object | None = UNCHANGED,
) -> Subscription:
    """Change what is not part of the lifecycle: the contract and the shipping address.

    Allowed in any status (a canceled subscription may still be corrected).
    The shipping address must be one of the customer's, and a WooCommerce
    subscription's is the shop's (synchronized); its change is an event, so a
    batch locked late still ships where it stood at the cut-off. A new contract
    is the customer's or one for every customer (the current one may stay).
    """
    subscription = _lock(subscription)
    address_given = shipping_address is not UNCHANGED
    contract_given = contract is not UNCHANGED
    if (
        address_given
        and not subscription.is_native
        and actor.kind not in (ActorKind.WOOCOMMERCE, ActorKind.SYSTEM)
        and subscription.shipping_address_id != getattr(shipping_address, "pk", None)
    ):
        message = _("This subscription's shipping address is the shop's: change it in WooCommerce.")
        raise ConflictError(
            message, {"source": subscription.source, "fields": {"shipping_address": [message]}}
        )
    if (
        address_given
        and shipping_address
        and shipping_address.customer_id != subscription.customer_id
    ):
        raise _invalid("shipping_address", _("Choose one of the customer's addresses."))
    if contract_given and contract and contract.organization_id != subscription.organization_id:
        raise _invalid("contract", _("Choose one of the organization's contracts."))
    if (
        contract_given
        and contract
        and contract.pk != subscription.contract_id
        and contract.customer_id not in (None, subscription.customer_id)
    ):
        raise _invalid("contract", _("Choose a contract of this customer."))
    before_address = subscription.shipping_address_id
    fields = []
    if contract_given and subscription.contract_id != getattr(contract, "pk", None):
        subscription.contract = contract
        fields.append("contract")
    if address_given and before_address != getattr(shipping_address, "pk", None):
        subscription.shipping_address = shipping_address
        fields.append("shipping_address")
    if not fields:
        return subscription
    Subscription.objects.filter(pk=subscription.pk).update(
        **{name: getattr(subscription, name) for name in fields}, updated_at=clock.now()
    )
    if "shipping_address" in fields:
        _record_address_change(subscription, before_address, actor)
    return subscription


def _void_open_charges(subscription: Subscription, now: datetime) -> list[int]:
    open_charges = subscription.charges.filter(
        status__in=[Charge.Status.SCHEDULED, Charge.Status.PENDING, Charge.Status.FAILED]
    )
    ids = list(open_charges.values_list("pk", flat=True))
    open_charges.update(status=Charge.Status.VOIDED, next_retry_at=None, updated_at=now)
    return ids


def _end(
    subscription: Subscription, action: str, kind: str, actor: Actor, reason: str, now: datetime
) -> None:
    from_status = _transition(subscription, action, actor)
    if action == "cancel":
        subscription.canceled_at = now
    subscription.ended_at = now
    subscription.next_charge_at = None
    subscription.cancel_at_period_end = False
    subscription.resume_at = None
    voided = _void_open_charges(subscription, now)
    _save(subscription)
    data: dict[str, Any] = {"voided": voided}
    if subscription.adjustment:
        # No later charge will carry it: said here, for staff to settle (charge or refund).
        data["unsettled_adjustment"] = str(subscription.adjustment)
    _record(subscription, kind, actor, from_status=from_status, reason=reason, data=data)


@transaction.atomic
def subscription_cancel(
    *,
    subscription: Subscription,
    actor: Actor,
    reason: str,
    at_period_end: bool = False,
    now: datetime | None = None,
) -> Subscription:
    """Cancel now (unpaid charges are voided), or at the end of the paid period."""
    subscription = _lock(subscription)
    reason = (reason or "").strip()
    action = "schedule_cancel" if at_period_end else "cancel"
    _allow(subscription, action, actor)
    if not reason:
        raise _invalid("reason", _("Say why the subscription is canceled."))
    if not at_period_end:
        subscription.cancel_reason = reason[:500]
        _end(subscription, "cancel", Kind.CANCELED, actor, reason, now or clock.now())
        return subscription
    if subscription.cancel_at_period_end:
        raise ConflictError(
            _("A cancellation at period end is already scheduled."), {"action": action}
        )
    subscription.schedule_cancel()
    subscription.cancel_at_period_end = True
    subscription.cancel_reason = reason[:500]
    _save(subscription)
    _record(
        subscription,
        Kind.CANCEL_SCHEDULED,
        actor,
        reason=reason,
        data={"at": _iso(subscription.current_period_end or subscription.next_charge_at)},
    )
    return subscription


@transaction.atomic
def subscription_withdraw_cancellation(
    *, subscription: Subscription, actor: Actor, reason: str = ""
) -> Subscription:
    """The customer changed their mind: the cancellation at period end is dropped."""
    subscription = _lock(subscription)
    live = (Status.ACTIVE, Status.PAUSED, Status.PAST_DUE)
    if (
        subscription.is_native
        and subscription.status in live
        and not subscription.cancel_at_period_end
    ):
        raise ConflictError(_("No cancellation is scheduled."), {"action": "withdraw_cancellation"})
    _allow(subscription, "withdraw_cancellation", actor)
    subscription.withdraw_cancellation()
    withdrawn = subscription.cancel_reason
    subscription.cancel_at_period_end = False
    subscription.cancel_reason = ""
    _save(subscription)
    _record(
        subscription,
        Kind.CANCEL_WITHDRAWN,
        actor,
        reason=reason,
        data={"cancel_reason": withdrawn, "next_charge_at": _iso(subscription.next_charge_at)},
    )
    return subscription


# --- System transitions (beat, payments) -------------------------------------


@transaction.atomic
def subscription_expire(
    *, subscription: Subscription, actor: Actor, now: datetime | None = None
) -> Subscription:
    """A fixed-term subscription reached its end."""
    subscription = _lock(subscription)
    _end(subscription, "expire", Kind.EXPIRED, actor, "", now or clock.now())
    return subscription


@transaction.atomic
def subscription_end_at_period_end(
    *, subscription: Subscription, actor: Actor, now: datetime | None = None
) -> Subscription:
    subscription = _lock(subscription)
    if not subscription.cancel_at_period_end:
        raise ConflictError(_("No cancellation is scheduled."), {"action": "cancel"})
    _end(
        subscription, "cancel", Kind.CANCELED, actor, subscription.cancel_reason, now or clock.now()
    )
    return subscription


def _advance(subscription: Subscription, charge: Charge) -> None:
    """The charge's cycle is paid: it becomes the current period."""
    subscription.current_cycle = charge.cycle
    subscription.current_period_start = charge.period_start
    subscription.current_period_end = charge.period_end
    _set_next_cycle(
        subscription,
        schedule.next_cycle(after=charge.cycle, skipped=subscription.skipped_cycles),
    )


def _retry_days(organization_id: int) -> list[int]:
    settings_row = BillingSettings.objects.filter(organization_id=organization_id).first()
    return settings_row.retry_days if settings_row else list(schedule.DEFAULT_RETRY_DAYS)


@transaction.atomic
def charge_apply_result(
    *,
    charge: Charge,
    result: ChargeResult,
    actor: Actor,
    gateway: str = "",
    retry_days: Sequence[int] | None = None,
    now: datetime | None = None,
) -> Charge:
    """Record a gateway's answer (or staff's) for a charge, and move its subscription on.

    Paid: the cycle becomes the current period, a pending subscription is
    activated and a past-due one recovers. Failed: the subscription goes past
    due and the charge is retried on the dunning schedule; after the last retry
    the subscription is canceled. Pending: the charge waits (manual gateway).
    """
    charge = lock_row(Charge.objects, charge)
    if charge.status not in (Charge.Status.SCHEDULED, Charge.Status.PENDING, Charge.Status.FAILED):
        raise ConflictError(
            _("This charge is already %(status)s.")
            % {"status": charge.get_status_display().lower()},
            {"charge": charge.pk, "status": charge.status},
        )
    subscription = _lock(charge.subscription_id)
    now = now or clock.now()
    if charge.status != Charge.Status.PENDING or result.status != Charge.Status.PAID:
        charge.attempts += 1
    if result.reference:
        charge.external_reference = result.reference[:100]
    if gateway:
        charge.gateway = gateway

    if result.status == Charge.Status.PENDING:
        charge.status = Charge.Status.PENDING
        charge.next_retry_at = None
        charge.save()
        return charge

    if result.status == Charge.Status.PAID:
        charge.status = Charge.Status.PAID
        charge.paid_at = now
        charge.next_retry_at = None
        charge.failure_reason = ""
        charge.save()
        from_status = subscription.status
        if subscription.status == Status.PENDING:
            subscription.activate()
            kind = Kind.ACTIVATED
        elif subscription.status == Status.PAST_DUE:
            subscription.recover()
            kind = Kind.RECOVERED
        else:
            kind = Kind.RENEWED
        if charge.cycle == subscription.next_cycle or subscription.current_cycle is None:
            _advance(subscription, charge)
        _save(subscription)
        # Its box may ship now (fulfillment's receiver, in this transaction).
        charge_settled.send(sender=Subscription, subscription_id=subscription.pk)
        _record(
            subscription,
            kind,
            actor,
            from_status=from_status,
            data={
                "charge": charge.pk,
                "cycle": charge.cycle,
                "amount": str(charge.amount),
                "next_charge_at": _iso(subscription.next_charge_at),
            },
        )
        return charge

    # Failed
    charge.status = Charge.Status.FAILED
    charge.failure_reason = (result.failure_reason or _("Payment failed."))[:500]
    charge.first_failed_at = charge.first_failed_at or now
    days = list(retry_days) if retry_days is not None else _retry_days(charge.organization_id)
    charge.next_retry_at = schedule.retry_at(
        first_failed_at=charge.first_failed_at, attempts=charge.attempts, retry_days=days
    )
    charge.save()
    data = {
        "charge": charge.pk,
        "cycle": charge.cycle,
        "attempts": charge.attempts,
        "failure_reason": charge.failure_reason,
        "next_retry_at": _iso(charge.next_retry_at),
    }
    if charge.next_retry_at is None:
        subscription.cancel_reason = _("Payment failed after %(n)s attempts.") % {
            "n": charge.attempts
        }
        _end(subscription, "cancel", Kind.CANCELED, actor, subscription.cancel_reason, now)
        # _end voided the charge with the rest; it failed, and stays so.
        Charge.objects.filter(pk=charge.pk).update(status=Charge.Status.FAILED)
        charge.status = Charge.Status.FAILED
        return charge
    if subscription.status == Status.ACTIVE:
        from_status = subscription.status
        subscription.mark_past_due()
        _save(subscription)
        _record(subscription, Kind.PAST_DUE, actor, from_status=from_status, data=data)
    else:
        _record(subscription, Kind.CHARGE_FAILED, actor, data=data)
    return charge


def _refuse_shop_charge(charge: Charge) -> None:
    """A WooCommerce subscription's charges are the shop's: nobody records them here."""
    subscription = charge.subscription
    if not subscription.is_native:
        raise ConflictError(
            _("A WooCommerce charge is recorded by the shop, not here."),
            {"charge": charge.pk, "source": subscription.source},
        )


def charge_mark_paid(
    *, charge: Charge, actor: Actor, reference: str = "", now: datetime | None = None
) -> Charge:
    """Staff record a payment received outside any gateway (manual gateway).

    Refused (409) for a charge of a subscription the WooCommerce shop manages: the
    shop takes its payments and the sync records them.
    """
    _refuse_shop_charge(charge)
    return charge_apply_result(
        charge=charge,
        result=ChargeResult(Charge.Status.PAID, reference=reference),
        actor=actor,
        now=now,
    )


def charge_mark_failed(
    *, charge: Charge, actor: Actor, reason: str, now: datetime | None = None
) -> Charge:
    """Staff record that a payment outside any gateway failed; refused like `charge_mark_paid`."""
    _refuse_shop_charge(charge)
    return charge_apply_result(
        charge=charge,
        result=ChargeResult(Charge.Status.FAILED, failure_reason=reason),
        actor=actor,
        now=now,
    )


# --- Refunds and credits (after-sales) --------------------------------------


def positive_amount(amount: Any) -> Decimal:
    """`amount` as money (cents), or a 400 on the `amount` field."""
    if amount is None or amount == "":
        raise _invalid("amount", _("Enter an amount."))
    try:
        value = Decimal(str(amount)).quantize(CENT)
    except (ArithmeticError, ValueError, TypeError):
        raise _invalid("amount", _("Enter an amount.")) from None
    if not value.is_finite() or value <= 0:
        raise _invalid("amount", _("The amount must be greater than zero."))
    if value >= MAX_AMOUNT:
        raise _invalid("amount", _("The amount is too large."))
    return value


@transaction.atomic
def charge_refund(*, charge: Charge, amount: Any, actor: Actor, reason: str = "") -> Charge:
    """Record a refund of `amount` against a paid charge of a native subscription.

    Several partial refunds may follow each other up to the amount paid; the
    charge becomes `refunded` when all of it is given back. The money itself
    goes back through the payment provider: neither the manual nor the test
    gateway has a refund call, so this is the record staff and the books read.
    """
    amount = positive_amount(amount)
    charge = lock_row(Charge.objects, charge)
    subscription = _lock(charge.subscription_id)
    if not subscription.is_native:
        raise ConflictError(
            _("This charge was taken by WooCommerce: refund it in the shop."),
            {"source": subscription.source},
        )
    if charge.status != Charge.Status.PAID:
        raise ConflictError(
            _("Only a paid charge can be refunded; this one is %(status)s.")
            % {"status": charge.get_status_display().lower()},
            {"charge": charge.pk, "status": charge.status},
        )
    if amount > charge.refundable:
        raise _invalid(
            "amount",
            _("At most %(amount)s %(currency)s of this charge can still be refunded.")
            % {"amount": _amount(charge.refundable), "currency": charge.currency},
        )
    charge.refunded_amount += amount
    if charge.refunded_amount == charge.amount:
        charge.status = Charge.Status.REFUNDED
    charge.save(update_fields=["refunded_amount", "status", "updated_at"])
    _record(
        subscription,
        Kind.CHARGE_REFUNDED,
        actor,
        reason=reason,
        data={
            "charge": charge.pk,
            "cycle": charge.cycle,
            "amount": str(amount),
            "refunded": str(charge.refunded_amount),
        },
    )
    return charge


@transaction.atomic
def subscription_credit(
    *, subscription: Subscription, amount: Any, actor: Actor, reason: str = ""
) -> Subscription:
    """Grant a credit the next charge deducts (what is left over, the one after).

    Carried in `adjustment` with the pro-rata differences; the renewal run
    takes it off the next cycle's charge, never below zero.
    """
    amount = positive_amount(amount)
    subscription = _lock(subscription)
    if not subscription.is_native:
        raise ConflictError(
            _(
                "This subscription is charged by WooCommerce: a credit here would never be "
                "deducted. Refund in the shop or give a coupon there."
            ),
            {"source": subscription.source},
        )
    if subscription.status in (Status.CANCELED, Status.EXPIRED):
        raise ConflictError(
            _("This subscription is %(status)s: no next charge will deduct a credit.")
            % {"status": subscription.get_status_display().lower()},
            {"status": subscription.status},
        )
    subscription.adjustment -= amount
    Subscription.objects.filter(pk=subscription.pk).update(
        adjustment=subscription.adjustment, updated_at=clock.now()
    )
    _record(
        subscription,
        Kind.CREDIT_GRANTED,
        actor,
        reason=reason,
        data={"amount": str(amount), "adjustment": str(subscription.adjustment)},
    )
    return subscription


# --- Mirror of a shop's subscription (WooCommerce) ---------------------------

_MIRROR_STATUS_KINDS = {
    (Status.PAUSED, Status.ACTIVE): Kind.RESUMED,
    (Status.PAST_DUE, Status.ACTIVE): Kind.RECOVERED,
    (None, Status.ACTIVE): Kind.ACTIVATED,
    (None, Status.PAUSED): Kind.PAUSED,
    (None, Status.PAST_DUE): Kind.PAST_DUE,
    (None, Status.CANCELED): Kind.CANCELED,
    (None, Status.EXPIRED): Kind.EXPIRED,
}
_SCHEDULE_FIELDS = ("billing_period", "billing_interval")
# What a mirror may write: every column but the key (the changed ones only are written).
_CONCRETE_FIELDS = [
    f for f in Subscription._meta.concrete_fields if not f.primary_key and f.name != "updated_at"
]
# Told by an event of their own, or bookkeeping of the schedule (where cycles are counted from).
_UNTOLD_FIELDS = ("cancel_at_period_end", "shipping_address", "billing_anchor", "anchor_cycle")


def _mirror_status_kind(from_status: str, to_status: str) -> str:
    return (
        _MIRROR_STATUS_KINDS.get((from_status, to_status))
        or _MIRROR_STATUS_KINDS.get((None, to_status))
        or Kind.UPDATED
    )


def _item_key(item: dict[str, Any]) -> tuple:
    return (
        item["product_id"],
        item.get("variant_id") or 0,
        int(item["quantity"]),
        Decimal(item["unit_price"]).quantize(CENT),
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "pk"):
        return value.pk
    return value


def subscription_mirror(*, locked: bool = False, **kwargs: Any) -> tuple[Subscription, bool]:
    """`_subscription_mirror` in a transaction. `locked`: the caller read `subscription` with
    its row lock inside its own transaction, so it is neither read again nor given a
    savepoint (a failure fails the caller's transaction, which is what it wants)."""
    with transaction.atomic(savepoint=not locked):
        return _subscription_mirror(locked=locked, **kwargs)


def _subscription_mirror(
    *,
    locked: bool,
    organization: Organization,
    subscription: Subscription | None,
    customer: Customer,
    status: str,
    fields: dict[str, Any],
    items: Sequence[dict[str, Any]],
    actor: Actor,
    reason: str = "",
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[Subscription, bool]:
    """Create or update a shop-charged subscription so it matches what the shop reports.

    The shop is the source of truth for these subscriptions: any status may
    follow any other (webhooks skip intermediate states), and no lifecycle
    rule of native subscriptions applies. Each difference writes one event
    (status, cancellation at period end, items, schedule, other fields) with
    `actor`; a call that changes nothing writes nothing. Returns the
    subscription and whether it changed. Each item names its `product` and,
    for a product sold by variant, its `variant` (a row or an id; the caller
    maps it and knows its product).
    """
    data = data or {}
    now = now or clock.now()
    items = [
        {
            "product_id": i["product"].pk if isinstance(i["product"], Product) else i["product"],
            "variant_id": getattr(i.get("variant"), "pk", i.get("variant")),
            "quantity": i["quantity"],
            "unit_price": i["unit_price"],
        }
        for i in items
    ]
    created = subscription is None
    if created:
        subscription = Subscription(
            organization=organization,
            customer=customer,
            source=Subscription.Source.WOOCOMMERCE,
            **fields,
        )
        if subscription.billing_anchor is None:
            subscription.billing_anchor = subscription.started_at
        subscription.save()
        _replace_items(subscription, items, new=True)
        _record(
            subscription,
            Kind.CREATED,
            actor,
            from_status="",
            data={**data, "items": _items_snapshot(subscription)},
        )
        before_status, changed_fields = Status.PENDING, []
        before_address = subscription.shipping_address_id
        before_items = after_items = None
        before_cancel = False
        before_reason = subscription.cancel_reason
    else:
        if not locked:
            subscription = _lock(subscription)
        if subscription.source != Subscription.Source.WOOCOMMERCE:
            raise ConflictError(_("This subscription is not managed by the shop."))
        columns = {f.attname: getattr(subscription, f.attname) for f in _CONCRETE_FIELDS}
        before_status = subscription.status
        before_address = subscription.shipping_address_id
        before_cancel = subscription.cancel_at_period_end
        before_reason = subscription.cancel_reason
        changed_fields = []
        fields = {**fields, "customer": customer}
        for name, value in fields.items():
            field = Subscription._meta.get_field(name)
            current = getattr(subscription, field.attname if field.is_relation else name)
            new = value.pk if field.is_relation and value is not None else value
            if current != new:
                changed_fields.append(name)
                setattr(subscription, name, value)
        current = list(
            subscription.items.select_related("product", "variant__product").order_by("id")
        )
        before_items = sorted(
            _item_key(
                {
                    "product_id": i.product_id,
                    "variant_id": i.variant_id,
                    "quantity": i.quantity,
                    "unit_price": i.unit_price,
                }
            )
            for i in current
        )
        after_items = sorted(_item_key(i) for i in items)

    if status != subscription.status:
        subscription.mirror(status)
        if status == Status.PAUSED:
            subscription.paused_at = subscription.paused_at or now
        elif before_status == Status.PAUSED:
            subscription.paused_at = None
        if status in (Status.CANCELED, Status.EXPIRED):
            subscription.ended_at = subscription.ended_at or now
            if status == Status.CANCELED:
                subscription.canceled_at = subscription.canceled_at or now
    if status == Status.CANCELED and reason and subscription.cancel_reason != reason:
        subscription.cancel_reason = reason[:500]
    changed = (
        created
        or bool(changed_fields)
        or subscription.status != before_status
        or subscription.cancel_reason != before_reason
    )
    if changed and created:
        _save(subscription)
    elif changed:  # only the columns that changed (the status's own check still applies)
        dirty = [
            f.name
            for f in _CONCRETE_FIELDS
            if getattr(subscription, f.attname) != columns[f.attname]
        ]
        _save(subscription, update_fields=[*dirty, "updated_at"])
    if not created and before_items != after_items:
        before_snapshot = _snapshot_of(current)
        after = _replace_items(subscription, items)
        _attach_products(after, current)
        _record(
            subscription,
            Kind.ITEMS_CHANGED,
            actor,
            data={**data, "before": before_snapshot, "after": _snapshot_of(after)},
        )
        changed = True
    # Fields that change with the status (end dates, next charge) are told in
    # the status event; other changes alone make one "updated" event.
    other = {
        f: _json_value(getattr(subscription, f))
        for f in changed_fields
        if f not in _SCHEDULE_FIELDS and f not in _UNTOLD_FIELDS
    }
    if subscription.shipping_address_id != before_address:
        _record_address_change(subscription, before_address, actor, data=data)
    status_changed = subscription.status != before_status
    cancel_changed = subscription.cancel_at_period_end != before_cancel
    if status_changed:
        _record(
            subscription,
            _mirror_status_kind(before_status, subscription.status),
            actor,
            from_status=before_status,
            reason=reason,
            data={**data, "fields": other} if other else data,
        )
    if cancel_changed:
        kind = Kind.CANCEL_SCHEDULED if subscription.cancel_at_period_end else Kind.CANCEL_WITHDRAWN
        event_data = {**data, "at": _iso(subscription.next_charge_at)}
        if other and not status_changed:
            event_data["fields"] = other
        _record(subscription, kind, actor, data=event_data)
    if any(f in _SCHEDULE_FIELDS for f in changed_fields):
        _record(
            subscription,
            Kind.SCHEDULE_CHANGED,
            actor,
            data={
                **data,
                "billing_period": subscription.billing_period,
                "billing_interval": subscription.billing_interval,
            },
        )
    if other and not (status_changed or cancel_changed):
        _record(subscription, Kind.UPDATED, actor, data={**data, "fields": other})
    return subscription, changed


@dataclass
class NewMirror:
    """One shop subscription the CRM does not have yet, as `subscription_mirror` takes it."""

    customer: Customer
    status: str
    fields: dict[str, Any]
    items: Sequence[dict[str, Any]]
    reason: str = ""
    data: dict[str, Any] | None = None


def subscriptions_mirror_new(
    *,
    organization: Organization,
    new: Sequence[NewMirror],
    actor: Actor,
    now: datetime | None = None,
) -> list[Subscription]:
    """Create shop-charged subscriptions in bulk, each with the rows and events that
    `subscription_mirror(subscription=None, ...)` writes for it (a reconciliation's first
    import, issue 26): the subscription, its items, the "created" event (from pending,
    with the items), the status event when the shop's status is not pending, the
    cancellation at period end when scheduled. Five statements at any number: the
    items' products and variants (read for the events' snapshots), the subscriptions,
    the items, the events. Runs in the caller's transaction."""
    now = now or clock.now()
    subscriptions = []
    for row in new:
        subscription = Subscription(
            organization=organization,
            customer=row.customer,
            source=Subscription.Source.WOOCOMMERCE,
            **row.fields,
        )
        if subscription.billing_anchor is None:
            subscription.billing_anchor = subscription.started_at
        if row.status != subscription.status:  # as `_subscription_mirror`, from pending
            subscription.mirror(row.status)
            if row.status == Status.PAUSED:
                subscription.paused_at = subscription.paused_at or now
            if row.status in (Status.CANCELED, Status.EXPIRED):
                subscription.ended_at = subscription.ended_at or now
                if row.status == Status.CANCELED:
                    subscription.canceled_at = subscription.canceled_at or now
        if row.status == Status.CANCELED and row.reason:
            subscription.cancel_reason = row.reason[:500]
        subscriptions.append(subscription)
    if not subscriptions:
        return []
    items = [
        {
            "product_id": i["product"].pk if isinstance(i["product"], Product) else i["product"],
            "variant_id": getattr(i.get("variant"), "pk", i.get("variant")),
            "quantity": i["quantity"],
            "unit_price": i["unit_price"],
        }
        for row in new
        for i in row.items
    ]
    products = Product.objects.in_bulk({i["product_id"] for i in items})
    variants = Variant.objects.select_related("product").in_bulk(
        {i["variant_id"] for i in items if i["variant_id"]}
    )
    Subscription.objects.bulk_create(subscriptions)
    rows = []
    for subscription, row in zip(subscriptions, new, strict=True):
        for values in row.items:
            item = SubscriptionItem(
                organization_id=organization.pk,
                subscription=subscription,
                product_id=values["product"].pk
                if isinstance(values["product"], Product)
                else values["product"],
                variant_id=getattr(values.get("variant"), "pk", values.get("variant")),
                quantity=values["quantity"],
                unit_price=values["unit_price"],
            )
            item.product = products[item.product_id]
            if item.variant_id:
                item.variant = variants[item.variant_id]
            rows.append((subscription, item))
    SubscriptionItem.objects.bulk_create([item for _, item in rows])
    events = []
    fields = actor.as_fields()
    for subscription, row in zip(subscriptions, new, strict=True):
        data = row.data or {}
        snapshot = _snapshot_of(item for owner, item in rows if owner is subscription)

        def event(
            kind: str,
            from_status: str,
            to_status: str,
            reason: str = "",
            *,
            subscription: Subscription = subscription,
            data: dict[str, Any] = data,
            **extra: Any,
        ) -> SubscriptionEvent:
            return SubscriptionEvent(
                organization_id=organization.pk,
                subscription=subscription,
                kind=kind,
                from_status=from_status,
                to_status=to_status,
                reason=reason[:500],
                data={**data, **extra},
                **fields,
            )

        events.append(event(Kind.CREATED, "", Status.PENDING, items=snapshot))
        if subscription.status != Status.PENDING:
            kind = _mirror_status_kind(Status.PENDING, subscription.status)
            events.append(event(kind, Status.PENDING, subscription.status, row.reason))
        if subscription.cancel_at_period_end:
            events.append(
                event(
                    Kind.CANCEL_SCHEDULED,
                    subscription.status,
                    subscription.status,
                    at=_iso(subscription.next_charge_at),
                )
            )
    SubscriptionEvent.objects.bulk_create(events)
    return subscriptions


# --- Staff notes ---------------------------------------------------------------------------


def subscription_note_add(
    *, subscription: Subscription, text: str, actor: Actor
) -> SubscriptionNote:
    """Write a staff note on `subscription` (its page and its customer's list them)."""
    return SubscriptionNote.objects.create(
        organization_id=subscription.organization_id,
        subscription=subscription,
        text=note_text(text),
        **actor.as_fields(),
    )


# --- Delivery schedule: a given cycle skipped or brought back, the next date moved -----------

#: A cycle may be skipped up to this many cycles after the schedule's next one.
SKIP_HORIZON = 104
#: The next charge date may be moved at most this far ahead.
MOVE_HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class CycleFacts:
    """What the rules of a cycle read besides the subscription row (one cycle's charge and
    line); the schedule selector reads them for every row at once."""

    cycle: int
    starts_at: datetime
    charge_status: str | None = None  # its charge, unless voided
    locked_batch_date: date | None = None  # a batch line holds it: that batch's cycle date


def due_cycle(subscription: Subscription, now: datetime) -> int:
    """The next cycle that will be charged: the schedule's next one; paused, the first
    one after the resume date (with none, the first a resume now would charge)."""
    if subscription.status == Status.PAUSED:
        return subscription.resuming_cycle(subscription.resume_at or now)
    return subscription.next_cycle


def _schedule_conflict(message: str, action: str, cycle: int | None = None) -> ConflictError:
    extra: dict[str, Any] = {"action": action}
    if cycle is not None:
        extra["cycle"] = cycle
    return ConflictError(message, extra)


def cycle_refusal(
    subscription: Subscription, facts: CycleFacts, action: str, *, now: datetime
) -> ConflictError | None:
    """Why `action` ("skip_cycle" or "unskip_cycle") is refused on a cycle, or None.

    The rules beyond the status (README, "Rules where actions meet"): only a future
    cycle; not one already charged or held by a locked batch; not one inside a pause
    (nor, paused with no resume date, any: the first cycle after it is not known); not
    after a fixed term's end nor with the subscription ending with its paid period.
    """
    cycle, starts_at = facts.cycle, facts.starts_at
    skipped = cycle in subscription.skipped_cycles
    if action == "skip_cycle" and skipped:
        return _schedule_conflict(_("This cycle is already skipped."), action, cycle)
    if action == "unskip_cycle" and not skipped:
        return _schedule_conflict(_("This cycle is not skipped."), action, cycle)
    if cycle < subscription.anchor_cycle:
        return _schedule_conflict(
            _("This cycle belongs to the schedule before its last change or move."),
            action,
            cycle,
        )
    if starts_at <= now:
        return _schedule_conflict(
            _("The cycle of %(date)s has passed: it can no longer be changed.")
            % {"date": _date(starts_at, subscription)},
            action,
            cycle,
        )
    if subscription.cancel_at_period_end:
        return _schedule_conflict(
            _(
                "The subscription ends with its paid period: no later cycle is charged. "
                "Withdraw the cancellation first."
            ),
            action,
            cycle,
        )
    if not schedule.in_term(cycle_starts_at=starts_at, ends_at=subscription.ends_at):
        return _schedule_conflict(
            _("The cycle of %(date)s falls after the end of the fixed term.")
            % {"date": _date(starts_at, subscription)},
            action,
            cycle,
        )
    if subscription.current_period_end is not None and starts_at < subscription.current_period_end:
        return _schedule_conflict(
            _("The cycle of %(date)s falls inside the paid period: it can no longer be changed.")
            % {"date": _date(starts_at, subscription)},
            action,
            cycle,
        )
    if facts.charge_status is not None:
        return _schedule_conflict(
            _("The cycle of %(date)s is already charged (%(status)s): it cannot be changed.")
            % {
                "date": _date(starts_at, subscription),
                "status": Charge.Status(facts.charge_status).label.lower(),
            },
            action,
            cycle,
        )
    if facts.locked_batch_date is not None:
        return _schedule_conflict(
            _("The cycle of %(date)s is already in the locked batch of %(batch)s.")
            % {
                "date": _date(starts_at, subscription),
                "batch": formats.date_format(facts.locked_batch_date, "SHORT_DATE_FORMAT"),
            },
            action,
            cycle,
        )
    if subscription.status == Status.PAUSED:
        if subscription.resume_at is None and action == "skip_cycle":
            return _schedule_conflict(
                _(
                    "The subscription is paused with no resume date: the first cycle after "
                    "the pause is not known yet. Give the pause a resume date, or skip once "
                    "it has resumed."
                ),
                action,
                cycle,
            )
        if subscription.resume_at is not None and starts_at < subscription.resume_at:
            return _schedule_conflict(
                _(
                    "The cycle of %(date)s falls inside the pause (until %(resume)s): it is "
                    "not charged anyway."
                )
                % {
                    "date": _date(starts_at, subscription),
                    "resume": _date(subscription.resume_at, subscription),
                },
                action,
                cycle,
            )
    if action == "skip_cycle":
        due = due_cycle(subscription, now)
        if cycle < due:
            return _schedule_conflict(
                _("The cycle of %(date)s was passed over by a pause: it is not charged anyway.")
                % {"date": _date(starts_at, subscription)},
                action,
                cycle,
            )
        if cycle > subscription.next_cycle + SKIP_HORIZON:
            return _schedule_conflict(
                _("Only the next %(n)s cycles can be skipped.") % {"n": SKIP_HORIZON},
                action,
                cycle,
            )
    return None


def _date(value: datetime, subscription: Subscription) -> str:
    """A cycle's date in a message, in the organization's time zone."""
    local = timezone.localtime(value, subscription.organization.tzinfo)
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def cycle_facts(subscription: Subscription, cycle: int) -> CycleFacts:
    charge = (
        subscription.charges.filter(cycle=cycle)
        .exclude(status=Charge.Status.VOIDED)
        .values_list("status", flat=True)
        .first()
    )
    locked = cycles.calendar().locked_cycles(
        organization_id=subscription.organization_id,
        subscription_id=subscription.pk,
        cycles=[cycle],
    )
    return CycleFacts(cycle, subscription.cycle_start(cycle), charge, locked.get(cycle))


def _cycle_of(subscription: Subscription, cycle: Any, on: Any, action: str) -> int:
    """The cycle an action names: its number, or the local date it starts on."""
    if (cycle is None) == (on is None):
        raise _invalid("cycle", _("Give either a cycle number or a date."))
    if cycle is not None:
        if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle < 0:
            raise _invalid("cycle", _("A cycle is a whole number from 0."))
        if cycle > subscription.next_cycle + SKIP_HORIZON:
            raise _schedule_conflict(
                _("Only the next %(n)s cycles can be skipped.") % {"n": SKIP_HORIZON},
                action,
                cycle,
            )
        return cycle
    if not isinstance(on, date) or isinstance(on, datetime):
        raise _invalid("date", _("Enter a date."))
    tz = subscription.organization.tzinfo
    for number in range(
        max(subscription.anchor_cycle, subscription.next_cycle - SKIP_HORIZON),
        subscription.next_cycle + SKIP_HORIZON + 1,
    ):
        local = timezone.localtime(subscription.cycle_start(number), tz).date()
        if local == on:
            return number
        if local > on:
            break
    raise _schedule_conflict(
        _("No cycle of this subscription falls on %(date)s.")
        % {"date": formats.date_format(on, "SHORT_DATE_FORMAT")},
        action,
    )


def _require_native_schedule(subscription: Subscription, action: str) -> None:
    if subscription.next_charge_at is None and subscription.status != Status.PAUSED:
        raise _schedule_conflict(_("There is no next cycle to change."), action)


def _record_cycle_event(subscription, kind, actor, reason, number, facts) -> None:
    """A skip or unskip of one given cycle in the history: which cycle, and the next charge."""
    _record(
        subscription,
        kind,
        actor,
        reason=reason,
        data={
            "cycle": number,
            "cycle_date": _iso(facts.starts_at),
            "next_charge_at": _iso(subscription.next_due_at),
        },
    )


@transaction.atomic
def subscription_skip_cycle(
    *,
    subscription: Subscription,
    actor: Actor,
    cycle: int | None = None,
    on: date | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Neither charge nor ship one given future cycle (by number, or the date it starts).

    The rules are `cycle_refusal`'s. Skipping the next cycle that will be charged moves
    the schedule's next past it (paused, as `subscription_skip` does: the cycles before it
    fall in the pause); skipping a later one only records it. The dates do not move.
    """
    subscription = _lock(subscription)
    _allow(subscription, "skip_cycle", actor)
    _require_native_schedule(subscription, "skip_cycle")
    number = _cycle_of(subscription, cycle, on, "skip_cycle")
    now = now or clock.now()
    facts = cycle_facts(subscription, number)
    refusal = cycle_refusal(subscription, facts, "skip_cycle", now=now)
    if refusal is not None:
        raise refusal
    moves_next = number == due_cycle(subscription, now)
    subscription.skip_cycle()
    subscription.skipped_cycles = sorted({*subscription.skipped_cycles, number})
    if moves_next:
        _set_next_cycle(
            subscription, schedule.next_cycle(after=number, skipped=subscription.skipped_cycles)
        )
    _save(subscription)
    _record_cycle_event(subscription, Kind.SKIPPED, actor, reason, number, facts)
    return subscription


@transaction.atomic
def subscription_unskip_cycle(
    *,
    subscription: Subscription,
    actor: Actor,
    cycle: int | None = None,
    on: date | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Charge and ship again a skipped future cycle.

    Before the schedule's next cycle, it becomes the next one (charged on its date).
    """
    subscription = _lock(subscription)
    _allow(subscription, "unskip_cycle", actor)
    number = _cycle_of(subscription, cycle, on, "unskip_cycle")
    now = now or clock.now()
    facts = cycle_facts(subscription, number)
    refusal = cycle_refusal(subscription, facts, "unskip_cycle", now=now)
    if refusal is not None:
        raise refusal
    subscription.unskip_cycle()
    subscription.skipped_cycles = [c for c in subscription.skipped_cycles if c != number]
    if number < subscription.next_cycle:
        _refuse_if_next_cycle_charging(subscription, "unskip_cycle")
        _set_next_cycle(subscription, number)
    _save(subscription)
    _record_cycle_event(subscription, Kind.UNSKIPPED, actor, reason, number, facts)
    return subscription


@transaction.atomic
def subscription_move_next_date(
    *,
    subscription: Subscription,
    actor: Actor,
    at: datetime,
    reason: str = "",
    now: datetime | None = None,
) -> Subscription:
    """Charge (and ship) the next cycle at `at`; the cycles after it follow at the same
    interval from there (the schedule is re-anchored at `at`, as a change of schedule is).

    Active subscriptions only (paused: the resume date decides). `at` is in the future,
    not before the end of the paid period (a paid box is not cut short, and a
    cancellation at its end comes before any next charge), at most a year ahead and
    before a fixed term's end. Refused while the next cycle's charge is under way or with a
    cancellation at period end scheduled. The days between the paid period's end and a
    later date are not charged; a skipped later cycle stays skipped, at its new date.
    """
    subscription = _lock(subscription)
    _allow(subscription, "move_next_date", actor)
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise _invalid("at", _("Enter a date and time."))
    if subscription.next_charge_at is None:
        raise _schedule_conflict(_("There is no next charge to move."), "move_next_date")
    if subscription.cancel_at_period_end:
        raise _schedule_conflict(
            _(
                "The subscription ends with its paid period: there is no next charge to "
                "move. Withdraw the cancellation first."
            ),
            "move_next_date",
        )
    _refuse_if_next_cycle_charging(subscription, "move_next_date")
    now = now or clock.now()

    def refuse(message: str) -> ConflictError:
        return ConflictError(message, {"action": "move_next_date", "fields": {"at": [message]}})

    earliest = max(now, subscription.current_period_end or now)
    if at <= now:
        raise refuse(_("The next charge date must be in the future."))
    if at < earliest:
        raise refuse(
            _("The next charge date cannot be before the end of the paid period (%(date)s).")
            % {"date": _date(earliest, subscription)}
        )
    if at > now + MOVE_HORIZON:
        raise refuse(_("The next charge date can be moved at most a year ahead."))
    if subscription.ends_at is not None and at >= subscription.ends_at:
        raise refuse(
            _("The next charge date must be before the end of the fixed term (%(date)s).")
            % {"date": _date(subscription.ends_at, subscription)}
        )
    if at == subscription.next_charge_at:
        raise refuse(_("This is already the next charge date."))
    before = subscription.next_charge_at
    subscription.move_next_date()
    subscription.billing_anchor = at
    subscription.anchor_cycle = subscription.next_cycle
    _set_next_cycle(subscription, subscription.next_cycle)
    _save(subscription)
    _record(
        subscription,
        Kind.NEXT_DATE_MOVED,
        actor,
        reason=reason,
        data={
            "cycle": subscription.next_cycle,
            "from": _iso(before),
            "next_charge_at": _iso(subscription.next_charge_at),
        },
    )
    return subscription


# --- Charge now (the delivery schedule, issue 25) -------------------------------------------


@transaction.atomic
def subscription_charge_now(
    *, subscription: Subscription, actor: Actor, now: datetime | None = None
) -> Charge:
    """Charge the next cycle now, through the gateway, as the renewal run would at its date.

    The cycle keeps its dates: it is paid ahead and ships with its batch, as if charged on
    its date; the schedule does not move. A failed charge of that cycle is retried now
    (its dunning schedule counts from its first failure). The answer is the gateway's, as
    for a renewal: paid, pending (manual gateway) or failed (the subscription goes past
    due). Refused (409, nothing changed) for a shop's subscription, one that is not active,
    pending or past due, one ending with its paid period, when no cycle is left to charge,
    when a cycle is already paid ahead (one at most), and when that cycle's charge exists
    and is not failed (under way or paid).
    """
    from subscriptions import renewals  # renewals reads this module

    subscription = _lock(subscription)
    if not subscription.is_native:
        raise ConflictError(
            _(
                "This subscription is managed by WooCommerce: the shop charges it, not "
                "this back office."
            ),
            {"source": subscription.source, "action": "charge_now"},
        )
    if subscription.status not in (Status.PENDING, Status.ACTIVE, Status.PAST_DUE):
        raise _schedule_conflict(
            _("Cannot charge now: the subscription is %(status)s.")
            % {"status": subscription.get_status_display().lower()},
            "charge_now",
        )
    if subscription.cancel_at_period_end:
        raise _schedule_conflict(
            _(
                "The subscription ends with its paid period: nothing more is due. Withdraw "
                "the cancellation first."
            ),
            "charge_now",
        )
    cycle = subscription.next_cycle
    if subscription.next_charge_at is None or not schedule.in_term(
        cycle_starts_at=subscription.cycle_start(cycle), ends_at=subscription.ends_at
    ):
        raise _schedule_conflict(
            _("Nothing is due: there is no next cycle to charge."), "charge_now"
        )
    now = now or clock.now()
    if subscription.current_period_start is not None and subscription.current_period_start > now:
        # One cycle paid ahead at most: the next one waits until that one has begun.
        raise _schedule_conflict(
            _(
                "The cycle of %(date)s is already paid ahead: the next one can be charged "
                "once it has begun."
            )
            % {"date": _date(subscription.current_period_start, subscription)},
            "charge_now",
            cycle,
        )
    # Any charge of the cycle, voided included: the renewal run would not charge it again.
    charge = subscription.charges.filter(cycle=cycle).first()
    if charge is not None and charge.status != Charge.Status.FAILED:
        raise _schedule_conflict(
            _("The cycle of %(date)s is already charged (%(status)s).")
            % {
                "date": _date(subscription.cycle_start(cycle), subscription),
                "status": charge.get_status_display().lower(),
            },
            "charge_now",
            cycle,
        )
    charge = renewals.charge_cycle_now(
        subscription=subscription,
        actor=actor,
        as_of=max(now, subscription.next_charge_at),
        now=now,
    )
    if charge is None:
        raise _schedule_conflict(
            _("The payment gateway could not be reached: nothing was charged. Try again later."),
            "charge_now",
            cycle,
        )
    return charge


# --- Bulk actions (the subscription list, issue 25) -----------------------------------------


@dataclass
class SubscriptionBulkReport:
    """What a bulk action did: the ids done, and each refused id with why."""

    done: list[int]
    refused: dict[int, str]


#: The bulk actions, by their API names (the admin runs the same).
BULK_ACTIONS = ("pause", "skip", "swap", "move-next-date")
#: At most this many subscriptions in one bulk action (the API's bound too: 400 beyond).
BULK_MAX = 500


def refusal_text(error: ApplicationError) -> str:
    """A service's refusal as one sentence: its field messages, or else its message."""
    fields = error.extra.get("fields") or {}
    found = [str(message) for messages_ in fields.values() for message in messages_]
    return " ".join(found) or error.message


@dataclass(frozen=True)
class Swap:
    """Replace what a subscription holds of `old` (a variant, or any variant of a product)
    by `new` (a simple product, or a variant of a product sold by variant)."""

    old_product: Product | None
    old_variant: Variant | None
    new_product: Product
    new_variant: Variant | None

    def matches(self, item: SubscriptionItem) -> bool:
        if self.old_variant is not None:
            return item.variant_id == self.old_variant.pk
        return self.old_product is not None and item.product_id == self.old_product.pk

    @property
    def old_name(self) -> str:
        return str(self.old_variant or self.old_product)


def swap_for(
    *,
    organization: Organization,
    from_product: Product | int | None = None,
    from_variant: Variant | int | None = None,
    to_product: Product | int | None = None,
    to_variant: Variant | int | None = None,
) -> Swap:
    """The swap a bulk action applies, checked once for all the subscriptions: what it
    replaces (a variant, or a product with any of its variants) and by what (an active
    variant of the new product, or a simple product)."""
    if from_product is None and from_variant is None:
        raise _invalid("from_product", _("Choose the product or variant to replace."))
    old_variant = None
    if from_variant is not None:
        pk = from_variant.pk if isinstance(from_variant, Variant) else from_variant
        old_variant = (
            Variant.objects.filter(organization=organization, pk=pk)
            .select_related("product")
            .first()
        )
        if old_variant is None:
            raise _invalid("from_variant", _("Unknown variant."))
    old_product = old_variant.product if old_variant else None
    if old_variant is None:
        pk = from_product.pk if isinstance(from_product, Product) else from_product
        old_product = Product.objects.filter(organization=organization, pk=pk).first()
        if old_product is None:
            raise _invalid("from_product", _("Unknown product."))
    if to_product is None and to_variant is None:
        raise _invalid("to_product", _("Choose the product or variant to put in its place."))
    try:
        new_product, new_variant = _item_variant(
            organization, {"product": to_product, "variant": to_variant}, 1, set()
        )
    except ApplicationError as error:
        # "Item 1: ..." reads oddly here: say it of the replacement.
        message = _("The replacement: %(error)s") % {"error": refusal_text(error)}
        raise _invalid("to_variant" if to_variant is not None else "to_product", message) from error
    if (
        old_variant is not None and new_variant is not None and old_variant.pk == new_variant.pk
    ) or (old_variant is None and new_variant is None and old_product.pk == new_product.pk):
        raise _invalid("to_product", _("The replacement is what it replaces."))
    return Swap(old_product, old_variant, new_product, new_variant)


def _swapped_items(subscription: Subscription, swap: Swap) -> list[dict[str, Any]]:
    """The subscription's items (already read) with the swap applied: the swapped ones keep
    their quantity and take the new variant's (else product's) price, as a change of
    items does; the others are kept as they are."""
    items, swapped = [], False
    for item in subscription.items.all():
        if swap.matches(item):
            swapped = True
            items.append(
                {
                    "product": swap.new_product,
                    "variant": swap.new_variant,
                    "quantity": item.quantity,
                    "unit_price": None,
                }
            )
        else:
            items.append(
                {
                    "product": item.product,
                    "variant": item.variant,
                    "quantity": item.quantity,
                    "unit_price": item.unit_price,
                }
            )
    if not swapped:
        raise ConflictError(
            _("It holds no %(product)s.") % {"product": swap.old_name}, {"action": "swap"}
        )
    return items


def subscriptions_bulk(
    *,
    organization: Organization,
    action: str,
    ids: Iterable[int],
    actor: Actor,
    resume_at: datetime | None = None,
    at: datetime | None = None,
    from_product: Product | int | None = None,
    from_variant: Variant | int | None = None,
    to_product: Product | int | None = None,
    to_variant: Variant | int | None = None,
    reason: str = "",
) -> SubscriptionBulkReport:
    """One action on many subscriptions, each through its own service and transaction.

    `action`: "pause" (until `resume_at`, or until resumed by hand), "skip" (the next
    box), "swap" (`from_...` by `to_...`, checked once: `swap_for`) or "move-next-date"
    (to `at`). A refusal of
    one subscription (the service's reason) undoes nothing of the others. An id that is
    not one of the organization's subscriptions is reported as not found, never read
    further. The subscriptions are read once, with their items; each service then locks
    and re-reads its row (a bounded number of queries per subscription).
    """
    from subscriptions import selectors  # selectors read this module's rules

    if action not in BULK_ACTIONS:
        raise _invalid(
            "action", _("Choose one of: %(choices)s.") % {"choices": ", ".join(BULK_ACTIONS)}
        )
    ids = sorted(set(ids))
    if len(ids) > BULK_MAX:
        raise _invalid("ids", _("At most %(n)s subscriptions at once.") % {"n": BULK_MAX})
    swap = None
    if action == "swap":
        swap = swap_for(
            organization=organization,
            from_product=from_product,
            from_variant=from_variant,
            to_product=to_product,
            to_variant=to_variant,
        )
    if action == "move-next-date" and at is None:
        raise _invalid("at", _("Enter the new next charge date."))

    def run(subscription: Subscription) -> None:
        if action == "pause":
            subscription_pause(
                subscription=subscription, actor=actor, resume_at=resume_at, reason=reason
            )
        elif action == "skip":
            subscription_skip(subscription=subscription, actor=actor, reason=reason)
        elif action == "swap":
            subscription_change_items(
                subscription=subscription,
                actor=actor,
                items=_swapped_items(subscription, swap),
                reason=reason,
            )
        else:
            subscription_move_next_date(
                subscription=subscription, actor=actor, at=at, reason=reason
            )

    found = selectors.subscriptions_by_id(organization=organization, ids=ids)
    report = SubscriptionBulkReport(done=[], refused={})
    for pk in ids:
        subscription = found.get(pk)
        if subscription is None:
            report.refused[pk] = _("Not found.")
            continue
        try:
            run(subscription)
        except ApplicationError as error:
            report.refused[pk] = refusal_text(error)
        else:
            report.done.append(pk)
    return report
