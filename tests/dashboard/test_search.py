"""The back office's search box: whatever staff have in hand leads to its page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.actors import Actor
from crm.models import Membership
from dashboard import search
from returns.services import return_config_ensure, return_open
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    ProductFactory,
    SubscriptionFactory,
    billing_settings,
    delivered_boxes,
    member,
)
from woocommerce.models import Resource, WooCommerceStore, WooMapping, WooOrder

pytestmark = pytest.mark.django_db

SEARCH = "/admin/search/"
#: Tuesday 17 November 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def shop(org_a):
    """A's customer Léa with a shipped, tracked box, a case about it and a shop order."""
    from fulfillment.models import FulfillmentSettings

    billing_settings(org_a, gateway="test")
    FulfillmentSettings.objects.get_or_create(organization=org_a)
    return_config_ensure(organization=org_a)
    lea = CustomerFactory(
        organization=org_a, email="lea.martin@example.com", first_name="Léa", last_name="Martin"
    )
    with time_machine.travel(NOW, tick=False):
        shipment = delivered_boxes(
            org_a,
            delivered_at=NOW - timedelta(days=1),
            items=[(ProductFactory(organization=org_a), 1)],
            customer=lea,
        )[0]
        shipment.tracking_number = "6A12345678901"
        shipment.save(update_fields=["tracking_number"])
        case = return_open(
            organization=org_a,
            shipment=shipment,
            reason="damaged",
            actor=Actor.system(),
        )
    store = WooCommerceStore.objects.create(
        organization=org_a, name="Boutique", base_url="https://shop.example.com"
    )
    order = WooOrder.objects.create(
        organization=org_a,
        store=store,
        woo_id=98765432,
        number="98765432",
        customer=lea,
        currency="EUR",
    )
    return {
        "customer": lea,
        "shipment": shipment,
        "line": shipment.line,
        "subscription": shipment.line.subscription,
        "case": case,
        "order": order,
        "store": store,
    }


def change_url(row):
    if row._meta.model_name == "customer":  # a customer opens on their whole story
        return reverse("admin:customer_story", args=[row.pk])
    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("lea.martin@example", "customer"),
        ("Léa Martin", "customer"),
        ("6A12345678901", "shipment"),
        ("6a 1234 5678 901", "shipment"),  # as read aloud on the phone, in lower case
        ("code", "line"),
        ("#98765432", "order"),
    ],
)
def test_what_staff_have_in_hand_leads_straight_to_its_page(
    shop, org_a, admin_client_for, text, found
):
    staff = member(org_a, Membership.Role.STAFF)
    if text == "code":
        text = shop["line"].code

    response = admin_client_for(staff).get(SEARCH, {"q": text})

    assert response.status_code == 302
    assert response["Location"] == change_url(shop[found])


def test_a_number_shared_by_several_rows_lists_them_all(shop, org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)
    number = shop["case"].pk
    # The subscription, the case and an order all answer to the case's number.
    WooOrder.objects.create(
        organization=org_a, store=shop["store"], woo_id=99, number=str(number), currency="EUR"
    )
    WooMapping.objects.create(
        organization=org_a,
        store=shop["store"],
        resource=Resource.SUBSCRIPTION,
        woo_id=number,
        object_id=shop["subscription"].pk,
    )

    response = admin_client_for(staff).get(SEARCH, {"q": f"#{number}"}, HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    kinds = [row["kind"] for row in response.context["results"]]
    assert kinds == ["Abonnement", "Commande de la boutique", "Dossier SAV"]
    assert change_url(shop["case"]) in response.text


def test_too_short_a_text_is_refused_with_its_reason_and_nothing_is_searched(
    org_a, admin_client_for
):
    staff = member(org_a, Membership.Role.STAFF)

    response = admin_client_for(staff).get(SEARCH, {"q": " a "}, HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    assert "Saisissez au moins 2 caractères pour chercher." in response.text
    assert response.context["results"] == []


def test_nothing_found_says_so(shop, org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)

    response = admin_client_for(staff).get(SEARCH, {"q": "nobody here"}, HTTP_ACCEPT_LANGUAGE="fr")

    assert "Rien trouvé pour « nobody here »." in response.text


def test_the_search_box_is_on_every_admin_page(org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)
    client = admin_client_for(staff)

    for page in ("/admin/", "/admin/subscriptions/subscription/"):
        assert 'class="global-search"' in client.get(page).text
    client.logout()
    assert 'class="global-search"' not in client.get("/admin/login/").text


def test_another_organizations_rows_are_never_found(shop, org_b, admin_client_for, api_client_for):
    theirs = member(org_b, Membership.Role.ADMIN)
    api = api_client_for(org_b)
    texts = [
        "lea.martin@example.com",
        "Martin",
        shop["shipment"].tracking_number,
        shop["line"].code,
        "#98765432",
        f"#{shop['case'].pk}",
        f"#{shop['subscription'].pk}",
    ]
    for text in texts:
        page = admin_client_for(theirs).get(SEARCH, {"q": text})
        assert page.status_code == 200, text  # a list, never a redirect to A's row
        assert page.context["results"] == [], text
        assert api.get("/api/v1/search/", {"q": text}).json() == {"results": []}, text


def test_the_search_costs_the_same_queries_for_one_hit_or_many(org_a):
    CustomerFactory(organization=org_a, last_name="Durand")
    with CaptureQueriesContext(connection) as one:
        assert len(search.search(organization=org_a, query="Durand")) == 1
    for _ in range(9):
        SubscriptionFactory(customer=CustomerFactory(organization=org_a, last_name="Durand"))
    with CaptureQueriesContext(connection) as many:
        assert len(search.search(organization=org_a, query="Durand")) == 10

    assert len(many.captured_queries) == len(one.captured_queries) <= 6


def test_the_api_answers_every_kind_with_its_address(shop, org_a, api_client_for):
    api = api_client_for(org_a)

    body = api.get("/api/v1/search/", {"q": shop["shipment"].tracking_number}).json()
    assert body == {
        "results": [
            {
                "type": "shipment",
                "id": shop["shipment"].pk,
                "title": f"Colissimo {shop['shipment'].tracking_number}",
                "detail": body["results"][0]["detail"],
                "url": f"http://testserver/api/v1/shipments/{shop['shipment'].pk}/",
            }
        ]
    }
    assert "lea.martin@example.com" in body["results"][0]["detail"]
    order = api.get("/api/v1/search/", {"q": "98765432"}).json()["results"]
    assert [(hit["type"], hit["url"]) for hit in order] == [("order", None)]


@pytest.mark.parametrize("query", [{}, {"q": ""}, {"q": "x"}, {"q": "x" * 101}])
def test_the_api_refuses_a_missing_short_or_long_text_in_the_error_shape(
    org_a, api_client_for, query
):
    response = api_client_for(org_a).get("/api/v1/search/", query)

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["q"]


def test_a_second_organization_of_the_same_member_is_searched_once_picked(
    shop, org_a, admin_client_for
):
    other = OrganizationFactory(name="Maison du Thé")
    staff = member(org_a, Membership.Role.STAFF)
    Membership.objects.create(user=staff, organization=other, role=Membership.Role.STAFF)
    CustomerFactory(organization=other, email="only.tea@example.com")
    client = admin_client_for(staff)

    client.get("/admin/", {"organization": other.pk})
    assert client.get(SEARCH, {"q": "only.tea"}).status_code == 302
    assert client.get(SEARCH, {"q": "lea.martin"}).context["results"] == []
