"""A charge of a subscription the WooCommerce shop manages is the shop's: staff cannot mark it
paid or failed here. The rule is the service's (`charge_mark_paid`, `charge_mark_failed`);
the admin shows its refusal and the API offers no way around it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from core.actors import Actor
from core.errors import ConflictError
from subscriptions import services
from subscriptions.models import Charge, Subscription
from tests.factories import ChargeFactory, CustomerFactory, SubscriptionFactory, api_key_for

pytestmark = pytest.mark.django_db

REFUSAL = "A WooCommerce charge is recorded by the shop, not here."


@pytest.fixture
def shop_charge(org_a) -> Charge:
    """A pending charge of an active subscription the shop charges."""
    subscription = SubscriptionFactory(
        customer=CustomerFactory(organization=org_a),
        status=Subscription.Status.ACTIVE,
        source=Subscription.Source.WOOCOMMERCE,
    )
    return ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.PENDING)


def _row(charge: Charge) -> tuple:
    charge.refresh_from_db()
    subscription = charge.subscription
    subscription.refresh_from_db()
    return (
        charge.status,
        charge.attempts,
        charge.paid_at,
        subscription.status,
        subscription.current_cycle,
        subscription.events.count(),
    )


@pytest.mark.parametrize(
    ("mark", "kwargs"),
    [(services.charge_mark_paid, {}), (services.charge_mark_failed, {"reason": "Bounced"})],
)
def test_marking_a_shop_charge_is_refused_and_changes_nothing(
    shop_charge, staff_user_a, mark, kwargs
):
    before = _row(shop_charge)

    with pytest.raises(ConflictError) as refused:
        mark(charge=shop_charge, actor=Actor.for_user(staff_user_a), **kwargs)

    assert refused.value.status == 409
    assert refused.value.message == REFUSAL
    assert refused.value.extra == {"charge": shop_charge.pk, "source": "woocommerce"}
    assert _row(shop_charge) == before


def test_the_refusal_is_in_french_for_a_french_reader(shop_charge, staff_user_a):
    with translation.override("fr"), pytest.raises(ConflictError) as refused:
        services.charge_mark_paid(charge=shop_charge, actor=Actor.for_user(staff_user_a))

    assert (
        refused.value.message
        == "Une échéance WooCommerce est enregistrée par la boutique, pas ici."
    )


def test_a_native_charge_is_still_marked_paid(org_a, staff_user_a):
    subscription = SubscriptionFactory(customer=CustomerFactory(organization=org_a))
    charge = ChargeFactory(subscription=subscription, status=Charge.Status.PENDING)

    services.charge_mark_paid(charge=charge, actor=Actor.for_user(staff_user_a))

    charge.refresh_from_db()
    assert charge.status == Charge.Status.PAID


def test_the_admin_shows_the_services_refusal(shop_charge, staff_user_a):
    client = Client()
    client.force_login(staff_user_a)
    before = _row(shop_charge)

    response = client.post(
        "/admin/subscriptions/charge/",
        {"action": "mark_paid", "_selected_action": [shop_charge.pk]},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == [f"Charge {shop_charge}: {REFUSAL}"]
    assert _row(shop_charge) == before


def test_the_api_has_no_way_to_mark_a_charge_paid(shop_charge, org_a):
    """The API only lists charges: whatever is posted there, the shop's charge stays as it is."""
    _key, secret = api_key_for(org_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    url = f"/api/v1/subscriptions/{shop_charge.subscription_id}/charges/"
    before = _row(shop_charge)

    for method in (client.post, client.patch, client.put):
        response = method(url, {"id": shop_charge.pk, "status": "paid"}, format="json")
        assert response.status_code == 405
    assert _row(shop_charge) == before
