"""Two staff members acting on one case at once: exactly one effect, the other a clean 409."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from core.actors import Actor, ActorKind
from core.errors import ConflictError
from fulfillment.models import BatchLine
from returns import services
from returns.models import ReturnRequest
from subscriptions.models import Subscription, SubscriptionEvent
from tests.factories import OrganizationFactory, billing_settings, delivered_boxes
from tests.threads import in_threads, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = Actor(ActorKind.USER, label="staff")


def _race(case, actions):
    """Run each action on a fresh copy of `case` at once, while the case row is held."""
    outcome = {}

    def act(i):
        fresh = ReturnRequest.objects.get(pk=case.pk)  # every thread reads the same status
        return actions[i](fresh)

    with transaction.atomic():
        ReturnRequest.objects.select_for_update().get(pk=case.pk)
        runner = threading.Thread(
            target=lambda: outcome.update(results=in_threads(len(actions), act))
        )
        runner.start()
        wait_for_lock_waiters(len(actions))
    runner.join(60)
    return outcome["results"]


@pytest.fixture
def approved():
    org = OrganizationFactory()
    billing_settings(org, gateway="test")
    shipment = delivered_boxes(org, delivered_at=timezone.now() - timedelta(days=1))[0]
    case = services.return_open(organization=org, shipment=shipment, reason="damaged", actor=STAFF)
    return services.return_approve(case=case, actor=STAFF)


def test_a_credit_and_a_replacement_at_once_give_one_resolution(approved):
    results = _race(
        approved,
        [
            lambda c: services.return_resolve(
                case=c, actor=STAFF, resolution="credit", amount="5.00"
            ),
            lambda c: services.return_resolve(case=c, actor=STAFF, resolution="replacement"),
        ],
    )
    done = [r for r in results if isinstance(r, ReturnRequest)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert (len(done), len(refused)) == (1, 1), results
    assert refused[0].status == 409
    approved.refresh_from_db()
    subscription = Subscription.objects.get(pk=approved.subscription_id)
    credits = SubscriptionEvent.objects.filter(subscription=subscription, kind="credit_granted")
    replacements = BatchLine.objects.filter(kind="replacement", subscription=subscription)
    if approved.resolution == "credit":
        assert (subscription.adjustment, credits.count(), replacements.count()) == (
            Decimal("-5.00"),
            1,
            0,
        )
    else:
        assert (subscription.adjustment, credits.count(), replacements.count()) == (0, 0, 1)
    assert approved.notes.filter(kind="status", to_status="resolved").count() == 1


def test_a_cancel_and_a_receive_at_once_one_wins(approved):
    results = _race(
        approved,
        [
            lambda c: services.return_cancel(case=c, actor=STAFF, reason="customer withdrew"),
            lambda c: services.return_receive(case=c, actor=STAFF),
        ],
    )
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "ReturnRequest"]
    approved.refresh_from_db()
    assert approved.status in ("canceled", "received")
    assert approved.notes.filter(kind="status").exclude(from_status="requested").count() == 1
