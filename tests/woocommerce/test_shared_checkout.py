"""One checkout, several subscriptions: the initial order pays the first cycle of each.

WooCommerce Subscriptions makes one subscription per billing schedule from one
cart, each naming the same initial order (`parent_id`). Whatever order the
order and the subscriptions arrive in, each subscription gets a paid cycle 0 for
the amount of its own lines, and every box of that checkout ships.
"""

from __future__ import annotations

import copy
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from core.actors import Actor
from fulfillment import services as fulfillment
from fulfillment.models import BatchLine
from tests.conftest import wait_until
from tests.factories import open_batch
from tests.woocommerce.conftest import later, sample
from tests.woocommerce.test_handlers import mapped, utc
from woocommerce.models import WebhookDelivery, WooOrder

pytestmark = pytest.mark.django_db
STAFF = Actor.system("packing room")
PARENT = 1299
WEEKLY, QUARTERLY = 1300, 1313


def checkout() -> dict[str, dict]:
    """The shop's payloads of one paid checkout: a weekly coffee (subscription 1300) and a
    quarterly box (1313) bought together, both started by order 1299."""
    weekly = sample("subscription")  # 1300, weekly, parent order 1299
    quarterly = sample("subscription_created")  # 1313, every 3 months
    quarterly.update(
        parent_id=PARENT,
        customer_id=weekly["customer_id"],
        billing=weekly["billing"],
        shipping=weekly["shipping"],
        start_date_gmt=weekly["start_date_gmt"],
        date_created_gmt=weekly["date_created_gmt"],
        next_payment_date_gmt="2021-07-22T10:44:41",
    )
    order = sample("order")
    lines = copy.deepcopy(weekly["line_items"] + quarterly["line_items"])
    for n, line in enumerate(lines):
        line["id"] = 5000 + n  # an order's lines are its own rows in the shop
    order.update(
        id=PARENT,
        number=str(PARENT),
        customer_id=weekly["customer_id"],
        billing=weekly["billing"],
        shipping=weekly["shipping"],
        currency="USD",
        status="processing",
        line_items=lines,
        total="202.61",  # 10.00 + 182.61 of lines, 10.00 of shipping
        date_created_gmt=weekly["start_date_gmt"],
        date_modified_gmt="2021-04-22T10:45:30",
        date_paid_gmt="2021-04-22T10:45:30",
    )
    return {"order": order, "weekly": weekly, "quarterly": quarterly}


TOPICS = {
    "order": "order.created",
    "weekly": "subscription.created",
    "quarterly": "subscription.created",
}


def cycle_zero(woo_id: int) -> tuple:
    charge = mapped("subscription", woo_id).charges.get()
    return (charge.cycle, charge.status, charge.amount, charge.currency, charge.external_reference)


def ship_the_week(organization) -> list[BatchLine]:
    """Lock the batch of the checkout's week, pack every box, dispatch (the services)."""
    cutoff = utc("2021-04-22T12:00:00")
    batch = open_batch(organization, cutoff, starts_at=cutoff - timedelta(days=7))
    fulfillment.batch_lock(batch=batch, actor=STAFF, now=cutoff + timedelta(minutes=1))
    lines = list(BatchLine.objects.filter(batch=batch).order_by("subscription_id"))
    report = fulfillment.lines_prepare(
        organization=organization, line_ids=[line.pk for line in lines], actor=STAFF
    )
    assert report.refused == {}
    dispatched = fulfillment.batch_dispatch(batch=batch, actor=STAFF)
    assert dispatched.shipped == len(lines)
    return list(BatchLine.objects.filter(batch=batch).order_by("subscription_id"))


def assert_both_paid_and_shipped(organization) -> None:
    # Each subscription's cycle 0 is paid by the order, for its own lines (tax included)
    assert cycle_zero(WEEKLY) == (0, "paid", Decimal("10.00"), "USD", str(PARENT))
    assert cycle_zero(QUARTERLY) == (0, "paid", Decimal("182.61"), "USD", str(PARENT))
    for woo_id in (WEEKLY, QUARTERLY):
        subscription = mapped("subscription", woo_id)
        assert subscription.current_cycle == 0
        assert subscription.current_period_start == utc("2021-04-22T10:44:41")
    order = WooOrder.objects.get(woo_id=PARENT)
    assert sorted(order.links.values_list("woo_subscription_id", flat=True)) == [
        WEEKLY,
        QUARTERLY,
    ]
    # And both boxes of the checkout ship at the next dispatch
    lines = ship_the_week(organization)
    assert {(line.subscription_id, line.cycle, line.status) for line in lines} == {
        (mapped("subscription", WEEKLY).pk, 0, "shipped"),
        (mapped("subscription", QUARTERLY).pk, 0, "shipped"),
    }
    assert all(line.shipment.status == "created" for line in lines)
    # Every copy of the address keeps the shop's state (Queensland)
    assert {(line.address["state"], line.shipment.address["state"]) for line in lines} == {
        ("QLD", "QLD")
    }


@pytest.mark.parametrize(
    "arrival", list(itertools.permutations(["order", "weekly", "quarterly"])), ids="-".join
)
def test_each_subscription_of_a_checkout_gets_its_paid_first_cycle_in_any_arrival_order(
    apply, store, arrival
):
    payloads = checkout()
    for name in arrival:
        delivery = apply(TOPICS[name], payloads[name])
        assert delivery.status == WebhookDelivery.Status.PROCESSED, delivery.error

    assert_both_paid_and_shipped(store.organization)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_applies_a_checkout_arriving_subscriptions_first(celery_worker, deliver, store):
    payloads = checkout()
    for name in ("quarterly", "weekly", "order"):
        assert deliver(TOPICS[name], payloads[name]).status_code == 200

    def applied() -> bool:
        statuses = set(WebhookDelivery.objects.values_list("status", flat=True))
        return statuses == {WebhookDelivery.Status.PROCESSED}

    assert wait_until(applied, timeout=60), "".join(celery_worker.output[-30:])
    assert WebhookDelivery.objects.count() == 3
    assert_both_paid_and_shipped(store.organization)


def test_the_order_paid_later_pays_both_and_a_refund_refunds_both(apply, store):
    payloads = checkout()
    pending = dict(payloads["order"], status="pending", date_paid_gmt=None)
    apply("order.created", pending)
    apply("subscription.created", payloads["weekly"])
    apply("subscription.created", payloads["quarterly"])
    assert [cycle_zero(w)[1] for w in (WEEKLY, QUARTERLY)] == ["pending", "pending"]

    apply("order.updated", later(pending, status="processing", date_paid_gmt="2021-04-22T10:46:00"))
    assert [cycle_zero(w)[1] for w in (WEEKLY, QUARTERLY)] == ["paid", "paid"]

    apply("order.updated", later(pending, seconds=3600, status="refunded"))
    assert [cycle_zero(w)[1] for w in (WEEKLY, QUARTERLY)] == ["refunded", "refunded"]


def test_a_subscription_whose_lines_changed_since_the_checkout_counts_its_own_lines(apply):
    payloads = checkout()
    switched = payloads["quarterly"]
    switched["line_items"] = [dict(switched["line_items"][0], product_id=4242, variation_id=0)]
    for name in ("order", "weekly", "quarterly"):
        apply(TOPICS[name], payloads[name])

    # Its lines are no longer in the order: it is counted at its own lines' amount
    assert cycle_zero(QUARTERLY)[2] == Decimal("139.13")  # 126.48 + 12.65
    assert cycle_zero(WEEKLY)[2] == Decimal("10.00")


def test_an_initial_order_of_one_subscription_is_its_whole_total(apply):
    payloads = checkout()
    apply("subscription.created", payloads["weekly"])
    apply("order.created", payloads["order"])

    assert cycle_zero(WEEKLY)[2] == Decimal("202.61")
    order = WooOrder.objects.get(woo_id=PARENT)
    assert order.billing_address.state == "QLD"  # the order's billing address is kept
