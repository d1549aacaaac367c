"""Subscription items that name a variant: services, API and admin.

Organization A ("Purea Café") sells its Espresso Blend in 250 g and 1 kg bags, and
paper filters as a simple product; organization B has its own tea in two sizes.
"""

from decimal import Decimal

import pytest

from core.actors import Actor
from core.errors import ApplicationError
from subscriptions import services
from subscriptions.models import SubscriptionEvent, SubscriptionItem
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    ProductFactory,
    SubscriptionFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db


class Catalogue:
    def __init__(self, org, other):
        self.org = org
        self.customer = CustomerFactory(organization=org)
        self.espresso = ProductFactory(organization=org, sku="ESP", name="Espresso Blend")
        self.small = VariantFactory(
            product=self.espresso,
            sku="ESP-250",
            attributes=[{"name": "Weight", "option": "250 g"}],
            unit_price=Decimal("9.00"),
        )
        self.large = VariantFactory(
            product=self.espresso,
            sku="ESP-1KG",
            attributes=[{"name": "Weight", "option": "1 kg"}],
            unit_price=Decimal("30.00"),
        )
        self.filters = ProductFactory(
            organization=org, sku="FILTERS", name="Filters", unit_price=Decimal("3.00")
        )
        self.foreign = VariantFactory(
            product=ProductFactory(organization=other, sku="TEA", name="Sencha"), sku="TEA-100"
        )


@pytest.fixture
def shop(org_a, org_b):
    return Catalogue(org_a, org_b)


def create(shop, items):
    return services.subscription_create(
        organization=shop.org, customer=shop.customer, items=items, actor=Actor.system()
    )


def items_of(subscription):
    return list(
        subscription.items.order_by("id").values_list(
            "product", "variant", "quantity", "unit_price"
        )
    )


# --- Services -----------------------------------------------------------------------------


def test_a_variant_implies_its_product_and_its_price(shop):
    subscription = create(
        shop,
        [
            {"variant": shop.small, "quantity": 1},
            {"variant": shop.large.pk, "quantity": 2},
            {"product": shop.filters.pk},
        ],
    )

    assert items_of(subscription) == [
        (shop.espresso.pk, shop.small.pk, 1, Decimal("9.00")),
        (shop.espresso.pk, shop.large.pk, 2, Decimal("30.00")),
        (shop.filters.pk, None, 1, Decimal("3.00")),
    ]
    created = subscription.events.get(kind=SubscriptionEvent.Kind.CREATED)
    assert [(i["variant"], i["sku"], i["name"]) for i in created.data["items"]] == [
        (shop.small.pk, "ESP-250", "Espresso Blend - 250 g"),
        (shop.large.pk, "ESP-1KG", "Espresso Blend - 1 kg"),
        (None, "FILTERS", "Filters"),
    ]


def test_items_of_the_same_variant_merge_and_two_variants_stay_two(shop):
    subscription = create(
        shop,
        [
            {"variant": shop.large.pk, "quantity": 1},
            {"variant": shop.small.pk},
            {"product": shop.espresso.pk, "variant": shop.large.pk, "quantity": 1},
        ],
    )

    assert items_of(subscription) == [
        (shop.espresso.pk, shop.large.pk, 2, Decimal("30.00")),
        (shop.espresso.pk, shop.small.pk, 1, Decimal("9.00")),
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (lambda s: {"product": s.espresso.pk}, "Espresso Blend is sold by variant"),
        (lambda s: {"variant": s.foreign.pk}, "Item 1: unknown variant."),
        (lambda s: {"variant": s.foreign}, "Item 1: unknown variant."),
        (lambda s: {"variant": 2**40}, "Item 1: unknown variant."),
        (
            lambda s: {"product": s.filters.pk, "variant": s.small.pk},
            "Item 1: this variant is not one of the product's.",
        ),
    ],
)
def test_a_wrong_variant_is_refused_and_nothing_is_written(shop, item, message):
    with pytest.raises(ApplicationError) as refused:
        create(shop, [item(shop)])

    assert message in str(refused.value.extra["fields"]["items"])
    assert not SubscriptionItem.objects.exists()


def test_a_retired_variant_is_refused_for_new_items_but_kept_where_held(shop):
    subscription = create(shop, [{"variant": shop.small.pk}])
    shop.small.active = False
    shop.small.save()

    with pytest.raises(ApplicationError) as refused:
        create(shop, [{"variant": shop.small.pk}])
    kept = services.subscription_change_items(
        subscription=subscription,
        actor=Actor.system(),
        items=[{"variant": shop.small.pk}, {"product": shop.filters.pk}],
    )

    assert "is retired" in str(refused.value.extra["fields"]["items"])
    assert items_of(kept) == [
        (shop.espresso.pk, shop.small.pk, 1, Decimal("9.00")),
        (shop.filters.pk, None, 1, Decimal("3.00")),
    ]


def test_changing_the_size_records_the_old_and_new_variant(shop):
    subscription = create(shop, [{"variant": shop.small.pk}])

    services.subscription_change_items(
        subscription=subscription, actor=Actor.system(), items=[{"variant": shop.large.pk}]
    )

    event = subscription.events.get(kind=SubscriptionEvent.Kind.ITEMS_CHANGED)
    assert [i["variant"] for i in event.data["old"]] == [shop.small.pk]
    assert [i["variant"] for i in event.data["new"]] == [shop.large.pk]


def test_a_mirrored_subscription_keeps_two_variants_of_one_product_apart(shop):
    fields = {"billing_period": "month", "billing_interval": 1, "currency": "EUR"}
    items = [
        {"product": shop.espresso, "variant": shop.small, "quantity": 1, "unit_price": "9"},
        {"product": shop.espresso, "variant": shop.large, "quantity": 2, "unit_price": "30"},
    ]
    subscription, _ = services.subscription_mirror(
        organization=shop.org,
        subscription=None,
        customer=shop.customer,
        status="active",
        fields={**fields, "started_at": shop.customer.created_at},
        items=items,
        actor=Actor.system(),
    )
    # The shop sends the same items again, then swaps the sizes' quantities
    _, same = services.subscription_mirror(
        organization=shop.org,
        subscription=subscription,
        customer=shop.customer,
        status="active",
        fields=fields,
        items=items,
        actor=Actor.system(),
    )
    _, swapped = services.subscription_mirror(
        organization=shop.org,
        subscription=subscription,
        customer=shop.customer,
        status="active",
        fields=fields,
        items=[{**items[0], "variant": shop.large}, {**items[1], "variant": shop.small}],
        actor=Actor.system(),
    )

    assert (same, swapped) == (False, True)
    assert sorted((v, q) for _, v, q, _ in items_of(subscription)) == [
        (shop.small.pk, 2),
        (shop.large.pk, 1),
    ]


# --- API ----------------------------------------------------------------------------------


def test_the_api_creates_items_by_variant_and_shows_them(shop, api_client_for):
    response = api_client_for(shop.org).post(
        "/api/v1/subscriptions/",
        {
            "customer": shop.customer.pk,
            "items": [{"variant": shop.small.pk}, {"variant": shop.large.pk, "quantity": 2}],
        },
        format="json",
    )

    assert response.status_code == 201
    items = response.json()["items"]
    assert [
        (i["product"]["id"], i["variant"]["id"], i["variant"]["label"], i["sku"], i["name"])
        for i in items
    ] == [
        (shop.espresso.pk, shop.small.pk, "250 g", "ESP-250", "Espresso Blend - 250 g"),
        (shop.espresso.pk, shop.large.pk, "1 kg", "ESP-1KG", "Espresso Blend - 1 kg"),
    ]
    assert [(i["quantity"], i["unit_price"]) for i in items] == [(1, "9.00"), (2, "30.00")]


def test_a_simple_products_item_has_no_variant(shop, api_client_for):
    subscription = SubscriptionFactory(customer=shop.customer, items=[(shop.filters, 2)])

    body = api_client_for(shop.org).get(f"/api/v1/subscriptions/{subscription.pk}/").json()

    assert body["items"][0]["variant"] is None
    assert (body["items"][0]["sku"], body["items"][0]["name"]) == ("FILTERS", "Filters")


@pytest.mark.parametrize(
    "item",
    [
        lambda s: {"variant": s.foreign.pk},
        lambda s: {"product": s.foreign.product_id},
        lambda s: {"product": s.espresso.pk},
        lambda s: {"quantity": 2},
    ],
)
def test_the_api_refuses_another_organizations_or_a_missing_variant(shop, api_client_for, item):
    subscription = SubscriptionFactory(customer=shop.customer, status="active")
    before = items_of(subscription)
    client = api_client_for(shop.org)

    created = client.post(
        "/api/v1/subscriptions/",
        {"customer": shop.customer.pk, "items": [item(shop)]},
        format="json",
    )
    changed = client.post(
        f"/api/v1/subscriptions/{subscription.pk}/change-items/",
        {"items": [item(shop)]},
        format="json",
    )

    assert (created.status_code, changed.status_code) == (400, 400)
    assert "items" in created.json()["extra"]["fields"]
    assert items_of(subscription) == before
    assert SubscriptionItem.objects.filter(variant=shop.foreign).count() == 0


# --- Admin --------------------------------------------------------------------------------


def add_form(shop, rows):
    data = {
        "organization": shop.org.pk,
        "customer": shop.customer.pk,
        "billing_period": "month",
        "billing_interval": "1",
        "items-TOTAL_FORMS": str(len(rows)),
        "items-INITIAL_FORMS": "0",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"items-{index}-{key}"] = value
    return data


def test_staff_add_a_subscription_choosing_variants(shop, admin_client_for, staff_user_a):
    response = admin_client_for(staff_user_a).post(
        "/admin/subscriptions/subscription/add/",
        add_form(
            shop,
            [
                {"variant": shop.small.pk, "quantity": "1"},
                {"product": shop.espresso.pk, "variant": shop.large.pk, "quantity": "2"},
            ],
        ),
    )

    assert response.status_code == 302
    (subscription,) = shop.customer.subscriptions.all()
    assert items_of(subscription) == [
        (shop.espresso.pk, shop.small.pk, 1, Decimal("9.00")),
        (shop.espresso.pk, shop.large.pk, 2, Decimal("30.00")),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (lambda s: {"product": s.filters.pk, "variant": s.small.pk, "quantity": "1"}, None),
        (lambda s: {"product": s.espresso.pk, "quantity": "1"}, "is sold by variant"),
    ],
)
def test_the_admin_refuses_a_variant_of_another_product_or_none(
    shop, admin_client_for, staff_user_a, row, message
):
    response = admin_client_for(staff_user_a).post(
        "/admin/subscriptions/subscription/add/", add_form(shop, [row(shop)])
    )

    assert response.status_code == 200
    assert not shop.customer.subscriptions.exists()
    if message:
        assert message in response.text


def test_the_admin_refuses_another_organizations_variant(
    shop, admin_client_for, staff_user_a, org_b
):
    # Even for a member of both organizations, the items offer the subscription's own
    MembershipFactory(user=staff_user_a, organization=org_b)
    subscription = SubscriptionFactory(customer=shop.customer, items=[(shop.small, 1)])
    client = admin_client_for(staff_user_a)

    page = client.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/")
    offered = page.context["inline_admin_formsets"][0].formset.forms[0].fields["variant"]
    response = client.post(
        "/admin/subscriptions/subscription/add/",
        add_form(shop, [{"variant": shop.foreign.pk, "quantity": "1"}]),
    )

    assert {variant.organization_id for variant in offered.queryset} == {shop.org.pk}
    assert response.status_code == 200
    assert not shop.customer.subscriptions.exclude(pk=subscription.pk).exists()


def test_the_subscription_list_finds_subscriptions_by_a_variants_sku(
    shop, admin_client_for, staff_user_a
):
    holding = SubscriptionFactory(customer=shop.customer, items=[(shop.large, 1)])
    SubscriptionFactory(customer=shop.customer, items=[(shop.small, 1)])

    response = admin_client_for(staff_user_a).get(
        "/admin/subscriptions/subscription/", {"q": "ESP-1KG"}
    )

    assert [row.pk for row in response.context["cl"].result_list] == [holding.pk]
