"""Reads of subscriptions, always scoped to one organization."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet
from django_fsm import can_proceed

from core import clock, cycles
from crm.api.filters import filtered
from crm.models import Organization
from subscriptions.api.filters import SubscriptionFilter
from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem


def items_prefetch() -> Prefetch:
    """A subscription's items with their product and variant, in order (one query)."""
    return Prefetch(
        "items",
        queryset=SubscriptionItem.objects.select_related("product", "variant__product").order_by(
            "id"
        ),
    )


def subscription_list(
    *, organization: Organization, filters: Mapping[str, Any] | None = None
) -> QuerySet[Subscription]:
    """The organization's subscriptions with their customer and items (constant queries).

    `filters` are the list's query parameters (see `SubscriptionFilter`); an
    invalid one is refused (400) rather than silently ignored.
    """
    queryset = (
        Subscription.objects.for_organization(organization)
        .select_related("customer", "organization")  # its time zone dates a paused one's next
        .prefetch_related(items_prefetch())
    )
    return filtered(SubscriptionFilter, filters, queryset)


def subscription_event_list(*, subscription: Subscription) -> QuerySet[SubscriptionEvent]:
    """Its history, newest first."""
    return SubscriptionEvent.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).order_by("-created_at", "-id")


def subscription_charge_list(*, subscription: Subscription) -> QuerySet[Charge]:
    """One charge per billed cycle, latest cycle first."""
    return Charge.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).order_by("-cycle")


# --- The delivery schedule --------------------------------------------------------------------

#: Rows of a subscription's schedule, on its page and in the API.
SCHEDULE_ROWS = 8


class CycleState:
    DUE = "due"  # will be charged, then shipped
    SKIPPED = "skipped"
    PAUSED = "paused"  # paused with no resume date: charged only if resumed now
    CHARGING = "charging"  # its charge is under way (scheduled, pending, failed)
    PAID = "paid"


@dataclass(frozen=True)
class ScheduleBatch:
    """The batch a cycle ships in: an existing one (`id`), or one the calendar will open."""

    id: int | None
    cycle_date: date
    cutoff_at: datetime
    ships_on: date
    status: str  # a batch's status, or "planned"


@dataclass(frozen=True)
class ScheduleCycle:
    cycle: int
    starts_at: datetime
    state: str
    amount: Decimal | None  # what will be (or was) charged; none for a cycle not charged
    batch: ScheduleBatch
    locked: bool  # a line of a locked batch holds it
    can_skip: bool
    can_unskip: bool


def batch_finder(organization: Organization, first: datetime):
    """A function giving the batch a cycle starting at an instant ships in (two queries)."""
    find_cycle = cycles.calendar().cycle_finder(organization=organization, first=first)

    def find(at: datetime) -> ScheduleBatch:
        cycle = find_cycle(at)
        return ScheduleBatch(
            cycle.batch_id, cycle.cycle_date, cycle.cutoff_at, cycle.ships_on, cycle.status
        )

    return find


def subscription_schedule(
    *, subscription: Subscription, count: int = SCHEDULE_ROWS, now: datetime | None = None
) -> list[ScheduleCycle]:
    """Its next `count` cycles as staff act on them: date, batch, amount, skipped or not.

    From the next cycle that will be charged (paused: the first after the resume date,
    or, with none, the first a resume now would charge), with the skipped cycles and
    those a pause passes over among them; empty once nothing more will be charged
    (ended, ending with its paid period, past a fixed term, or the shop's). Whether
    each may be skipped or brought back is `services.cycle_refusal`'s answer. Six
    queries whatever the number of rows or of the organization's subscriptions.
    """
    from subscriptions import schedule
    from subscriptions.services import CycleFacts, cycle_refusal, due_cycle

    now = now or clock.now()
    Status = Subscription.Status
    if (
        not subscription.is_native
        or subscription.status in (Status.CANCELED, Status.EXPIRED)
        or subscription.cancel_at_period_end
        or (subscription.next_charge_at is None and subscription.status != Status.PAUSED)
    ):
        return []
    due = due_cycle(subscription, now)
    # Skipped cycles still ahead just before the next one charged are shown (to bring back).
    first = due
    floor = max(subscription.anchor_cycle, (subscription.current_cycle or -1) + 1)
    while (
        first - 1 >= floor
        and first - 1 in subscription.skipped_cycles
        and subscription.cycle_start(first - 1) > now
    ):
        first -= 1
    starts = []
    for number in range(first, first + count):
        starts_at = subscription.cycle_start(number)
        if not schedule.in_term(cycle_starts_at=starts_at, ends_at=subscription.ends_at):
            break
        starts.append((number, starts_at))
    if not starts:
        return []
    numbers = [number for number, _start in starts]
    charges = {
        cycle: (status, amount)
        for cycle, status, amount in Charge.objects.filter(
            organization_id=subscription.organization_id,
            subscription_id=subscription.pk,
            cycle__in=numbers,
        )
        .exclude(status=Charge.Status.VOIDED)
        .values_list("cycle", "status", "amount")
    }
    locked = cycles.calendar().locked_cycles(
        organization_id=subscription.organization_id,
        subscription_id=subscription.pk,
        cycles=numbers,
    )
    items_total = sum(
        (item.unit_price * item.quantity for item in subscription.items.all()), Decimal("0.00")
    )
    batch_of = batch_finder(subscription.organization, starts[0][1])
    carried = subscription.adjustment
    no_resume_date = subscription.status == Status.PAUSED and subscription.resume_at is None
    may_skip = can_proceed(subscription.skip_cycle)
    may_unskip = can_proceed(subscription.unskip_cycle)
    rows = []
    for number, starts_at in starts:
        charge = charges.get(number)
        facts = CycleFacts(number, starts_at, charge[0] if charge else None, locked.get(number))
        amount = None
        if number in subscription.skipped_cycles:
            state = CycleState.SKIPPED
        elif charge is not None:
            state = CycleState.PAID if charge[0] == Charge.Status.PAID else CycleState.CHARGING
            amount = charge[1]
        else:
            # As the renewal run charges: the carried adjustment is added, never below
            # zero; a credit larger than a cycle carries over to the next. Paused with no
            # resume date: what a resume now would charge.
            state = CycleState.PAUSED if no_resume_date else CycleState.DUE
            owed = items_total + carried
            amount = max(owed, Decimal("0.00"))
            carried = min(owed, Decimal("0.00"))
        rows.append(
            ScheduleCycle(
                cycle=number,
                starts_at=starts_at,
                state=state,
                amount=amount,
                batch=batch_of(starts_at),
                locked=number in locked,
                can_skip=may_skip
                and cycle_refusal(subscription, facts, "skip_cycle", now=now) is None,
                can_unskip=may_unskip
                and cycle_refusal(subscription, facts, "unskip_cycle", now=now) is None,
            )
        )
    return rows


def subscriptions_by_id(
    *, organization: Organization, ids: Iterable[int]
) -> dict[int, Subscription]:
    """The organization's subscriptions among `ids`, with their customer and items (two
    queries, whatever their number); another organization's ids are simply absent."""
    return {
        subscription.pk: subscription
        for subscription in subscription_list(organization=organization).filter(pk__in=list(ids))
    }
