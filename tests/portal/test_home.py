# ruff: noqa: RUF001
"""What a subscriber sees in their portal: their subscriptions and next box, a
subscription's coming deliveries and history, their past boxes and their payments.

Every page reads a fixed number of queries whatever the number of rows, shows the
customer's rows only, and reads in the customer's language (French by default)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import strip_tags

from carriers.models import Parcel
from core.actors import Actor
from portal.models import PortalSettings
from preferences.models import PreferenceChange
from subscriptions import services as subscriptions
from subscriptions.models import Charge, Subscription, SubscriptionNote
from tests.carriers.conftest import carrier_account
from tests.factories import (
    ChargeFactory,
    ProductFactory,
    ReturnRequestFactory,
    SatisfactionSurveyFactory,
    ShipmentFactory,
    SubscriptionFactory,
    VariantFactory,
    coffee_schema,
    open_batch,
)
from tests.helpers import write_preferences
from tests.portal.conftest import portal_url, signed_in_client, subscriber

pytestmark = pytest.mark.django_db

#: Monday 7 December 2026, 10:00 in Paris: the cut-off is Wednesday 9 December, 12:00.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 12, 9, 11, 0, tzinfo=UTC)
#: A past box's billing cycle: one line per cycle of a subscription.
CYCLES = itertools.count(100)


def text(response) -> str:
    """The page's HTML, unescaped, its white space collapsed."""
    return " ".join(unescape(response.content.decode()).split())


def words(response) -> str:
    """What the page says (no tags)."""
    return " ".join(unescape(strip_tags(response.content.decode())).split())


def settings_of(organization, **allowed) -> PortalSettings:
    settings, _created = PortalSettings.objects.get_or_create(organization=organization)
    for name, value in allowed.items():
        setattr(settings, name, value)
    settings.save()
    return settings


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def alice(org_a, clock):
    """Alice's weekly box: 2 bags of Ethiopia Guji (1 kg) and a simple product, anchored
    today, with her grind on espresso; the week's batch is open until Wednesday noon."""
    coffee_schema(org_a)
    guji = VariantFactory(
        organization=org_a,
        product=ProductFactory(organization=org_a, name="Ethiopia Guji"),
        attributes=[{"name": "Weight", "option": "1 kg"}],
        unit_price=Decimal("24.00"),
    )
    filters = ProductFactory(organization=org_a, name="Paper filters", unit_price=Decimal("3.50"))
    customer, subscription = subscriber(
        org_a,
        "alice@example.com",
        billing_period="week",
        billing_anchor=NOW,
        items=[(guji, 2), (filters, 1)],
    )
    write_preferences(subscription, grind="espresso", roast="dark")
    open_batch(org_a, CUTOFF)
    return customer


@pytest.fixture
def alice_client(alice):
    return signed_in_client(alice)


def home(org):
    return portal_url(org, "home")


# --- Home -------------------------------------------------------------------------------


def test_home_shows_each_subscription_its_items_price_and_next_box_with_its_countdown(
    org_a, alice, alice_client
):
    page = text(alice_client.get(home(org_a)))

    assert "Actif" in page
    assert "2 × Ethiopia Guji (1 kg)" in page
    assert "1 × Paper filters" in page
    assert "51,50 EUR, toutes les semaines" in page
    # The next box: this week's batch, its cut-off and what is left to change it.
    assert "Prochaine box : expédiée le 9 décembre 2026" in page
    assert "Modifications possibles jusqu’au mercredi 9 décembre, 12:00" in page
    assert "Il reste 2 jours, 2 heures pour la modifier." in page
    # What is in it: the organization's labels and choices.
    assert "Espresso" in page
    assert "Dark" in page
    assert "Grind" in page
    # The cut-off rule once on the page.
    assert page.count("concernent la box du") == 1


def test_a_monthly_box_already_shipped_this_month_shows_next_months_box(org_a, clock):
    open_batch(org_a, CUTOFF)
    # Charged on 17 November (its box went with November's batches); next on 17 December.
    customer, _subscription = subscriber(
        org_a, "dora@example.com", billing_anchor=NOW - timedelta(days=20)
    )

    page = words(signed_in_client(customer).get(home(org_a)))

    assert "tous les mois" in page
    # Charged on Thursday 17 December: the batch of Wednesday 23 December, shipped the 24th.
    assert "Prochaine box : expédiée le 24 décembre 2026" in page
    assert "Prélèvement le 17 décembre 2026." in page
    assert "Il reste 2 semaines, 2 jours pour la modifier." in page


def test_a_paused_subscription_says_until_when_and_a_canceled_one_has_no_next_box(org_a, clock):
    open_batch(org_a, CUTOFF)
    customer, paused = subscriber(
        org_a,
        "emma@example.com",
        status="paused",
        billing_period="week",
        billing_anchor=NOW - timedelta(days=10),
    )
    SubscriptionFactory(customer=customer, status="canceled")
    client = signed_in_client(customer)

    page = words(client.get(home(org_a)))
    assert "En pause jusqu’à ce que vous le repreniez." in page
    assert page.count("Prochaine box") == 0  # no resume date: no box planned
    assert page.count("Aucune box n’est encore prévue.") == 1  # the canceled one: nothing said

    Subscription.objects.filter(pk=paused.pk).update(
        resume_at=datetime(2026, 12, 20, 9, tzinfo=UTC)
    )
    page = words(client.get(home(org_a)))
    assert "En pause jusqu’au 20 décembre 2026." in page
    # Charged on Fridays: the first cycle after the resume date is Friday 25 December,
    # in the batch of Wednesday 30 December.
    assert "Prochaine box : expédiée le 31 décembre 2026" in page
    assert "Prélèvement le 25 décembre 2026." in page


def test_home_reads_in_english_for_a_customer_who_reads_english(org_a, alice, alice_client):
    alice.language = "en"
    alice.save()

    page = text(alice_client.get(home(org_a)))

    assert "Your subscriptions" in page
    assert "51.50 EUR, every week" in page
    assert "Next box: ships on 9 December 2026" in page
    assert "2 days, 2 hours left to change it." in page


def test_the_to_do_list_names_pending_surveys_and_open_cases_first(org_a, alice, alice_client):
    subscription = alice.subscriptions.get()
    box = {
        "status": "delivered",
        "line__customer": alice,
        "line__subscription": subscription,
        "line__batch__organization": org_a,
        "line__organization": org_a,
        "organization": org_a,
    }
    survey = SatisfactionSurveyFactory(
        shipment=ShipmentFactory(line__cycle=next(CYCLES), **box), status="sent"
    )
    SatisfactionSurveyFactory(
        shipment=ShipmentFactory(line__cycle=next(CYCLES), **box), status="answered"
    )
    case = ReturnRequestFactory(shipment=ShipmentFactory(line__cycle=next(CYCLES), **box))

    response = alice_client.get(home(org_a))
    page = text(response)

    survey_url = portal_url(org_a, "survey", survey_id=survey.pk)
    case_url = portal_url(org_a, "case", case_id=case.pk)
    assert page.index("À faire") < page.index("Abonnement n°")
    assert f'href="{survey_url}"' in page
    assert page.count("Donnez-nous votre avis") == 1  # the answered one is done
    assert f'href="{case_url}"' in page

    settings_of(org_a, allow_surveys=False, allow_cases=False)
    page = text(alice_client.get(home(org_a)))
    assert survey_url not in page
    assert case_url not in page
    assert "À faire" not in page


def test_a_subscription_the_product_manages_links_to_the_changes_allowed(
    org_a, alice, alice_client
):
    subscription = alice.subscriptions.get()
    url = portal_url(org_a, "subscription", subscription_id=subscription.pk)
    links = {
        name: portal_url(org_a, name, subscription_id=subscription.pk)
        for name in ["preferences", "address", "pause", "frequency", "swap", "cancel"]
    }

    page = text(alice_client.get(url))
    for name, link in links.items():
        assert f'href="{link}"' in page, name
    assert "gérées par la boutique" not in page

    settings_of(org_a, allow_pause=False, allow_cancel=False, allow_address=False)
    page = text(alice_client.get(url))
    assert links["pause"] not in page
    assert links["cancel"] not in page
    assert links["address"] not in page
    assert links["preferences"] in page
    assert links["frequency"] in page


def test_a_subscription_the_shop_manages_offers_no_billing_action_and_links_to_the_shop(
    org_a, clock
):
    settings_of(org_a, shop_account_url="https://shop.example/my-account/subscriptions/")
    customer, subscription = subscriber(org_a, "carla@example.com", source="woocommerce")
    client = signed_in_client(customer)
    url = portal_url(org_a, "subscription", subscription_id=subscription.pk)

    for page in (text(client.get(home(org_a))), text(client.get(url))):
        assert (
            "La facturation, les pauses et la résiliation de cet abonnement sont gérées par "
            "la boutique." in page
        )
        assert 'href="https://shop.example/my-account/subscriptions/"' in page
    page = text(client.get(url))
    for name in ["pause", "frequency", "swap", "cancel"]:
        assert portal_url(org_a, name, subscription_id=subscription.pk) not in page, name
    assert portal_url(org_a, "preferences", subscription_id=subscription.pk) in page
    assert portal_url(org_a, "cases") in page
    assert "Prochaines livraisons" not in page  # the shop's schedule: not ours to skip


# --- A subscription's page -----------------------------------------------------------------


def test_the_subscription_page_lists_the_coming_deliveries_with_skip_and_unskip_links(
    org_a, alice, alice_client
):
    subscription = alice.subscriptions.get()
    # The next charge is next Monday's (14 December); the one after, the 21st, is skipped.
    subscriptions.subscription_skip_cycle(
        subscription=subscription, actor=Actor.for_customer(alice), cycle=2, now=NOW
    )
    url = portal_url(org_a, "subscription", subscription_id=subscription.pk)

    response = alice_client.get(url)
    page = text(response)

    deliveries = response.context["deliveries"]
    assert [d.on for d in deliveries][:3] == ["2026-12-14", "2026-12-21", "2026-12-28"]
    assert len(deliveries) == 6
    assert [d.skipped for d in deliveries][:3] == [False, True, False]
    skip = portal_url(org_a, "skip", subscription_id=subscription.pk, on="2026-12-14")
    unskip = portal_url(org_a, "unskip", subscription_id=subscription.pk, on="2026-12-21")
    assert f'href="{skip}"' in page
    assert f'href="{unskip}"' in page
    assert portal_url(org_a, "unskip", subscription_id=subscription.pk, on="2026-12-14") not in page
    # The batch of Wednesday 16 December (planned) ships the next day.
    assert "Box expédiée le 17 décembre 2026" in page

    settings_of(org_a, allow_skip=False)
    page = text(alice_client.get(url))
    assert skip not in page
    assert unskip not in page
    assert "Prochaines livraisons" in page


def test_the_history_is_in_the_customers_words_without_staff_notes_or_names(
    org_a, alice, alice_client, staff_user_a
):
    subscription = alice.subscriptions.get()
    subscriptions.subscription_skip_cycle(
        subscription=subscription, actor=Actor.for_customer(alice), cycle=2, now=NOW
    )
    subscriptions.subscription_unskip_cycle(
        subscription=subscription,
        actor=Actor.for_user(staff_user_a),
        cycle=2,
        reason="Internal: she called, VIP",
        now=NOW,
    )
    SubscriptionNote.objects.create(
        organization=org_a,
        subscription=subscription,
        text="Secret staff note",
        **Actor.for_user(staff_user_a).as_fields(),
    )
    url = portal_url(org_a, "subscription", subscription_id=subscription.pk)

    page = words(alice_client.get(url))

    assert "Livraison du 21 décembre 2026 sautée (Vous)" in page
    assert "Livraison du 21 décembre 2026 rétablie (Purea Café)" in page
    assert "Préférences modifiées, à partir de la box du 9 décembre 2026" in page
    for secret in ["Secret staff note", "VIP", staff_user_a.username, "alice@example.com"]:
        assert secret not in page, secret
    assert PreferenceChange.objects.filter(subscription=subscription).exists()


# --- Boxes ---------------------------------------------------------------------------------


def shipped_box(customer, *, delivered_days_ago=None, **fields):
    subscription = customer.subscriptions.first()
    organization = customer.organization
    delivered = delivered_days_ago is not None
    shipped_at = NOW - timedelta(days=(delivered_days_ago or 0) + 1)
    return ShipmentFactory(
        organization=organization,
        line__organization=organization,
        line__customer=customer,
        line__subscription=subscription,
        line__batch__organization=organization,
        line__cycle=next(CYCLES),
        status="delivered" if delivered else "shipped",
        shipped_at=shipped_at,
        delivered_at=NOW - timedelta(days=delivered_days_ago) if delivered else None,
        **fields,
    )


def test_past_boxes_with_tracking_and_a_case_link_inside_the_return_window(
    org_a, alice, alice_client
):
    recent = shipped_box(alice, delivered_days_ago=3, tracking_number="6A123")
    old = shipped_box(alice, delivered_days_ago=30)
    on_its_way = shipped_box(alice)
    Parcel.objects.create(
        organization=org_a,
        line=on_its_way.line,
        batch=on_its_way.batch,
        account=carrier_account(org_a),
        reference="ref-1",
        tracking_url="https://tracking.example/6B456",
    )

    page = text(alice_client.get(portal_url(org_a, "boxes")))

    assert page.count("Box du") == 3
    assert "Numéro de suivi : 6A123" in page
    assert "Transporteur : Colissimo" in page
    assert 'href="https://tracking.example/6B456"' in page
    assert "Livré" in page
    assert portal_url(org_a, "case-open", shipment_id=recent.pk) in page
    assert "Un problème avec cette box ?" in page
    assert "Jusqu’au 18 décembre 2026." in page  # 14 days after the delivery day
    assert portal_url(org_a, "case-open", shipment_id=old.pk) not in page  # window closed
    assert portal_url(org_a, "case-open", shipment_id=on_its_way.pk) not in page  # not delivered
    assert alice.subscriptions.first().items.first().product.name in page

    settings_of(org_a, allow_cases=False)
    page = text(alice_client.get(portal_url(org_a, "boxes")))
    assert portal_url(org_a, "case-open", shipment_id=recent.pk) not in page


def test_a_box_with_a_case_under_way_links_to_the_case_not_to_a_new_one(org_a, alice, alice_client):
    case = ReturnRequestFactory(shipment=shipped_box(alice, delivered_days_ago=2))

    page = text(alice_client.get(portal_url(org_a, "boxes")))

    assert portal_url(org_a, "case", case_id=case.pk) in page
    assert portal_url(org_a, "case-open", shipment_id=case.shipment_id) not in page


# --- Charges -------------------------------------------------------------------------------


def test_charges_say_what_is_owed_and_show_refunds(org_a, alice, alice_client):
    subscription = alice.subscriptions.get()
    ChargeFactory(
        subscription=subscription,
        cycle=1,
        amount=Decimal("51.50"),
        status=Charge.Status.FAILED,
        first_failed_at=NOW,
        next_retry_at=NOW + timedelta(days=3),
    )
    paid = subscription.charges.get(cycle=0)
    Charge.objects.filter(pk=paid.pk).update(refunded_amount=Decimal("10.00"))

    page = text(alice_client.get(portal_url(org_a, "charges")))

    assert "Ce qui reste dû" in page
    assert "51,50 EUR : 1 paiement a échoué." in page
    assert "Le paiement a échoué. Nous réessaierons le 10 décembre 2026." in page
    assert "Remboursé : 10,00 EUR" in page
    assert "Payée" in page


def test_a_failed_payment_is_on_the_to_do_list_and_the_shops_is_settled_in_the_shop(org_a, clock):
    settings_of(org_a, shop_account_url="https://shop.example/my-account/")
    customer, subscription = subscriber(
        org_a, "fanny@example.com", status="past_due", source="woocommerce"
    )
    ChargeFactory(subscription=subscription, cycle=1, amount=Decimal("20.00"), status="failed")
    client = signed_in_client(customer)

    home_page = text(client.get(home(org_a)))
    charges = words(client.get(portal_url(org_a, "charges")))

    assert "À faire" in home_page
    assert f'href="{portal_url(org_a, "charges")}">Un paiement a échoué' in home_page
    assert "20,00 EUR : 1 paiement a échoué. Réglez-le dans la boutique." in charges
    assert "Le paiement a échoué : merci de le régler dans la boutique." in charges


def test_nothing_owed_is_said_plainly(org_a, alice, alice_client):
    page = text(alice_client.get(portal_url(org_a, "charges")))

    assert "Vous ne devez rien." in page
    assert "51,50 EUR" in page  # the paid charge of the current week


# --- Isolation -----------------------------------------------------------------------------


def test_another_customers_rows_never_show(org_a, org_b, alice, alice_client, other_customer_a):
    bob_subscription = other_customer_a.subscriptions.get()
    bob_box = shipped_box(other_customer_a, delivered_days_ago=1, tracking_number="BOB-1")
    ChargeFactory(subscription=bob_subscription, cycle=1, amount=Decimal("77.77"), status="failed")
    SatisfactionSurveyFactory(shipment=bob_box, status="sent")
    ReturnRequestFactory(shipment=shipped_box(other_customer_a, delivered_days_ago=2))
    _customer_b, b_subscription = subscriber(org_b, "alice@example.com")
    ChargeFactory(subscription=b_subscription, cycle=1, amount=Decimal("66.66"), status="failed")

    pages = {
        name: text(alice_client.get(portal_url(org_a, name)))
        for name in ["home", "boxes", "charges"]
    }

    assert f"Abonnement n° {bob_subscription.pk}" not in pages["home"]
    assert "À faire" not in pages["home"]
    assert "BOB-1" not in pages["boxes"]
    assert "Box du" not in pages["boxes"]
    assert "77,77" not in pages["charges"]
    assert "66,66" not in pages["charges"]
    assert "Vous ne devez rien." in pages["charges"]
    other = portal_url(org_a, "subscription", subscription_id=bob_subscription.pk)
    assert alice_client.get(other).status_code == 404


# --- Query counts --------------------------------------------------------------------------


def many(alice, count: int) -> None:
    """`count` subscriptions (a paused one, a shop's one among them), each with a past box,
    a failed charge and a refunded one."""
    organization = alice.organization
    sources = ["native", "woocommerce"]
    statuses = [Subscription.Status.ACTIVE, Subscription.Status.PAUSED]
    for index in range(count):
        subscription = SubscriptionFactory(
            customer=alice,
            status=statuses[index % 2],
            source=sources[index // 2 % 2],
            billing_period="week",
            billing_anchor=NOW - timedelta(days=index),
            items=[(VariantFactory(organization=organization), 2)],
        )
        ChargeFactory(subscription=subscription, cycle=1, status="failed", next_retry_at=NOW)
        ChargeFactory(subscription=subscription, cycle=2, status="refunded")
        box = ShipmentFactory(
            organization=organization,
            line__organization=organization,
            line__customer=alice,
            line__subscription=subscription,
            line__batch__organization=organization,
            line__cycle=5 + index,
            status="delivered",
            shipped_at=NOW - timedelta(days=2),
            delivered_at=NOW - timedelta(days=1),
        )
        if index % 3 == 0:
            ReturnRequestFactory(shipment=box)
        elif index % 3 == 1:
            SatisfactionSurveyFactory(shipment=box, status="sent")


@pytest.mark.parametrize("name", ["home", "subscription", "boxes", "charges"])
def test_each_page_reads_as_many_queries_for_one_row_as_for_ten(
    name, org_a, alice, alice_client, django_assert_num_queries
):
    subscription = alice.subscriptions.get()
    kwargs = {"subscription_id": subscription.pk} if name == "subscription" else {}
    url = portal_url(org_a, name, **kwargs)
    many(alice, 1)
    alice_client.get(url)  # the portal's settings are created on the first visit
    with CaptureQueriesContext(connection) as one:
        assert alice_client.get(url).status_code == 200

    many(alice, 9)
    subscriptions.subscription_skip_cycle(
        subscription=subscription, actor=Actor.for_customer(alice), cycle=3, now=NOW
    )
    write_preferences(subscription, grind="filter")

    with django_assert_num_queries(len(one.captured_queries)):
        response = alice_client.get(url)
    assert response.status_code == 200
    if name == "home":
        assert len(response.context["cards"]) == 11
    if name == "boxes":
        assert len(response.context["boxes"]) == 10


# --- The staff's dashboard -------------------------------------------------------------------


def test_the_dashboard_counts_this_weeks_changes_from_subscribers_and_lists_them(
    org_a, org_b, alice, admin_client_a, staff_user_a, other_customer_a
):
    from preferences import services as preferences
    from tests.dashboard.test_dashboard import figures

    subscription = alice.subscriptions.get()
    me = Actor.for_customer(alice)
    # This week (since Monday 7 December, 00:00 in Paris): a skip and a grind, by Alice.
    subscriptions.subscription_skip_cycle(subscription=subscription, actor=me, cycle=2, now=NOW)
    preferences.preferences_update(
        subscription=subscription, values={"grind": "filter"}, actor=me, source="portal", now=NOW
    )
    # Not counted: a staff member's change, Sunday's change, another organization's.
    subscriptions.subscription_unskip_cycle(
        subscription=subscription, actor=Actor.for_user(staff_user_a), cycle=2, now=NOW
    )
    bob = other_customer_a.subscriptions.get()
    with time_machine.travel(datetime(2026, 12, 6, 22, 30, tzinfo=UTC), tick=False):
        subscriptions.subscription_skip_cycle(
            subscription=bob, actor=Actor.for_customer(other_customer_a), cycle=2
        )
    carla, carla_subscription = subscriber(org_b, "carla@example.com")
    subscriptions.subscription_skip_cycle(
        subscription=carla_subscription, actor=Actor.for_customer(carla), cycle=2, now=NOW
    )

    home = admin_client_a.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")

    shown = figures(home.text)
    assert shown["Changes from subscribers this week"].value == "2"
    changed = shown["Subscriptions they changed"]
    assert changed.count == 1
    listed = admin_client_a.get(changed.href, HTTP_ACCEPT_LANGUAGE="en")
    assert list(listed.context_data["cl"].result_list) == [subscription]
