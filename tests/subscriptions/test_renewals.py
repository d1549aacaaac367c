"""Renewals over time: the schedule, charge-then-ship, dunning, pauses and ends.

Each test travels in time (time-machine) and runs the renewal run as beat would.
"""

from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from core.actors import Actor, ActorKind
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
)
from tests.helpers import paris

pytestmark = pytest.mark.django_db

S = Subscription.Status
PARIS = ZoneInfo("Europe/Paris")
STAFF = Actor(ActorKind.USER, label="staff")


@pytest.fixture
def roaster():
    organization = OrganizationFactory(timezone="Europe/Paris")
    billing_settings(organization, gateway="test", retry_days=(1, 3, 5))
    return organization


def subscribe(organization, at, *, email=None, period="month", interval=1, **kwargs):
    """A subscription created at `at`, of one 24.00 product."""
    customer = CustomerFactory(organization=organization, **({"email": email} if email else {}))
    product = ProductFactory(organization=organization, unit_price=Decimal("24.00"))
    with time_machine.travel(at, tick=False):
        return services.subscription_create(
            organization=organization,
            customer=customer,
            items=[{"product": product}],
            actor=STAFF,
            billing_period=period,
            billing_interval=interval,
            **kwargs,
        )


def run_at(at):
    with time_machine.travel(at, tick=False):
        return renewals.run()


def live_through(subscription, cycles: int):
    """Run renewals at each next charge date, `cycles` times; return the charges' local dates."""
    for _ in range(cycles):
        subscription.refresh_from_db()
        run_at(subscription.next_charge_at)
    return [
        charge.period_start.astimezone(PARIS) for charge in subscription.charges.order_by("cycle")
    ]


def test_monthly_on_the_31st_clamps_to_month_ends_over_14_months(roaster):
    # Given a subscription started on Jan 31 at 09:30 in Paris
    subscription = subscribe(roaster, paris(2027, 1, 31, 9, 30))

    # When 14 months of renewals run, each at its charge time
    dates = live_through(subscription, 14)

    # Then each month is charged once, on the 31st or the month's last day, at 09:30 local
    assert [(d.year, d.month, d.day) for d in dates] == [
        (2027, 1, 31), (2027, 2, 28), (2027, 3, 31), (2027, 4, 30), (2027, 5, 31),
        (2027, 6, 30), (2027, 7, 31), (2027, 8, 31), (2027, 9, 30), (2027, 10, 31),
        (2027, 11, 30), (2027, 12, 31), (2028, 1, 31), (2028, 2, 29),
    ]  # fmt: skip
    assert {(d.hour, d.minute) for d in dates} == {(9, 30)}
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.charges.filter(status=Charge.Status.PAID).count() == 14


def test_monthly_on_the_30th_does_not_stick_to_month_ends_after_february(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 30, 8, 0))

    dates = live_through(subscription, 4)

    assert [(d.month, d.day) for d in dates] == [(1, 30), (2, 28), (3, 30), (4, 30)]


def test_a_late_run_does_not_shift_the_schedule(roaster):
    # Given a monthly subscription on the 10th
    subscription = subscribe(roaster, paris(2027, 3, 10, 12, 0))
    run_at(paris(2027, 3, 10, 12, 0))

    # When the renewal for April runs three days late (downtime)
    run_at(paris(2027, 4, 13, 7, 0))

    # Then April is charged, and May is still due on the 10th
    subscription.refresh_from_db()
    assert subscription.charges.count() == 2
    assert subscription.next_charge_at == paris(2027, 5, 10, 12, 0)


def test_weekly_keeps_its_local_time_across_the_daylight_saving_change(roaster):
    # Given a weekly subscription on Wednesdays at 10:00 Paris time, before the March change
    subscription = subscribe(roaster, paris(2027, 3, 17, 10, 0), period="week")

    # When it renews for four weeks, across the change on March 28
    dates = live_through(subscription, 4)

    # Then every cycle is on a Wednesday at 10:00 local, so 09:00 then 08:00 UTC
    assert [(d.day, d.hour) for d in dates] == [(17, 10), (24, 10), (31, 10), (7, 10)]
    utc_hours = [d.astimezone(UTC).hour for d in dates]
    assert utc_hours == [9, 9, 8, 8]


def test_the_first_charge_activates_and_charge_then_ship_records_the_paid_cycle(roaster):
    subscription = subscribe(roaster, paris(2027, 5, 1, 9, 0))
    assert subscription.status == S.PENDING

    report = run_at(paris(2027, 5, 1, 9, 1))

    subscription.refresh_from_db()
    charge = subscription.charges.get()
    assert (report.charges_created, report.paid) == (1, 1)
    assert subscription.status == S.ACTIVE
    assert (charge.cycle, charge.status, charge.amount) == (0, "paid", Decimal("24.00"))
    assert subscription.current_period_end == paris(2027, 6, 1, 9, 0)
    assert list(subscription.events.values_list("kind", flat=True)) == ["activated", "created"]


def test_running_twice_charges_each_cycle_once(roaster):
    subscription = subscribe(roaster, paris(2027, 5, 1, 9, 0))

    run_at(paris(2027, 5, 1, 9, 1))
    second = run_at(paris(2027, 5, 1, 9, 2))

    assert (second.charges_created, second.paid) == (0, 0)
    assert subscription.charges.count() == 1


def test_pause_with_auto_resume_skips_the_cycles_in_between(roaster):
    # Given an active monthly subscription on the 5th
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))
    run_at(paris(2027, 1, 5, 9, 0))

    # When it is paused on Jan 20 until Mar 20
    with time_machine.travel(paris(2027, 1, 20), tick=False):
        services.subscription_pause(
            subscription=subscription, actor=STAFF, resume_at=paris(2027, 3, 20, 8, 0)
        )
    # Then February is neither charged nor resumed early
    run_at(paris(2027, 2, 5, 9, 0))
    subscription.refresh_from_db()
    assert subscription.status == S.PAUSED
    assert subscription.charges.count() == 1

    # And on Mar 20 beat resumes it; the next charge is Apr 5 (Feb and Mar are not charged)
    run_at(paris(2027, 3, 20, 8, 1))
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.next_charge_at == paris(2027, 4, 5, 9, 0)
    resumed = subscription.events.first()
    assert (resumed.kind, resumed.actor_kind) == ("resumed", "system")
    assert resumed.data["missed_cycles"] == [1, 2]
    run_at(paris(2027, 4, 5, 9, 0))
    assert [c.cycle for c in subscription.charges.order_by("cycle")] == [0, 3]


def test_a_run_given_its_instant_resumes_at_that_instant_not_the_wall_clock(roaster):
    # Given a monthly subscription on the 5th, paused on Jan 20 until Mar 20
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))
    run_at(paris(2027, 1, 5, 9, 0))
    with time_machine.travel(paris(2027, 1, 20), tick=False):
        services.subscription_pause(
            subscription=subscription, actor=STAFF, resume_at=paris(2027, 3, 20, 8, 0)
        )

    # When a run is given Mar 20 while the wall clock still reads Jan 21
    with time_machine.travel(paris(2027, 1, 21), tick=False):
        report = renewals.run(now=paris(2027, 3, 20, 8, 1))

    # Then it resumes as on Mar 20: Feb and Mar are missed, not charged, and April is next
    subscription.refresh_from_db()
    assert (report.resumed, report.charges_created) == (1, 0)
    assert subscription.next_charge_at == paris(2027, 4, 5, 9, 0)
    resumed = subscription.events.first()
    assert resumed.data["missed_cycles"] == [1, 2]
    assert [c.cycle for c in subscription.charges.order_by("cycle")] == [0]


def test_a_failing_card_goes_through_the_whole_dunning_schedule_then_cancels(roaster):
    # Given an active subscription whose card fails from its second cycle on
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0), email="ana+decline-1@example.com")
    run_at(paris(2027, 1, 5, 9, 0))  # first attempt declined (decline-1), then retried
    run_at(paris(2027, 1, 6, 9, 0))  # paid on the retry
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    subscription.customer.email = "ana+decline@example.com"
    subscription.customer.save()

    # When the February charge fails, then it is past due and retried after 1, 3 and 5 days
    first_failure = paris(2027, 2, 5, 9, 0)
    run_at(first_failure)
    subscription.refresh_from_db()
    charge = subscription.charges.get(cycle=1)
    assert subscription.status == S.PAST_DUE
    assert charge.next_retry_at == first_failure + timedelta(days=1)
    for days in (1, 3):
        run_at(first_failure + timedelta(days=days))
        charge.refresh_from_db()
        assert charge.status == "failed"
        assert charge.next_retry_at == first_failure + timedelta(days={1: 3, 3: 5}[days])
    # A run before the retry time does nothing
    run_at(first_failure + timedelta(days=4))
    charge.refresh_from_db()
    assert charge.attempts == 3

    # And after the last retry fails it is canceled, with the reason
    run_at(first_failure + timedelta(days=5))
    subscription.refresh_from_db()
    charge.refresh_from_db()
    assert subscription.status == S.CANCELED
    assert "4 attempts" in subscription.cancel_reason
    assert (charge.status, charge.attempts, charge.next_retry_at) == ("failed", 4, None)
    kinds = list(subscription.events.values_list("kind", flat=True))
    assert kinds[:4] == ["canceled", "charge_failed", "charge_failed", "past_due"]


def test_a_retry_that_succeeds_recovers_the_subscription(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0), email="bo+decline-1@example.com")
    run_at(paris(2027, 1, 5, 9, 0))
    subscription.refresh_from_db()
    assert subscription.status == S.PENDING  # the first charge failed: not active yet

    run_at(paris(2027, 1, 6, 9, 0))

    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.next_charge_at == paris(2027, 2, 5, 9, 0)  # schedule not shifted


def test_cancel_at_period_end_ends_it_when_the_paid_period_ends(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))
    run_at(paris(2027, 1, 5, 9, 0))
    with time_machine.travel(paris(2027, 1, 15), tick=False):
        services.subscription_cancel(
            subscription=subscription, actor=STAFF, reason="Moving abroad", at_period_end=True
        )

    # Before the end of the period it is still active; at the end it is canceled, not charged
    run_at(paris(2027, 2, 5, 8, 59))
    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    run_at(paris(2027, 2, 5, 9, 0))
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELED
    assert subscription.cancel_reason == "Moving abroad"
    assert subscription.charges.count() == 1


def test_a_withdrawn_cancellation_renews_at_period_end(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))
    run_at(paris(2027, 1, 5, 9, 0))
    services.subscription_cancel(
        subscription=subscription, actor=STAFF, reason="Moving", at_period_end=True
    )
    services.subscription_withdraw_cancellation(subscription=subscription, actor=STAFF)

    run_at(paris(2027, 2, 5, 9, 0))

    subscription.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert subscription.charges.count() == 2


def test_a_fixed_term_subscription_charges_its_cycles_then_expires(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0), ends_at=paris(2027, 4, 5, 9, 0))

    live_through(subscription, 3)
    subscription.refresh_from_db()
    assert subscription.next_charge_at is None
    run_at(paris(2027, 4, 5, 9, 0))

    subscription.refresh_from_db()
    assert subscription.status == S.EXPIRED
    assert subscription.charges.count() == 3


def test_a_pro_rata_adjustment_is_added_to_the_next_charge(roaster):
    subscription = subscribe(roaster, paris(2027, 4, 1, 9, 0))
    run_at(paris(2027, 4, 1, 9, 0))  # April: 30 days, 24.00
    product = subscription.items.get().product
    with time_machine.travel(paris(2027, 4, 16, 9, 0), tick=False):  # half-way
        services.subscription_change_items(
            subscription=subscription, actor=STAFF, items=[{"product": product, "quantity": 2}]
        )

    run_at(paris(2027, 5, 1, 9, 0))

    charge = subscription.charges.get(cycle=1)
    assert (charge.amount, charge.adjustment) == (Decimal("60.00"), Decimal("12.00"))
    subscription.refresh_from_db()
    assert subscription.adjustment == Decimal("0.00")


def test_a_credit_larger_than_a_cycle_carries_over(roaster):
    subscription = SubscriptionFactory(
        status=S.ACTIVE, customer__organization=roaster, adjustment=Decimal("-30.00")
    )
    run_at(subscription.next_charge_at)

    charge = subscription.charges.get(cycle=1)
    subscription.refresh_from_db()
    assert (charge.amount, charge.adjustment) == (Decimal("0.00"), Decimal("-12.50"))
    assert subscription.adjustment == Decimal("-17.50")


def test_the_manual_gateway_waits_for_staff_to_mark_the_charge_paid(roaster):
    billing_settings(roaster, gateway="manual")
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))

    run_at(paris(2027, 1, 5, 9, 0))
    charge = subscription.charges.get()
    assert charge.status == "pending"
    run_at(paris(2027, 1, 5, 10, 0))
    assert subscription.charges.count() == 1

    with time_machine.travel(paris(2027, 1, 6), tick=False):
        services.charge_mark_paid(charge=charge, actor=STAFF, reference="VIR-2027-001")
    subscription.refresh_from_db()
    charge.refresh_from_db()
    assert subscription.status == S.ACTIVE
    assert (charge.status, charge.external_reference) == ("paid", "VIR-2027-001")
    assert subscription.next_charge_at == paris(2027, 2, 5, 9, 0)


def test_woocommerce_subscriptions_are_never_charged(roaster):
    subscription = SubscriptionFactory(
        status=S.ACTIVE,
        customer__organization=roaster,
        source=Subscription.Source.WOOCOMMERCE,
    )

    report = run_at(subscription.next_charge_at + timedelta(days=1))

    assert report.charges_created == 0
    assert subscription.charges.filter(cycle=1).count() == 0


def test_a_skipped_cycle_is_not_charged(roaster):
    subscription = subscribe(roaster, paris(2027, 1, 5, 9, 0))
    run_at(paris(2027, 1, 5, 9, 0))
    services.subscription_skip(subscription=subscription, actor=STAFF)

    run_at(paris(2027, 2, 5, 9, 0))
    run_at(paris(2027, 3, 5, 9, 0))

    assert [c.cycle for c in subscription.charges.order_by("cycle")] == [0, 2]


def test_a_cycle_covered_by_credit_is_paid_without_asking_anyone(roaster):
    # Given staff mark charges paid by hand, and a credit larger than the next cycle
    billing_settings(roaster, gateway="manual")
    subscription = SubscriptionFactory(
        status=S.ACTIVE, customer__organization=roaster, adjustment=Decimal("-20.00")
    )

    # When the cycle renews
    run_at(subscription.next_charge_at)

    # Then its zero charge is paid at once and the subscription moves on
    charge = subscription.charges.get(cycle=1)
    assert (charge.amount, charge.status) == (Decimal("0.00"), "paid")
    subscription.refresh_from_db()
    assert subscription.current_cycle == 1
