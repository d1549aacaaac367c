"""After-sales on a shop subscription: the shop makes the refund, and says when it is done."""

from datetime import timedelta

from core.actors import Actor
from fulfillment import services as fulfillment
from fulfillment.models import BatchLine
from returns import services
from returns.models import ReturnRequest
from subscriptions.models import Charge
from tests.factories import open_batch
from tests.woocommerce.conftest import later, sample
from tests.woocommerce.test_handlers import subscription_1275

STAFF = Actor.system("after-sales desk")


def test_a_refund_waits_for_the_shop_and_the_shops_refund_closes_it(apply, store):
    _parent, renewal = sample("subscription_orders")
    apply("subscription.created", subscription_1275())
    paid = later(renewal, status="processing", date_paid_gmt="2021-04-19T08:00:00")
    apply("order.created", paid)
    charge = Charge.objects.get(external_reference="1276")
    assert charge.status == Charge.Status.PAID
    cutoff = charge.period_start + timedelta(hours=1)
    batch = open_batch(
        store.organization, cutoff, starts_at=charge.period_start - timedelta(days=6)
    )
    fulfillment.batch_lock(batch=batch, actor=STAFF, now=cutoff + timedelta(minutes=1))
    line = BatchLine.objects.get(batch=batch, subscription=charge.subscription)
    fulfillment.line_prepare(line=line, actor=STAFF)
    fulfillment.batch_dispatch(batch=batch, actor=STAFF)
    shipment = line.shipment
    fulfillment.shipment_transition(shipment=shipment, action="deliver", actor=STAFF)

    case = services.return_open(
        organization=store.organization, shipment=shipment, reason="damaged", actor=STAFF
    )
    services.return_approve(case=case, actor=STAFF)
    services.return_resolve(case=case, actor=STAFF, resolution="refund", amount=charge.amount)
    case.refresh_from_db()
    charge.refresh_from_db()
    assert (case.status, case.refund, case.charge) == ("resolved", "to_refund_in_shop", charge)
    assert "1276" in case.notes.get(kind="refund").text
    assert (charge.status, charge.refunded_amount) == ("paid", 0)  # the shop has the money

    apply("order.updated", later(paid, status="refunded", date_modified_gmt="2021-04-25T08:00:00"))

    case.refresh_from_db()
    assert case.refund == ReturnRequest.Refund.REFUNDED_IN_SHOP
    latest = case.notes.latest("id")
    assert (latest.kind, latest.actor_kind) == ("refund", "woocommerce")
    assert "1276" in latest.text
