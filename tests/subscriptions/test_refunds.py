"""Money given back: refunds recorded against a charge, credits the next charges deduct."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import ChargeFactory, ProductFactory, SubscriptionFactory, billing_settings

pytestmark = pytest.mark.django_db

STAFF = Actor.system("after-sales desk")
Kind = SubscriptionEvent.Kind


@pytest.fixture
def subscription(org_a):
    """Active, 12.50 a month; cycle 0 paid."""
    billing_settings(org_a, gateway="test")
    product = ProductFactory(organization=org_a, unit_price=Decimal("12.50"))
    return SubscriptionFactory(customer__organization=org_a, status="active", items=[(product, 1)])


@pytest.fixture
def charge(subscription):
    charge = subscription.charges.get()
    assert (charge.status, charge.amount) == ("paid", Decimal("12.50"))
    return charge


def _state(charge):
    charge = Charge.objects.get(pk=charge.pk)
    return (
        charge.status,
        charge.refunded_amount,
        SubscriptionEvent.objects.filter(subscription_id=charge.subscription_id).count(),
    )


# --- Refunds -----------------------------------------------------------------------


def test_a_partial_refund_then_the_rest_refunds_the_charge(charge):
    services.charge_refund(charge=charge, amount="5.00", actor=STAFF, reason="Case 3")

    charge.refresh_from_db()
    assert (charge.status, charge.refunded_amount, charge.refundable) == (
        "paid",
        Decimal("5.00"),
        Decimal("7.50"),
    )
    first = charge.subscription.events.get(kind=Kind.CHARGE_REFUNDED)
    assert first.data == {"charge": charge.pk, "cycle": 0, "amount": "5.00", "refunded": "5.00"}
    assert (first.reason, first.actor_label) == ("Case 3", "after-sales desk")

    services.charge_refund(charge=charge, amount=Decimal("7.5"), actor=STAFF)

    charge.refresh_from_db()
    assert (charge.status, charge.refunded_amount, charge.refundable) == (
        "refunded",
        Decimal("12.50"),
        Decimal("0.00"),
    )
    events = charge.subscription.events.filter(kind=Kind.CHARGE_REFUNDED).order_by("id")
    assert [(e.data["amount"], e.data["refunded"]) for e in events] == [
        ("5.00", "5.00"),
        ("7.50", "12.50"),
    ]


def test_a_refund_larger_than_what_is_left_is_refused(charge):
    services.charge_refund(charge=charge, amount="10", actor=STAFF)
    before = _state(charge)

    with pytest.raises(ApplicationError) as refused:
        services.charge_refund(charge=charge, amount="2.51", actor=STAFF)

    assert refused.value.status == 400
    assert refused.value.extra["fields"] == {
        "amount": ["At most 2.50 EUR of this charge can still be refunded."]
    }
    assert _state(charge) == before


def test_a_refunded_charge_cannot_be_refunded_again(charge):
    services.charge_refund(charge=charge, amount="12.50", actor=STAFF)
    before = _state(charge)

    with pytest.raises(ConflictError):
        services.charge_refund(charge=charge, amount="0.01", actor=STAFF)

    assert _state(charge) == before


@pytest.mark.parametrize("status", ["scheduled", "pending", "failed", "voided"])
def test_only_a_paid_charge_can_be_refunded(subscription, status):
    unpaid = ChargeFactory(subscription=subscription, cycle=1, status=status)
    before = _state(unpaid)

    with pytest.raises(ConflictError) as refused:
        services.charge_refund(charge=unpaid, amount="1", actor=STAFF)

    assert refused.value.status == 409
    assert refused.value.extra == {"charge": unpaid.pk, "status": status}
    assert _state(unpaid) == before


BAD_AMOUNTS = ["0", "0.00", "0.004", "-1", "-0.01", "abc", "", None, "NaN", "Infinity", "1,50"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_refund_needs_a_positive_amount(charge, amount):
    before = _state(charge)

    with pytest.raises(ApplicationError) as refused:
        services.charge_refund(charge=charge, amount=amount, actor=STAFF)

    assert refused.value.status == 400
    assert list(refused.value.extra["fields"]) == ["amount"]
    assert _state(charge) == before


def test_a_shop_charge_is_refunded_in_the_shop(org_a):
    shop = SubscriptionFactory(customer__organization=org_a, status="active", source="woocommerce")
    charge = shop.charges.get()
    before = _state(charge)

    with pytest.raises(ConflictError, match="refund it in the shop"):
        services.charge_refund(charge=charge, amount="1", actor=STAFF)

    assert _state(charge) == before


# --- Credits -----------------------------------------------------------------------


def _credit_state(subscription):
    subscription = Subscription.objects.get(pk=subscription.pk)
    return subscription.adjustment, subscription.events.count()


def test_a_credit_moves_the_adjustment_by_exactly_its_amount(subscription):
    Subscription.objects.filter(pk=subscription.pk).update(adjustment=Decimal("1.20"))  # pro rata

    services.subscription_credit(
        subscription=subscription, amount="4.30", actor=STAFF, reason="Case 7"
    )

    subscription.refresh_from_db()
    assert subscription.adjustment == Decimal("-3.10")
    event = subscription.events.get(kind=Kind.CREDIT_GRANTED)
    assert event.data == {"amount": "4.30", "adjustment": "-3.10"}
    assert event.reason == "Case 7"


def _charge_next_cycle(subscription) -> Charge:
    """As the renewal run does: create the due charge, then send it (a 0.00 one is paid as is)."""
    subscription.refresh_from_db()
    moment = subscription.next_charge_at + timedelta(seconds=1)
    assert renewals.create_due_charges(now=moment, subscription_ids=[subscription.pk]) == 1
    charge = Charge.objects.get(subscription=subscription, cycle=subscription.next_cycle)
    renewals.attempt_charges(now=moment, actor=STAFF, report=renewals.RenewalReport())
    charge.refresh_from_db()
    return charge


def test_a_credit_larger_than_the_next_charge_leaves_the_rest_for_the_one_after(subscription):
    services.subscription_credit(subscription=subscription, amount="20.00", actor=STAFF)

    first = _charge_next_cycle(subscription)

    assert (first.cycle, first.amount, first.adjustment) == (
        1,
        Decimal("0.00"),
        Decimal("-12.50"),
    )
    assert first.status == "paid"  # nothing to take: no gateway asked
    subscription.refresh_from_db()
    assert subscription.adjustment == Decimal("-7.50")

    second = _charge_next_cycle(subscription)

    assert (second.cycle, second.amount, second.adjustment) == (
        2,
        Decimal("5.00"),
        Decimal("-7.50"),
    )
    subscription.refresh_from_db()
    assert subscription.adjustment == Decimal("0.00")


@pytest.mark.parametrize("status", ["canceled", "expired"])
def test_a_credit_is_refused_when_no_charge_will_come(org_a, status):
    ended = SubscriptionFactory(customer__organization=org_a, status=status)
    before = _credit_state(ended)

    with pytest.raises(ConflictError) as refused:
        services.subscription_credit(subscription=ended, amount="5", actor=STAFF)

    assert refused.value.extra == {"status": status}
    assert _credit_state(ended) == before


def test_a_credit_is_refused_on_a_shop_subscription(org_a):
    shop = SubscriptionFactory(customer__organization=org_a, status="active", source="woocommerce")
    before = _credit_state(shop)

    with pytest.raises(ConflictError, match="WooCommerce"):
        services.subscription_credit(subscription=shop, amount="5", actor=STAFF)

    assert _credit_state(shop) == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_credit_needs_a_positive_amount(subscription, amount):
    before = _credit_state(subscription)

    with pytest.raises(ApplicationError) as refused:
        services.subscription_credit(subscription=subscription, amount=amount, actor=STAFF)

    assert refused.value.status == 400
    assert list(refused.value.extra["fields"]) == ["amount"]
    assert _credit_state(subscription) == before


def test_a_credit_too_large_to_store_is_refused_as_bad_input(subscription):
    before = _credit_state(subscription)

    with pytest.raises(ApplicationError) as refused:
        services.subscription_credit(subscription=subscription, amount="100000000", actor=STAFF)

    assert list(refused.value.extra["fields"]) == ["amount"]
    assert _credit_state(subscription) == before
