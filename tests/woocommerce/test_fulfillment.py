"""Charge-then-ship for a shop's subscription: its box waits for the renewal order's payment."""

from datetime import timedelta

from fulfillment.models import BatchLine
from fulfillment.services import lock_due_batches
from subscriptions.models import Charge
from tests.factories import open_batch
from tests.woocommerce.conftest import later, sample
from tests.woocommerce.test_handlers import subscription_1275


def test_a_box_waits_for_its_renewal_order_then_is_ready_when_the_shop_is_paid(apply, store):
    _parent, renewal = sample("subscription_orders")
    apply("subscription.created", subscription_1275())
    apply("order.created", renewal)  # the renewal order, not paid yet
    charge = Charge.objects.get(external_reference="1276")
    assert charge.status == Charge.Status.PENDING
    # The week in which the renewal falls is locked.
    cutoff = charge.period_start + timedelta(hours=1)
    batch = open_batch(
        store.organization, cutoff, starts_at=charge.period_start - timedelta(days=6)
    )
    lock_due_batches(now=cutoff + timedelta(minutes=1))
    line = BatchLine.objects.get(batch=batch, subscription=charge.subscription)
    assert (line.cycle, line.status, line.charge_id) == (
        charge.cycle,
        "awaiting_payment",
        charge.pk,
    )

    apply("order.updated", later(renewal, status="processing", date_paid_gmt="2021-04-19T08:00:00"))

    line.refresh_from_db()
    assert line.status == "ready"
