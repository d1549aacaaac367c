"""After-sales on a WooCommerce box: the shop took the money, the shop gives it back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from returns import services
from returns.models import ReturnNote, ReturnRequest
from returns.selectors import case_timeline
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import delivered_boxes

pytestmark = pytest.mark.django_db

ORDER = "1276"


@pytest.fixture
def shop_box(org_a):
    """A box of a shop subscription, delivered yesterday; its charge is the shop's order 1276."""
    shipment = delivered_boxes(
        org_a,
        delivered_at=timezone.now() - timedelta(days=1),
        source=Subscription.Source.WOOCOMMERCE,
    )[0]
    charge = shipment.line.charge
    assert (charge.status, charge.subscription.source) == ("paid", "woocommerce")
    Charge.objects.filter(pk=charge.pk).update(external_reference=ORDER, gateway="woocommerce")
    return shipment


def approved_case(org, shipment, staff):
    actor = Actor.for_user(staff)
    case = services.return_open(organization=org, shipment=shipment, reason="damaged", actor=actor)
    return services.return_approve(case=case, actor=actor)


def _money(shipment):
    charge = Charge.objects.get(pk=shipment.line.charge_id)
    subscription = Subscription.objects.get(pk=charge.subscription_id)
    return (
        charge.status,
        charge.refunded_amount,
        subscription.adjustment,
        SubscriptionEvent.objects.filter(subscription=subscription).count(),
    )


def test_a_refund_is_to_be_made_in_the_shop_and_staff_confirm_it(org_a, shop_box, staff_user_a):
    case = approved_case(org_a, shop_box, staff_user_a)
    money = _money(shop_box)
    actor = Actor.for_user(staff_user_a)

    services.return_resolve(case=case, actor=actor, resolution="refund", amount="7.50")

    case.refresh_from_db()
    assert (case.status, case.resolution, case.refund) == (
        "resolved",
        "refund",
        "to_refund_in_shop",
    )
    assert (case.amount, case.charge_id) == (Decimal("7.50"), shop_box.line.charge_id)
    # The timeline says what to do, and on which order.
    refund = case_timeline(case=case).get(kind=ReturnNote.Kind.REFUND)
    assert ORDER in refund.text
    assert "7.50" in refund.text
    assert refund.actor_user == staff_user_a
    # Nothing moved on our side: the money is the shop's.
    assert _money(shop_box) == money
    assert not SubscriptionEvent.objects.filter(kind="charge_refunded").exists()

    services.return_confirm_shop_refund(case=case, actor=actor, note="Refund #88 in WooCommerce")

    case.refresh_from_db()
    assert case.refund == ReturnRequest.Refund.REFUNDED_IN_SHOP
    confirmed = case_timeline(case=case).filter(kind=ReturnNote.Kind.REFUND).last()
    assert (confirmed.text, confirmed.actor_user) == ("Refund #88 in WooCommerce", staff_user_a)
    assert _money(shop_box) == money

    notes = case.notes.count()
    with pytest.raises(ConflictError) as again:
        services.return_confirm_shop_refund(case=case, actor=actor)
    assert again.value.status == 409
    assert again.value.extra == {"refund": "refunded_in_shop"}
    case.refresh_from_db()
    assert (case.refund, case.notes.count()) == ("refunded_in_shop", notes)


def test_a_shop_refund_cannot_exceed_the_order(org_a, shop_box, staff_user_a):
    case = approved_case(org_a, shop_box, staff_user_a)
    order_total = shop_box.line.charge.amount
    notes = case.notes.count()

    with pytest.raises(ApplicationError) as refused:
        services.return_resolve(
            case=case,
            actor=Actor.for_user(staff_user_a),
            resolution="refund",
            amount=order_total + Decimal("0.01"),
        )

    assert "amount" in refused.value.extra["fields"]
    case.refresh_from_db()
    assert (case.status, case.refund, case.amount, case.notes.count()) == (
        "approved",
        "",
        None,
        notes,
    )


def test_nothing_to_confirm_on_a_case_without_a_shop_refund(org_a, shop_box, staff_user_a):
    case = approved_case(org_a, shop_box, staff_user_a)
    with pytest.raises(ConflictError):
        services.return_confirm_shop_refund(case=case, actor=Actor.for_user(staff_user_a))
    case.refresh_from_db()
    assert case.refund == ""


def test_a_credit_on_a_shop_subscription_is_refused_and_writes_nothing(
    org_a, shop_box, staff_user_a
):
    case = approved_case(org_a, shop_box, staff_user_a)
    money = _money(shop_box)
    notes = case.notes.count()

    with pytest.raises(ApplicationError) as refused:
        services.return_resolve(
            case=case, actor=Actor.for_user(staff_user_a), resolution="credit", amount="5"
        )

    assert "WooCommerce" in refused.value.message
    assert refused.value.extra == {"source": "woocommerce"}
    case.refresh_from_db()
    assert (case.status, case.resolution, case.amount, case.notes.count()) == (
        "approved",
        "",
        None,
        notes,
    )
    assert _money(shop_box) == money
