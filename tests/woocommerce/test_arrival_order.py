"""A shop's history delivered shuffled, with duplicates, ends as if delivered once in order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from subscriptions.models import Subscription
from tests.helpers import gmt
from tests.woocommerce.conftest import sample
from woocommerce.models import WebhookDelivery, WooMapping

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def history(subscriptions: int = 4) -> list[tuple[str, dict]]:
    """Deliveries in the order the shop made them: per subscription, its creation, initial
    order, weekly renewals (pending, then paid or failed), suspensions and an ending."""
    rng = random.Random(7)
    events: list[tuple[datetime, str, dict]] = []
    for n in range(subscriptions):
        sub_id, start = 2000 + 10 * n, T0 + timedelta(hours=n)
        base = sample("subscription")
        base.update(
            id=sub_id,
            parent_id=sub_id + 1,
            customer_id=300 + n,
            billing={**base["billing"], "email": f"subscriber{n}@example.com"},
            billing_period="week",
            billing_interval="1",
            start_date_gmt=gmt(start),
            date_created_gmt=gmt(start),
        )

        def version(at, status, next_payment, base=base):
            payload = dict(base, status=status, date_modified_gmt=gmt(at))
            payload["next_payment_date_gmt"] = gmt(next_payment) if next_payment else ""
            return payload

        def order(order_id, at, status, modified, renewal_of=None, base=base):
            payload = sample("order")
            payload.update(
                id=order_id,
                customer_id=base["customer_id"],
                billing=base["billing"],
                status=status,
                total="12.00",
                date_created_gmt=gmt(at),
                date_modified_gmt=gmt(modified),
                date_paid_gmt=gmt(modified) if status == "completed" else None,
                meta_data=[{"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)}]
                if renewal_of
                else [],
            )
            return payload

        week = timedelta(weeks=1)
        events.append((start, "subscription.created", version(start, "pending", None)))
        events.append((start, "order.created", order(sub_id + 1, start, "pending", start)))
        paid_at = start + timedelta(minutes=1)
        events.append((paid_at, "order.updated", order(sub_id + 1, start, "completed", paid_at)))
        events.append((paid_at, "subscription.updated", version(paid_at, "active", start + week)))
        for cycle in range(1, 4):
            due = start + cycle * week
            renewal_id = sub_id + 1 + cycle
            events.append(
                (due, "order.created", order(renewal_id, due, "pending", due, renewal_of=sub_id))
            )
            events.append((due, "subscription.updated", version(due, "on-hold", due + week)))
            outcome = rng.choice(["completed", "completed", "failed"])
            settled = due + timedelta(hours=2)
            events.append(
                (
                    settled,
                    "order.updated",
                    order(renewal_id, due, outcome, settled, renewal_of=sub_id),
                )
            )
            if outcome == "completed":
                events.append(
                    (settled, "subscription.updated", version(settled, "active", due + week))
                )
        end = start + 4 * week
        final = ["active", "pending-cancel", "cancelled", "on-hold"][n % 4]
        events.append((end, "subscription.updated", version(end, final, end + week)))
    events.sort(key=lambda e: e[0])
    return [(topic, payload) for _at, topic, payload in events]


def state() -> list[tuple]:
    rows = []
    for mapping in WooMapping.objects.filter(resource="subscription").order_by("woo_id"):
        subscription = Subscription.objects.get(pk=mapping.object_id)
        rows.append(
            (
                mapping.woo_id,
                subscription.status,
                subscription.cancel_at_period_end,
                subscription.next_charge_at,
                subscription.customer.email,
                subscription.current_cycle,
                sorted(
                    subscription.charges.values_list(
                        "external_reference", "cycle", "status", "amount"
                    )
                ),
            )
        )
    return rows


def run(apply, deliveries) -> list[tuple]:
    for topic, payload in deliveries:
        apply(topic, payload)
    assert not WebhookDelivery.objects.filter(status="failed").exists(), list(
        WebhookDelivery.objects.filter(status="failed").values_list("error", flat=True)
    )
    return state()


def test_the_history_in_order_gives_the_expected_state(apply):
    final = run(apply, history())

    by_id = {row[0]: row for row in final}
    assert [by_id[w][1:3] for w in (2000, 2010, 2020, 2030)] == [
        ("active", False),
        ("active", True),
        ("canceled", False),
        # on hold at the end; its latest renewal was settled: paused, or past due if failed
        (by_id[2030][1], False),
    ]
    assert by_id[2030][1] in ("paused", "past_due")
    for row in final:
        charges = row[6]
        assert [c[1] for c in charges] == [0, 1, 2, 3]  # one charge per cycle, in order
        assert charges[0][2] == "paid"


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_duplicated_history_ends_in_the_same_state(apply, seed):
    deliveries = history()
    expected = run(apply, deliveries)
    # Start again from nothing, in the same database transaction.
    from crm.models import Customer, Product
    from subscriptions.models import SubscriptionEvent
    from woocommerce.models import WooOrder

    SubscriptionEvent.objects.all().delete()
    WooOrder.objects.all().delete()
    Subscription.objects.all().delete()
    WooMapping.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    Customer.objects.all().delete()
    Product.objects.all().delete()

    rng = random.Random(seed)
    chaos = deliveries + rng.sample(deliveries, k=len(deliveries) // 3)  # a third twice
    rng.shuffle(chaos)

    assert run(apply, chaos) == expected
