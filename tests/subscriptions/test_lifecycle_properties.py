"""Random lives of a subscription: whatever staff do and whenever beat runs, it stays straight.

Hypothesis draws a sequence of staff actions (pause, resume, skip, change items
or schedule, cancel at period end, withdraw it), card failures and waits (after
which the renewal run runs, as beat would), and after every step checks what
the business relies on: each cycle charged at most once and never a skipped
one, paid periods that follow each other without overlap, the next charge on
the schedule, every cent of pro-rata accounted for, and a history whose
statuses chain up to the current one.
"""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm.actors import Actor, ActorKind
from crm.errors import ApplicationError
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription
from tests.factories import CustomerFactory, OrganizationFactory, ProductFactory, billing_settings

pytestmark = pytest.mark.django_db

STAFF = Actor(ActorKind.USER, label="staff")
S = Subscription.Status

steps = st.one_of(
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=45)),
    st.tuples(st.just("renewal")),  # until just after the next charge date
    st.tuples(st.just("pause"), st.one_of(st.none(), st.integers(min_value=1, max_value=60))),
    st.tuples(st.just("resume")),
    st.tuples(st.just("skip")),
    st.tuples(st.just("items"), st.integers(min_value=1, max_value=4)),
    st.tuples(
        st.just("schedule"),
        st.sampled_from(["day", "week", "month"]),
        st.integers(min_value=1, max_value=3),
    ),
    st.tuples(st.just("cancel_at_period_end")),
    st.tuples(st.just("withdraw")),
    st.tuples(st.just("card"), st.booleans()),
)


class Life:
    """One subscription, its clock and the staff actions on it."""

    def __init__(self):
        self.organization = OrganizationFactory(timezone="Europe/Paris")
        billing_settings(self.organization, gateway="test", retry_days=(1, 3))
        self.customer = CustomerFactory(organization=self.organization, email="c@example.com")
        self.product = ProductFactory(organization=self.organization, unit_price=Decimal("13.70"))
        self.now = self.organization_now()
        with time_machine.travel(self.now, tick=False):
            self.subscription = services.subscription_create(
                organization=self.organization,
                customer=self.customer,
                items=[{"product": self.product}],
                actor=STAFF,
            )
        self.beat()

    @staticmethod
    def organization_now():
        from datetime import UTC, datetime

        return datetime(2027, 1, 31, 8, 15, 42, tzinfo=UTC)

    def beat(self):
        with time_machine.travel(self.now, tick=False):
            report = renewals.run()
        assert report.errors == []

    def do(self, step):
        kind, *args = step
        if kind == "wait":
            self.now += timedelta(days=args[0], hours=3)
            self.beat()
            return
        if kind == "renewal":
            self.subscription.refresh_from_db()
            if self.subscription.next_charge_at and self.subscription.next_charge_at > self.now:
                self.now = self.subscription.next_charge_at + timedelta(minutes=1)
            self.beat()
            return
        if kind == "card":
            self.customer.email = "c+decline@example.com" if args[0] else "c@example.com"
            self.customer.save()
            return
        subscription = self.subscription
        actions = {
            "pause": lambda: services.subscription_pause(
                subscription=subscription,
                actor=STAFF,
                resume_at=None if args[0] is None else self.now + timedelta(days=args[0]),
            ),
            "resume": lambda: services.subscription_resume(subscription=subscription, actor=STAFF),
            "skip": lambda: services.subscription_skip(subscription=subscription, actor=STAFF),
            "items": lambda: services.subscription_change_items(
                subscription=subscription,
                actor=STAFF,
                items=[{"product": self.product, "quantity": args[0]}],
            ),
            "schedule": lambda: services.subscription_change_schedule(
                subscription=subscription,
                actor=STAFF,
                billing_period=args[0],
                billing_interval=args[1],
            ),
            "cancel_at_period_end": lambda: services.subscription_cancel(
                subscription=subscription, actor=STAFF, reason="test", at_period_end=True
            ),
            "withdraw": lambda: services.subscription_withdraw_cancellation(
                subscription=subscription, actor=STAFF
            ),
        }
        with time_machine.travel(self.now, tick=False):
            try:
                with transaction.atomic():
                    actions[kind]()
            except ApplicationError:
                pass  # refused: other tests prove a refusal changes nothing

    def check(self):
        subscription = Subscription.objects.select_related("organization").get(
            pk=self.subscription.pk
        )
        charges = list(subscription.charges.order_by("cycle"))

        # Each cycle charged at most once (also a constraint), never a skipped one
        cycles = [charge.cycle for charge in charges]
        assert len(cycles) == len(set(cycles))
        assert not set(cycles) & set(subscription.skipped_cycles)

        # Paid periods follow each other without overlapping
        paid = [charge for charge in charges if charge.status == Charge.Status.PAID]
        for before, after in itertools.pairwise(paid):
            assert before.period_end <= after.period_start
        for charge in charges:
            assert charge.period_start < charge.period_end

        # The current period is a paid cycle's
        if subscription.current_cycle is not None and paid:
            current = next(c for c in paid if c.cycle == subscription.current_cycle)
            assert (subscription.current_period_start, subscription.current_period_end) == (
                current.period_start,
                current.period_end,
            )

        # The next charge is on the schedule, and not a skipped cycle
        if subscription.status in (S.ACTIVE, S.PENDING, S.PAUSED) and subscription.next_charge_at:
            assert subscription.next_charge_at == subscription.cycle_start(subscription.next_cycle)
            assert subscription.next_cycle not in subscription.skipped_cycles
            if subscription.current_cycle is not None:
                assert subscription.next_cycle > subscription.current_cycle

        # Every cent of pro-rata is either on a charge or still carried
        prorated = sum(
            (
                Decimal(event.data["proration"]["net"])
                for event in subscription.events.filter(kind="items_changed")
                if event.data["proration"]
            ),
            Decimal("0.00"),
        )
        carried = sum((charge.adjustment for charge in charges), Decimal("0.00"))
        assert carried + subscription.adjustment == prorated
        for charge in charges:
            assert charge.amount >= 0

        # The history chains from creation to the current status
        events = list(subscription.events.order_by("id"))
        assert events[0].kind == "created"
        for before, after in itertools.pairwise(events):
            assert after.from_status == before.to_status
        assert events[-1].to_status == subscription.status


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(steps, min_size=1, max_size=25))
# Lives worth trying every time, besides the drawn ones:
# a credit larger than the next cycle (carried over twice),
@example([("items", 4), ("renewal",), ("items", 1), ("renewal",), ("renewal",)])
# a card that fails through dunning while staff act,
@example([("card", True), ("renewal",), ("wait", 1), ("skip",), ("wait", 2), ("card", False)])
# a pause through renewals, a cancellation withdrawn, a schedule change.
@example([("pause", 40), ("wait", 45), ("cancel_at_period_end",), ("withdraw",), ("renewal",)])
@example([("renewal",), ("schedule", "week", 2), ("items", 3), ("renewal",), ("skip",)])
def test_a_subscription_stays_consistent_whatever_happens(db, life_steps):
    # Each example in its own transaction, rolled back: examples do not see each other
    with transaction.atomic():
        life = Life()
        life.check()
        for step in life_steps:
            life.do(step)
            life.check()
        transaction.set_rollback(True)
