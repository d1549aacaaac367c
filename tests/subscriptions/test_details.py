"""The contract and shipping address: changed in any status, the address change recorded."""

import pytest

from core.actors import Actor
from core.errors import ApplicationError
from subscriptions.models import SubscriptionEvent
from subscriptions.services import subscription_change_details
from tests.factories import AddressFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_an_address_change_is_an_event_with_the_old_and_new_address(org_a):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    old = AddressFactory(customer=subscription.customer, organization=org_a)
    subscription.shipping_address = old
    subscription.save()
    new = AddressFactory(customer=subscription.customer, organization=org_a, city="Dijon")

    subscription_change_details(
        subscription=subscription, actor=Actor.system("staff"), shipping_address=new
    )

    subscription.refresh_from_db()
    assert subscription.shipping_address == new
    event = subscription.events.get(kind=SubscriptionEvent.Kind.ADDRESS_CHANGED)
    assert event.data == {"from": old.pk, "to": new.pk}
    # The same address again changes nothing and records nothing.
    subscription_change_details(
        subscription=subscription, actor=Actor.system("staff"), shipping_address=new
    )
    assert subscription.events.filter(kind="address_changed").count() == 1


def test_another_customers_address_is_refused_and_nothing_changes(org_a):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    stranger = AddressFactory(customer__organization=org_a, organization=org_a)
    with pytest.raises(ApplicationError) as error:
        subscription_change_details(
            subscription=subscription, actor=Actor.system(), shipping_address=stranger
        )
    assert "shipping_address" in error.value.extra["fields"]
    subscription.refresh_from_db()
    assert subscription.shipping_address_id != stranger.pk
    assert not subscription.events.filter(kind="address_changed").exists()
