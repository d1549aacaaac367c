"""`subscription_mirror`: a shop's subscription follows the shop, and only a shop's."""

import pytest

from core.actors import Actor
from core.errors import ConflictError
from subscriptions.models import Subscription, SubscriptionEvent
from subscriptions.services import subscription_mirror
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db
Status = Subscription.Status


def _items(subscription):
    return [
        {"product": i.product_id, "quantity": i.quantity, "unit_price": i.unit_price}
        for i in subscription.items.all()
    ]


def test_a_native_subscription_is_never_mirrored(org_a):
    native = SubscriptionFactory(customer__organization=org_a, status=Status.ACTIVE)

    with pytest.raises(ConflictError, match="not managed by the shop"):
        subscription_mirror(
            organization=org_a,
            subscription=native,
            customer=native.customer,
            status=Status.CANCELED,
            fields={},
            items=_items(native),
            actor=Actor.woocommerce(),
        )
    native.refresh_from_db()
    assert native.status == Status.ACTIVE
    assert not SubscriptionEvent.objects.filter(subscription=native).exists()


def test_any_status_follows_any_other_and_nothing_new_writes_nothing(org_a):
    shop = SubscriptionFactory(customer__organization=org_a, status=Status.ACTIVE)
    Subscription.objects.filter(pk=shop.pk).update(source=Subscription.Source.WOOCOMMERCE)
    shop.refresh_from_db()
    actor = Actor.woocommerce("WooCommerce: test")

    def mirror(status):
        return subscription_mirror(
            organization=org_a,
            subscription=shop,
            customer=shop.customer,
            status=status,
            fields={},
            items=_items(shop),
            actor=actor,
        )

    for status in (Status.EXPIRED, Status.PENDING, Status.PAST_DUE, Status.ACTIVE):
        _row, changed = mirror(status)
        assert changed
    _row, changed = mirror(Status.ACTIVE)

    assert changed is False
    events = list(
        SubscriptionEvent.objects.filter(subscription=shop)
        .order_by("id")
        .values_list("kind", "from_status", "to_status")
    )
    assert events == [
        ("expired", "active", "expired"),
        ("updated", "expired", "pending"),
        ("past_due", "pending", "past_due"),
        ("recovered", "past_due", "active"),
    ]
