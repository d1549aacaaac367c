"""Locking a batch at its cut-off: who is in it, what each box holds, exactly once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import Actor
from core.errors import ConflictError
from crm.models import Address, Customer
from fulfillment import services
from fulfillment.models import Batch, BatchLine
from fulfillment.services import batch_lock, lock_due_batches
from subscriptions import renewals
from subscriptions.models import Charge, Subscription, SubscriptionItem
from tests.factories import (
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    coffee_schema,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris


def weekly(org, anchor, **kwargs):
    return SubscriptionFactory(
        customer__organization=org,
        status="active",
        billing_period="week",
        billing_anchor=anchor,
        **kwargs,
    )


def test_smoke_lock_writes_one_line_per_due_cycle(org_a):
    billing_settings(org_a)
    batch = open_batch(org_a, CUTOFF)
    due = weekly(org_a, CUTOFF - timedelta(days=9))  # cycle 1 starts Monday, in the window
    new = weekly(org_a, CUTOFF - timedelta(days=6, hours=23))  # its cycle 0 is in the window
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        report = lock_due_batches()
        again = lock_due_batches()
    batch.refresh_from_db()
    assert batch.status == Batch.Status.LOCKED
    assert report.locked == [batch.pk]
    assert again.locked == []
    lines = list(BatchLine.objects.filter(batch=batch))
    assert [(line.subscription_id, line.cycle, line.status) for line in lines] == [
        (due.pk, 1, "ready"),
        (new.pk, 0, "ready"),
    ]
    assert lines[0].items[0]["quantity"] == 1
    nxt = Batch.objects.get(organization=org_a, status="open")
    assert nxt.starts_at == CUTOFF
    assert nxt.cutoff_at == CUTOFF + timedelta(days=7)


def bulk_due(org, count: int, *, window_start: datetime) -> None:
    """`count` weekly subscribers whose paid cycle 1 starts in the window (set-based)."""
    product = ProductFactory(organization=org)
    customers = Customer.objects.bulk_create(
        Customer(organization=org, email=f"bulk{i}@example.com", first_name=f"C{i}")
        for i in range(count)
    )
    addresses = Address.objects.bulk_create(
        Address(
            organization=org,
            customer=c,
            name=c.first_name,
            line1="1 rue",
            postcode="69001",
            city="Lyon",
            country="FR",
        )
        for c in customers
    )
    anchor = window_start - timedelta(days=6)
    subscriptions = Subscription.objects.bulk_create(
        Subscription(
            organization=org,
            customer=c,
            status="active",
            billing_period="week",
            billing_anchor=anchor,
            started_at=anchor,
            currency="EUR",
            current_cycle=1,
            next_cycle=2,
            next_charge_at=anchor + timedelta(days=14),
            shipping_address=a,
        )
        for c, a in zip(customers, addresses, strict=True)
    )
    SubscriptionItem.objects.bulk_create(
        SubscriptionItem(
            organization=org, subscription=s, product=product, quantity=2, unit_price=10
        )
        for s in subscriptions
    )
    Charge.objects.bulk_create(
        Charge(
            organization=org,
            subscription=s,
            cycle=1,
            period_start=anchor + timedelta(days=7),
            period_end=anchor + timedelta(days=14),
            amount=20,
            currency="EUR",
            status="paid",
        )
        for s in subscriptions
    )


def lock_queries(org, count: int) -> tuple[int, int]:
    coffee_schema(org)
    batch = open_batch(org, CUTOFF)
    bulk_due(org, count, window_start=batch.starts_at)
    with CaptureQueriesContext(connection) as queries:
        report = lock_due_batches(now=CUTOFF + timedelta(minutes=1))
    assert report.lines == count
    return len(queries), BatchLine.objects.filter(batch=batch, status="ready").count()


def test_locking_ten_thousand_subscriptions_takes_as_many_queries_as_locking_ten():
    small = OrganizationFactory()
    large = OrganizationFactory()
    few, few_lines = lock_queries(small, 10)
    many, many_lines = lock_queries(large, 10_000)
    assert (few_lines, many_lines) == (10, 10_000)
    assert many == few, (few, many)
    assert few <= 30


def test_an_early_lock_by_staff_moves_the_cutoff_to_now_and_keeps_the_calendar(org_a):
    batch = open_batch(org_a, CUTOFF)
    early = CUTOFF - timedelta(days=1)
    with time_machine.travel(early, tick=False):
        batch_lock(batch=batch, actor=Actor.system())
    batch.refresh_from_db()
    assert (batch.status, batch.cutoff_at) == ("locked", early)
    nxt = Batch.objects.get(organization=org_a, status="open")
    # The next batch covers from the early lock and closes at the usual cut-off.
    assert (nxt.starts_at, nxt.cutoff_at) == (early, CUTOFF + timedelta(days=7))


def test_locking_a_batch_that_is_not_open_is_refused_and_changes_nothing(org_a):
    batch = open_batch(org_a, CUTOFF, status="locked")
    with pytest.raises(ConflictError, match="locked"):
        batch_lock(batch=batch, actor=Actor.system())
    assert not Batch.objects.filter(organization=org_a, status="open").exists()


def test_a_batch_that_fails_to_lock_does_not_hold_back_the_others(monkeypatch):
    first, second = OrganizationFactory(), OrganizationFactory()
    broken = open_batch(first, CUTOFF - timedelta(hours=1))  # the earliest: tried first
    fine = open_batch(second, CUTOFF)
    insert = services.insert_lines

    def fail_for_the_first(*, batch, boxes, now):
        if batch.pk == broken.pk:
            raise RuntimeError("disk full")
        return insert(batch=batch, boxes=boxes, now=now)

    monkeypatch.setattr(services, "insert_lines", fail_for_the_first)
    report = lock_due_batches(now=CUTOFF + timedelta(minutes=1))

    assert (report.locked, report.failed) == ([fine.pk], [broken.pk])
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.status, fine.status) == ("open", "locked")
    # Nothing half-done for the broken one: no next batch, retried at the next run.
    assert Batch.objects.filter(organization=first).count() == 1
    monkeypatch.setattr(services, "insert_lines", insert)
    assert lock_due_batches(now=CUTOFF + timedelta(minutes=2)).locked == [broken.pk]
