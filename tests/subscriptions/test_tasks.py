"""Renewals through the real job queue: a worker process on Redis and PostgreSQL."""

from decimal import Decimal

import pytest
from django.conf import settings

from core.actors import Actor, ActorKind
from subscriptions import services, tasks
from subscriptions.models import Subscription
from tests.conftest import wait_until
from tests.factories import CustomerFactory, ProductFactory, billing_settings

STAFF = Actor(ActorKind.USER, label="staff")


def _new_subscription(organization):
    return services.subscription_create(
        organization=organization,
        customer=CustomerFactory(organization=organization),
        items=[{"product": ProductFactory(organization=organization, unit_price=Decimal("9"))}],
        actor=STAFF,
    )


def _status(subscription):
    return Subscription.objects.values_list("status", flat=True).get(pk=subscription.pk)


@pytest.mark.celery_worker
def test_a_new_subscription_is_charged_at_once_by_a_worker(celery_worker, org_a):
    # Given an organization paid through the test gateway
    billing_settings(org_a, gateway="test")

    # When a subscription is created (its transaction commits)
    subscription = _new_subscription(org_a)

    # Then a worker charges its first cycle and it becomes active, without waiting for beat
    assert wait_until(lambda: _status(subscription) == "active"), "".join(
        celery_worker.output[-30:]
    )
    assert subscription.charges.get().status == "paid"


@pytest.mark.celery_worker
def test_the_beat_task_renews_what_is_due(celery_worker, org_a):
    # Given due subscriptions whose immediate charge was not sent (the broker was down, say)
    billing_settings(org_a, gateway="test")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.renew_subscription, "apply_async", lambda *a, **k: None)
        due = [_new_subscription(org_a) for _ in range(3)]

    # When beat sends the renewal task
    tasks.run_renewals.delay()

    # Then the worker charges them all
    assert wait_until(lambda: all(_status(s) == "active" for s in due)), "".join(
        celery_worker.output[-30:]
    )


def test_beat_runs_the_renewals_every_few_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["subscriptions-renewals"]
    assert entry["task"] == tasks.run_renewals.name
    assert entry["schedule"] <= 15 * 60
