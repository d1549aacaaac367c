"""Six weekly cut-offs lived through with the clock moving: who lands in which batch.

The clock walks from 8 March to 15 April 2027 in six-hour steps; at each step
the renewal run and the lock task run, as beat would run them. Paris changes to
summer time on 28 March, between the third and fourth cut-offs.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from core.actors import Actor
from crm.models import Address
from fulfillment import tasks as fulfillment_tasks
from fulfillment.models import Batch, BatchLine
from fulfillment.services import batch_open_next, lock_due_batches
from preferences.services import preferences_update
from subscriptions import renewals
from subscriptions import tasks as subscription_tasks
from subscriptions.models import Charge, SubscriptionEvent
from subscriptions.services import (
    subscription_change_details,
    subscription_pause,
    subscription_skip,
)
from tests.factories import (
    AddressFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
)
from tests.helpers import paris

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
CUTOFF_DATES = [
    date(2027, 3, 10),
    date(2027, 3, 17),
    date(2027, 3, 24),
    date(2027, 3, 31),  # the first cut-off in summer time
    date(2027, 4, 7),
    date(2027, 4, 14),
]


def subscriber(org, period, anchor, **kwargs):
    subscription = SubscriptionFactory(
        customer__organization=org,
        status="active",
        billing_period=period,
        billing_anchor=anchor,
        started_at=anchor,
        **kwargs,
    )
    address = AddressFactory(customer=subscription.customer, organization=org)
    subscription.shipping_address = address
    subscription.save()
    return subscription


def live_until(end: datetime, start: datetime, on_step=None) -> None:
    """Move the clock in six-hour steps, running renewals and the lock task at each."""
    at = start
    while at <= end:
        with time_machine.travel(at, tick=False):
            renewals.run()
            lock_due_batches()
            if on_step:
                on_step(at)
        at += timedelta(hours=6)


def lines_by_cycle_date(subscription) -> dict[date, int]:
    return dict(
        BatchLine.objects.filter(subscription=subscription)
        .exclude(status=BatchLine.Status.ROLLED)
        .values_list("batch__cycle_date", "cycle")
    )


@pytest.fixture
def calendar(org_a):
    billing_settings(org_a)  # the test gateway pays every charge
    coffee_schema(org_a)
    with time_machine.travel(paris(2027, 3, 8, 6), tick=False):
        first = batch_open_next(organization=org_a)
    assert first.cycle_date == CUTOFF_DATES[0]
    return org_a


def test_weekly_and_monthly_subscribers_land_in_the_batches_they_are_due_in(calendar):
    org = calendar
    start = paris(2027, 3, 8, 6)
    with time_machine.travel(start, tick=False):
        # Weekly on Monday mornings: one box every week.
        weekly = subscriber(org, "week", paris(2027, 3, 1, 9))
        # Monthly on the 12th: 12 March ships on the 17th, 12 April on the 14th.
        monthly = subscriber(org, "month", paris(2027, 2, 12, 10))
        # Paused through the six weeks.
        paused = subscriber(org, "week", paris(2027, 3, 1, 9))
        subscription_pause(
            subscription=paused, actor=Actor.system(), resume_at=paris(2027, 4, 30, 0)
        )
        skipper = subscriber(org, "week", paris(2027, 3, 1, 9))

    def skip_the_week_of_the_24th(at):
        if at == paris(2027, 3, 18, 6):  # its next cycle: Monday 22 March
            subscription_skip(subscription=skipper, actor=Actor.system())

    live_until(paris(2027, 4, 15, 0), start, on_step=skip_the_week_of_the_24th)

    batches = list(Batch.objects.filter(organization=org).order_by("cutoff_at"))
    assert [b.cycle_date for b in batches[:6]] == CUTOFF_DATES
    assert [b.status for b in batches[:6]] == ["locked"] * 6
    assert batches[6].status == "open"
    # Noon in Paris: 11:00 UTC in winter, 10:00 UTC in summer.
    assert [b.cutoff_at.astimezone(UTC).hour for b in batches[:6]] == [11, 11, 11, 10, 10, 10]

    assert lines_by_cycle_date(weekly) == dict(zip(CUTOFF_DATES, range(1, 7), strict=True))
    assert lines_by_cycle_date(monthly) == {date(2027, 3, 17): 1, date(2027, 4, 14): 2}
    assert lines_by_cycle_date(paused) == {}
    assert lines_by_cycle_date(skipper) == {
        d: c for d, c in zip(CUTOFF_DATES, range(1, 7), strict=True) if d != date(2027, 3, 24)
    }
    # Every one of those cycles was charged (test gateway) before the lock: ready to pack.
    assert set(BatchLine.objects.values_list("status", flat=True)) == {"ready"}


def test_a_change_one_second_after_the_cutoff_waits_for_the_next_batch_even_if_the_lock_is_late(
    calendar,
):
    org = calendar
    start = paris(2027, 3, 8, 6)
    cutoff = paris(2027, 3, 10, 12)
    with time_machine.travel(start, tick=False):
        weekly = subscriber(org, "week", paris(2027, 3, 1, 9))
        edited = subscriber(org, "week", paris(2027, 3, 1, 9))
        preferences_update(
            subscription=weekly, values={"grind": "filter"}, actor=Actor.system(), source="api"
        )
        renewals.run()
    before_address = weekly.shipping_address.snapshot()
    before_edited = edited.shipping_address.snapshot()

    # One second after the cut-off, before the lock task has run (beat was down):
    with time_machine.travel(cutoff + timedelta(seconds=1), tick=False):
        preferences_update(
            subscription=weekly, values={"grind": "espresso"}, actor=Actor.system(), source="api"
        )
        moved = AddressFactory(customer=weekly.customer, organization=org, city="Besançon")
        subscription_change_details(
            subscription=weekly, actor=Actor.system(), shipping_address=moved
        )
        # Staff correct the other customer's address in place.
        address = Address.objects.get(pk=edited.shipping_address_id)
        address.line1 = "12 rue Neuve"
        address.save()

    # The lock task runs two hours late.
    with time_machine.travel(cutoff + timedelta(hours=2), tick=False):
        report = lock_due_batches()
    assert len(report.locked) == 1

    line = BatchLine.objects.get(subscription=weekly, batch__cycle_date=date(2027, 3, 10))
    assert line.preferences["grind"] == "filter"
    assert line.address == before_address
    assert line.address["city"] != "Besançon"
    other = BatchLine.objects.get(subscription=edited, batch__cycle_date=date(2027, 3, 10))
    assert other.address == before_edited
    assert other.address["line1"] != "12 rue Neuve"

    # The next batch ships with the changes.
    live_until(paris(2027, 3, 17, 18), cutoff + timedelta(hours=6))
    line = BatchLine.objects.get(subscription=weekly, batch__cycle_date=date(2027, 3, 17))
    assert line.preferences["grind"] == "espresso"
    assert line.address["city"] == "Besançon"
    other = BatchLine.objects.get(subscription=edited, batch__cycle_date=date(2027, 3, 17))
    assert other.address["line1"] == "12 rue Neuve"


def test_an_item_change_after_the_cutoff_is_not_in_the_locked_batch(calendar):
    from subscriptions.services import subscription_change_items
    from tests.factories import ProductFactory

    org = calendar
    cutoff = paris(2027, 3, 10, 12)
    with time_machine.travel(paris(2027, 3, 8, 6), tick=False):
        weekly = subscriber(org, "week", paris(2027, 3, 1, 9))
        renewals.run()
    first = list(weekly.items.values_list("product_id", "quantity"))
    with time_machine.travel(cutoff + timedelta(seconds=1), tick=False):
        other = ProductFactory(organization=org)
        subscription_change_items(
            subscription=weekly,
            actor=Actor.system(),
            items=[{"product": other, "quantity": 3}],
        )
    with time_machine.travel(cutoff + timedelta(minutes=30), tick=False):
        lock_due_batches()
    line = BatchLine.objects.get(subscription=weekly)
    assert [(i["product"], i["quantity"]) for i in line.items] == first


# --- Replaying a run at a given instant -----------------------------------------------------

REPLAY_STEPS = [
    paris(2027, 3, 8, 6),
    paris(2027, 3, 9, 10),  # the paused subscription's resume date has come
    paris(2027, 3, 10, 12, 0, 1),  # one second after the first cut-off
    paris(2027, 3, 15, 10),
    paris(2027, 3, 17, 12, 0, 1),  # one second after the second
]


def _what_happened(org) -> dict:
    """Everything the runs decided, without the rows' ids and the stamps of their writes."""
    return {
        "charges": sorted(
            Charge.objects.filter(organization=org).values_list(
                "subscription__customer__email", "cycle", "status", "paid_at"
            )
        ),
        "events": sorted(
            (
                e.subscription.customer.email,
                e.kind,
                e.from_status,
                e.to_status,
                str({k: v for k, v in e.data.items() if k != "charge"}),
            )
            for e in SubscriptionEvent.objects.filter(organization=org).select_related(
                "subscription__customer"
            )
        ),
        "batches": list(
            Batch.objects.filter(organization=org)
            .order_by("cutoff_at")
            .values_list("cycle_date", "status", "cutoff_at", "locked_at")
        ),
        "lines": sorted(
            BatchLine.objects.filter(organization=org).values_list(
                "subscription__customer__email", "batch__cycle_date", "cycle", "status"
            )
        ),
    }


def _live_through_the_steps(org, *, replayed: bool) -> dict:
    """Run renewals and the lock task at each step: at that instant, or replayed weeks later
    (the tasks given the instant in ISO 8601, as a catch-up would); what happened, then undone.
    """
    with transaction.atomic():
        with time_machine.travel(REPLAY_STEPS[0], tick=False):
            subscriber(org, "week", paris(2027, 3, 1, 9), customer__email="weekly@example.com")
            paused = subscriber(
                org, "week", paris(2027, 3, 1, 9), customer__email="paused@example.com"
            )
            subscription_pause(
                subscription=paused, actor=Actor.system(), resume_at=paris(2027, 3, 9, 8)
            )
        for at in REPLAY_STEPS:
            if replayed:
                with time_machine.travel(paris(2027, 5, 3, 17), tick=False):
                    subscription_tasks.run_renewals(now=at.isoformat())
                    fulfillment_tasks.lock_due_batches(now=at.isoformat())
            else:
                with time_machine.travel(at, tick=False):
                    renewals.run()
                    lock_due_batches()
        happened = _what_happened(org)
        transaction.set_rollback(True)
    return happened


def test_a_run_replayed_at_past_instants_decides_as_it_did_at_them(calendar):
    # Given a weekly subscriber, and another paused until 9 March, lived through two cut-offs
    lived = _live_through_the_steps(calendar, replayed=False)
    assert [b[:2] for b in lived["batches"][:2]] == [
        (date(2027, 3, 10), "locked"),
        (date(2027, 3, 17), "locked"),
    ]
    assert lived["batches"][0][3] == REPLAY_STEPS[2]
    assert ("paused@example.com", "resumed", "paused", "active") in [e[:4] for e in lived["events"]]
    assert {(email, cycle) for email, _d, cycle, _s in lived["lines"]} == {
        ("weekly@example.com", 1),
        ("weekly@example.com", 2),
        ("paused@example.com", 2),
    }

    # When the same runs are replayed weeks later, each given its instant
    replayed = _live_through_the_steps(calendar, replayed=True)

    # Then they decide the same: the same charges, events, batches and lines
    assert replayed == lived
