"""Charge now (issue 25, item 14): the next cycle charged at once, as the renewal would.

A monthly subscription created on 10 January 2027 at 09:00 Paris, 30.00 a cycle, cycle 0
paid by the real renewal run; cycle 1 starts on 10 February.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from core.actors import Actor, ActorKind
from core.errors import ConflictError
from crm.models import ApiKey
from subscriptions import renewals, services
from subscriptions.models import Charge, Subscription, SubscriptionEvent
from tests.factories import (
    ChargeFactory,
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    api_key_for,
    billing_settings,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 1, 10, 9, 0, tzinfo=PARIS)
NOW = datetime(2027, 1, 20, 9, 0, tzinfo=PARIS)
STAFF = Actor(ActorKind.USER, label="staff")
S = Subscription.Status
Kind = SubscriptionEvent.Kind


def at(month, day, hour=9):
    return datetime(2027, month, day, hour, 0, tzinfo=PARIS)


def beat(instant):
    with time_machine.travel(instant, tick=False):
        report = renewals.run()
    assert report.errors == []


def charge_now(subscription, instant=NOW):
    with time_machine.travel(instant, tick=False):
        return services.subscription_charge_now(subscription=subscription, actor=STAFF)


def refusal(subscription, instant=NOW):
    before = Charge.objects.count(), SubscriptionEvent.objects.count()
    with pytest.raises(ConflictError) as refused:
        charge_now(subscription, instant)
    assert (Charge.objects.count(), SubscriptionEvent.objects.count()) == before
    return refused.value.message


@pytest.fixture
def organization(db):
    organization = OrganizationFactory(name="Purea Café", slug="purea", timezone="Europe/Paris")
    billing_settings(organization, gateway="test")
    return organization


def subscribe(organization, email="c@example.com"):
    product = ProductFactory(organization=organization, unit_price=Decimal("30.00"))
    customer = CustomerFactory(organization=organization, email=email)
    with time_machine.travel(START, tick=False):
        created = services.subscription_create(
            organization=organization, customer=customer, items=[{"product": product}], actor=STAFF
        )
    beat(START + timedelta(minutes=1))
    created.refresh_from_db()
    return created


@pytest.fixture
def subscription(organization):
    created = subscribe(organization)
    assert (created.status, created.current_cycle, created.next_cycle) == (S.ACTIVE, 0, 1)
    return created


def test_charge_now_pays_the_next_cycle_ahead_and_keeps_its_dates(subscription):
    charge = charge_now(subscription)

    assert (charge.cycle, charge.status, charge.amount) == (1, "paid", Decimal("30.00"))
    assert (charge.period_start, charge.period_end) == (at(2, 10), at(3, 10))
    subscription.refresh_from_db()
    assert (subscription.current_cycle, subscription.next_cycle) == (1, 2)
    assert subscription.next_charge_at == at(3, 10)  # the schedule does not move
    event = subscription.events.order_by("-pk").first()
    assert (event.kind, event.actor_label, event.data["cycle"]) == (Kind.RENEWED, "staff", 1)
    # The renewal run on the cycle's date finds nothing more to charge
    beat(at(2, 10, 10))
    assert subscription.charges.filter(cycle=1).count() == 1
    assert not subscription.charges.filter(cycle=2).exists()


def test_a_credit_carried_is_taken_as_the_renewal_would(subscription):
    with time_machine.travel(NOW, tick=False):
        services.subscription_credit(subscription=subscription, amount="10.00", actor=STAFF)

    charge = charge_now(subscription)

    assert (charge.amount, charge.adjustment) == (Decimal("20.00"), Decimal("-10.00"))


def test_one_cycle_ahead_at_most(subscription):
    charge_now(subscription)

    assert refusal(subscription) == (
        "The cycle of 02/10/2027 9 a.m. is already paid ahead: the next one can be charged "
        "once it has begun."
    )
    # Once it has begun, the next one may be charged ahead
    assert charge_now(subscription, at(2, 11)).cycle == 2


def test_a_change_of_items_after_charging_ahead_is_pro_rated_over_the_whole_paid_cycle(
    subscription,
):
    charge_now(subscription)
    dearer = ProductFactory(organization=subscription.organization, unit_price=Decimal("45.00"))

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        changed = services.subscription_change_items(
            subscription=subscription, actor=STAFF, items=[{"product": dearer}]
        )

    # The box of 10 February is paid 30.00 and holds 45.00: the 15.00 are carried
    assert changed.adjustment == Decimal("15.00")


def test_a_failed_charge_is_retried_now(organization):
    subscription = subscribe(organization, email="c+decline-2@example.com")
    # Cycle 0 failed once at creation; cycle 0 is still the next one
    assert (subscription.status, subscription.next_cycle) == (S.PENDING, 0)
    failed = subscription.charges.get(cycle=0)
    assert failed.status == "failed"

    again = charge_now(subscription, START + timedelta(hours=1))
    assert (again.pk, again.status, again.attempts) == (failed.pk, "failed", 2)

    paid = charge_now(subscription, START + timedelta(hours=2))
    assert (paid.pk, paid.status, paid.attempts) == (failed.pk, "paid", 3)
    assert Subscription.objects.get(pk=subscription.pk).status == S.ACTIVE


def test_a_charge_waiting_at_the_gateway_or_paid_is_not_charged_again(organization):
    billing_settings(organization, gateway="manual")
    subscription = subscribe(organization)  # cycle 0 pending at the manual gateway

    assert refusal(subscription, START + timedelta(hours=1)) == (
        "The cycle of 01/10/2027 9 a.m. is already charged (pending)."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("pause", "Cannot charge now: the subscription is paused."),
        ("cancel", "Cannot charge now: the subscription is canceled."),
        (
            "cancel_at_period_end",
            "The subscription ends with its paid period: nothing more is due. Withdraw the "
            "cancellation first.",
        ),
        (
            "shop",
            "This subscription is managed by WooCommerce: the shop charges it, not this "
            "back office.",
        ),
        ("fixed_term", "Nothing is due: there is no next cycle to charge."),
    ],
)
def test_charge_now_is_refused_with_why(subscription, change, message):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        if change == "pause":
            services.subscription_pause(subscription=subscription, actor=STAFF)
        elif change == "cancel":
            services.subscription_cancel(subscription=subscription, actor=STAFF, reason="x")
        elif change == "cancel_at_period_end":
            services.subscription_cancel(
                subscription=subscription, actor=STAFF, reason="x", at_period_end=True
            )
    if change == "shop":
        Subscription.objects.filter(pk=subscription.pk).update(
            source=Subscription.Source.WOOCOMMERCE
        )
    if change == "fixed_term":
        Subscription.objects.filter(pk=subscription.pk).update(ends_at=at(2, 1))

    assert refusal(subscription) == message


def test_the_gateway_unreachable_changes_nothing(subscription, monkeypatch):
    from subscriptions import gateways

    def broken(self, charge):
        raise ConnectionError("gateway down")

    monkeypatch.setattr(gateways.TestGateway, "charge", broken)

    assert refusal(subscription).startswith("The payment gateway could not be reached")
    assert not subscription.charges.filter(cycle=1).exists()


# --- The admin button and the API ----------------------------------------------------------


def test_the_admin_button_charges_and_says_so_in_french(subscription, admin_client_for):
    from crm.models import Membership
    from tests.factories import MembershipFactory

    staff = MembershipFactory(
        organization=subscription.organization, role=Membership.Role.STAFF
    ).user
    url = f"/admin/subscriptions/subscription/{subscription.pk}/schedule/charge/"

    with time_machine.travel(NOW, tick=False):
        client = admin_client_for(staff)  # a session of the travelled-to day
        page = client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
        assert f'formaction="{url}"' in page.content.decode()
        response = client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="fr")

    assert [str(m) for m in response.context["messages"]] == [
        "Le cycle du 10 février 2027 09:00 est prélevé : 30,00 EUR payés."
    ]
    with time_machine.travel(NOW, tick=False):
        again = client.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="fr")
    assert [str(m) for m in again.context["messages"]] == [
        "Le cycle du 10/02/2027 09:00 est déjà payé d\u2019avance : le suivant pourra être "
        "prélevé une fois celui-ci commencé."
    ]


def test_the_api_charges_now_and_answers_409_with_why(subscription, api_client_for):
    client = api_client_for(subscription.organization)
    url = f"/api/v1/subscriptions/{subscription.pk}/charge-now/"

    with time_machine.travel(NOW, tick=False):
        done = client.post(url, format="json")
        refused = client.post(url, format="json")

    assert done.status_code == 200
    assert (done.json()["cycle"], done.json()["status"], done.json()["amount"]) == (
        1,
        "paid",
        "30.00",
    )
    assert refused.status_code == 409
    assert refused.json()["message"].startswith("The cycle of")
    assert refused.json()["extra"] == {"action": "charge_now", "cycle": 2}


def test_a_read_only_key_may_not_charge_now(subscription):
    from rest_framework.test import APIClient

    _row, key = api_key_for(subscription.organization, scope=ApiKey.Scope.READ)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = client.post(f"/api/v1/subscriptions/{subscription.pk}/charge-now/", format="json")

    assert response.status_code == 403
    assert not subscription.charges.filter(cycle=1).exists()


def test_another_organizations_subscription_is_not_found(subscription, api_client_for):
    other = OrganizationFactory(slug="other")

    response = api_client_for(other).post(
        f"/api/v1/subscriptions/{subscription.pk}/charge-now/", format="json"
    )

    assert response.status_code == 404
    assert not subscription.charges.filter(cycle=1).exists()


def test_a_charge_factory_row_in_the_way_is_named(subscription):
    ChargeFactory(subscription=subscription, cycle=1, status=Charge.Status.SCHEDULED)

    assert refusal(subscription) == "The cycle of 02/10/2027 9 a.m. is already charged (scheduled)."
