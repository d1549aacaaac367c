"""Reads of the portal's schedule pages (portal/views/schedule.py): a subscription of the
signed-in customer, the delivery a date names, the boxes a change reaches, what a swap
may offer, and what the last box is when the subscription ends with its paid period.

The rules stay the services' (subscriptions.services.cycle_refusal...): these reads
only say, before the customer confirms, what the service would answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone

from core import clock
from crm.models import Organization, Product, Variant
from portal.models import PortalSettings
from subscriptions.models import BillingPeriod, Subscription
from subscriptions.selectors import (
    ScheduleBatch,
    ScheduleCycle,
    batch_finder,
    subscription_schedule,
)
from subscriptions.services import cycle_facts, cycle_refusal

#: The portal's actions on a subscription the product manages, and the setting allowing each.
ACTION_SETTINGS = {
    "skip": "allow_skip",
    "unskip": "allow_skip",
    "pause": "allow_pause",
    "resume": "allow_pause",
    "frequency": "allow_frequency",
    "swap": "allow_swap",
    "cancel": "allow_cancel",
}

#: The frequencies a subscriber may choose, as (period, interval): every week, two weeks,
#: four weeks, month, two months (the rhythms box subscriptions are sold at).
FREQUENCIES: tuple[tuple[str, int], ...] = (
    (BillingPeriod.WEEK, 1),
    (BillingPeriod.WEEK, 2),
    (BillingPeriod.WEEK, 4),
    (BillingPeriod.MONTH, 1),
    (BillingPeriod.MONTH, 2),
)


def action_allowed(settings: PortalSettings, action: str) -> bool:
    return bool(getattr(settings, ACTION_SETTINGS[action]))


def local_date(subscription: Subscription, at: datetime) -> date:
    return timezone.localtime(at, subscription.organization.tzinfo).date()


@dataclass(frozen=True)
class Delivery:
    """A future cycle of the subscription as the customer reads it: the date it is charged
    (`on`, the date in the portal's address), the box it ships in, and whether the action
    asked is possible (else the service's refusal)."""

    cycle: int
    starts_at: datetime
    on: date
    box: ScheduleBatch
    state: str
    amount: Decimal | None
    refusal: str = ""


def upcoming_deliveries(
    *, subscription: Subscription, now: datetime | None = None
) -> list[ScheduleCycle]:
    """The next deliveries, as staff's schedule table reads them (a fixed number of queries)."""
    return subscription_schedule(subscription=subscription, now=now)


def delivery_on(
    *, subscription: Subscription, on: date, action: str, now: datetime | None = None
) -> Delivery | None:
    """The upcoming delivery charged on the local date `on`, with why `action` ("skip_cycle"
    or "unskip_cycle") would be refused; None when no upcoming delivery falls on it."""
    now = now or clock.now()
    for row in subscription_schedule(subscription=subscription, now=now):
        if local_date(subscription, row.starts_at) != on:
            continue
        facts = cycle_facts(subscription, row.cycle)
        refusal = cycle_refusal(subscription, facts, action, now=now)
        return Delivery(
            cycle=row.cycle,
            starts_at=row.starts_at,
            on=on,
            box=row.batch,
            state=row.state,
            amount=row.amount,
            refusal=refusal.message if refusal is not None else "",
        )
    return None


def box_of(subscription: Subscription, starts_at: datetime) -> ScheduleBatch:
    """The box (batch) a cycle starting at `starts_at` ships in."""
    return batch_finder(subscription.organization, starts_at)(starts_at)


def next_delivery(subscription: Subscription, now: datetime | None = None) -> Delivery | None:
    """The next delivery that will be charged and shipped (paused: the first after the
    resume date); None when none is planned."""
    due = subscription.next_due()
    if due is None:
        return None
    cycle, starts_at = due
    return Delivery(
        cycle=cycle,
        starts_at=starts_at,
        on=local_date(subscription, starts_at),
        box=box_of(subscription, starts_at),
        state="due",
        amount=None,
    )


def first_delivery_after_pause(subscription: Subscription, resume_at: datetime) -> Delivery:
    """The delivery a pause until `resume_at` resumes with (as the resume will charge)."""
    cycle = subscription.resuming_cycle(resume_at)
    starts_at = subscription.cycle_start(cycle)
    return Delivery(
        cycle=cycle,
        starts_at=starts_at,
        on=local_date(subscription, starts_at),
        box=box_of(subscription, starts_at),
        state="due",
        amount=None,
    )


@dataclass(frozen=True)
class LastBox:
    """What a cancellation at the end of the paid period leaves: the paid period's end and
    the box of the last cycle inside it (None when no cycle is paid)."""

    ends_at: datetime | None
    ends_on: date | None  # its local date
    box: ScheduleBatch | None
    shipped: bool  # that box has left already (its shipping date has passed)


def last_box(*, subscription: Subscription, now: datetime | None = None) -> LastBox:
    now = now or clock.now()
    ends_at = subscription.current_period_end
    ends_on = local_date(subscription, ends_at) if ends_at else None
    if subscription.current_cycle is None or ends_at is None:
        return LastBox(ends_at=ends_at, ends_on=ends_on, box=None, shipped=False)
    starts_at = subscription.cycle_start(subscription.current_cycle)
    box = box_of(subscription, starts_at)
    return LastBox(
        ends_at=ends_at,
        ends_on=ends_on,
        box=box,
        shipped=box.ships_on < local_date(subscription, now),
    )


@dataclass(frozen=True)
class SwapChoice:
    """A product or variant a subscriber may put in their box, and its price."""

    key: str  # "p<product id>" or "v<variant id>"
    product: Product
    variant: Variant | None
    unit_price: Decimal

    @property
    def name(self) -> str:
        return self.variant.name if self.variant is not None else self.product.name


def swap_choices(*, organization: Organization) -> list[SwapChoice]:
    """The organization's active simple products and the active variants of its active
    products sold by variant (two queries)."""
    products = list(
        Product.objects.filter(organization=organization, active=True)
        .prefetch_related(
            Prefetch(
                "variants",
                queryset=Variant.objects.filter(active=True).order_by("position", "id"),
                to_attr="active_variants",
            ),
        )
        .order_by("name", "id")
    )
    sold_by_variant = set(
        Variant.objects.filter(organization=organization, product__in=products).values_list(
            "product_id", flat=True
        )
    )
    choices = []
    for product in products:
        if product.pk not in sold_by_variant:
            choices.append(SwapChoice(f"p{product.pk}", product, None, product.unit_price))
            continue
        choices.extend(
            SwapChoice(f"v{variant.pk}", product, variant, variant.unit_price)
            for variant in product.active_variants
        )
    return choices
