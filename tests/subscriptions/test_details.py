"""The contract and shipping address: changed in any status, the address change recorded;
a shop subscription's address is the shop's, a new contract the customer's or a general one."""

import pytest

from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from subscriptions.models import SubscriptionEvent
from subscriptions.services import subscription_change_details
from tests.factories import AddressFactory, ContractFactory, CustomerFactory, SubscriptionFactory

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


def test_a_shop_subscriptions_address_is_the_shops_and_staff_are_refused(org_a):
    # Given a subscription the WooCommerce shop manages, and another address of its customer
    subscription = SubscriptionFactory(
        customer__organization=org_a, status="active", source="woocommerce"
    )
    other = AddressFactory(customer=subscription.customer, organization=org_a)
    staff = Actor(ActorKind.USER, label="staff")

    # When staff change its address, then the service refuses and nothing changes
    with pytest.raises(ConflictError) as refused:
        subscription_change_details(subscription=subscription, actor=staff, shipping_address=other)
    assert "shipping_address" in refused.value.extra["fields"]
    subscription.refresh_from_db()
    assert subscription.shipping_address_id != other.pk
    assert not subscription.events.filter(kind="address_changed").exists()

    # The shop's synchronization may
    subscription_change_details(
        subscription=subscription, actor=Actor.woocommerce("shop"), shipping_address=other
    )
    subscription.refresh_from_db()
    assert subscription.shipping_address == other


def test_a_new_contract_is_the_customers_or_for_every_customer(org_a):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    theirs = ContractFactory(organization=org_a, customer=subscription.customer)
    general = ContractFactory(organization=org_a, customer=None)
    strangers = ContractFactory(organization=org_a, customer=CustomerFactory(organization=org_a))
    staff = Actor(ActorKind.USER, label="staff")

    # Another customer's contract is refused, on its field, and nothing changes
    with pytest.raises(ApplicationError) as refused:
        subscription_change_details(subscription=subscription, actor=staff, contract=strangers)
    assert "contract" in refused.value.extra["fields"]
    subscription.refresh_from_db()
    assert subscription.contract_id is None

    # The customer's own, or one for every customer, is taken
    for contract in (theirs, general):
        subscription_change_details(subscription=subscription, actor=staff, contract=contract)
        subscription.refresh_from_db()
        assert subscription.contract == contract
