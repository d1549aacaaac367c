"""Two staff members, or two beat runs, at once: exactly one effect each time.

Each thread has its own database connection (Django opens one per thread), so
these are real concurrent transactions on PostgreSQL.
"""

import threading
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from core.actors import Actor, ActorKind
from core.errors import ConflictError
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
)
from tests.threads import in_threads, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = Actor(ActorKind.USER, label="staff")


def test_two_concurrent_pauses_one_succeeds_the_other_gets_a_conflict():
    # Given an active subscription, whose row the test holds locked for a moment
    subscription = SubscriptionFactory(status=Subscription.Status.ACTIVE)
    outcome = {}

    def pause(_i):
        fresh = Subscription.objects.get(pk=subscription.pk)  # both read "active"
        return services.subscription_pause(subscription=fresh, actor=STAFF)

    # When two staff members pause it at the same instant (both wait on the row lock)
    with transaction.atomic():
        Subscription.objects.select_for_update().get(pk=subscription.pk)
        runner = threading.Thread(target=lambda: outcome.update(results=in_threads(2, pause)))
        runner.start()
        wait_for_lock_waiters(2)
    runner.join(60)
    results = outcome["results"]

    # Then exactly one pauses it and the other is told it is no longer active
    paused = [r for r in results if isinstance(r, Subscription)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert (len(paused), len(refused)) == (1, 1), results
    assert refused[0].status == 409
    assert SubscriptionEvent.objects.filter(subscription=subscription, kind="paused").count() == 1


def test_two_concurrent_conflicting_transitions_give_one_effect():
    # Given an active subscription
    subscription = SubscriptionFactory(status=Subscription.Status.ACTIVE)
    actions = [
        lambda: services.subscription_pause(subscription=subscription, actor=STAFF),
        lambda: services.subscription_cancel(subscription=subscription, actor=STAFF, reason="x"),
    ]

    # When one staff member pauses it while another cancels it
    results = in_threads(2, lambda i: actions[i]())

    # Then it ends canceled whatever the order (pause then cancel both succeed; cancel
    # then pause refuses the pause), with one event per effect and no lost update
    subscription.refresh_from_db()
    done = [r for r in results if isinstance(r, Subscription)]
    assert all(isinstance(r, Subscription | ConflictError) for r in results), results
    assert subscription.status == Subscription.Status.CANCELED
    assert subscription.events.count() == len(done)
    assert subscription.events.first().to_status == Subscription.Status.CANCELED


def test_two_concurrent_renewal_runs_charge_each_cycle_once():
    # Given 40 subscriptions due now, paid by the test gateway
    organization = OrganizationFactory()
    billing_settings(organization, gateway="test")
    product = ProductFactory(organization=organization, unit_price=Decimal("10.00"))
    for _ in range(40):
        services.subscription_create(
            organization=organization,
            customer=CustomerFactory(organization=organization),
            items=[{"product": product}],
            actor=STAFF,
        )
    now = timezone.now()

    # When two beat runs start at the same instant
    results = in_threads(2, lambda _i: renewals.run(now=now))

    # Then every subscription has exactly one charge, paid once, and is active
    assert all(isinstance(r, renewals.RenewalReport) for r in results), results
    assert sum(r.charges_created for r in results) == 40
    assert sum(r.paid for r in results) == 40
    assert Charge.objects.filter(status="paid").count() == 40
    assert set(Subscription.objects.values_list("status", flat=True)) == {"active"}
    assert SubscriptionEvent.objects.filter(kind="activated").count() == 40


def test_two_concurrent_pauses_through_the_api_one_200_one_409(api_client_for):
    # Given an active subscription, and two integrations with the organization's keys
    subscription = SubscriptionFactory(status=Subscription.Status.ACTIVE)
    clients = [api_client_for(subscription.organization) for _ in range(2)]
    url = f"/api/v1/subscriptions/{subscription.pk}/pause/"

    # When both pause it at the same instant
    responses = in_threads(2, lambda i: clients[i].post(url, {}, format="json"))

    # Then one pauses it and the other gets a 409 in the error shape
    assert sorted(r.status_code for r in responses) == [200, 409], responses
    refused = next(r for r in responses if r.status_code == 409)
    assert set(refused.json()) == {"message", "extra"}
    assert SubscriptionEvent.objects.filter(subscription=subscription, kind="paused").count() == 1
