"""What goes in a box names its variant: pick list, packing slips, the open batch's preview,
the production plan (per product, then per variant, then per preference value) and the API.

Organization A ("Purea Café") sells its Espresso Blend in two sizes, 250 g and 1 kg.
Camille's weekly subscription holds one 250 g bag and two 1 kg bags; the batch closes
Wednesday 2 December 2026 at noon in Paris.
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from core.actors import Actor
from fulfillment import snapshots
from fulfillment.models import Batch, BatchLine
from fulfillment.services import lock_due_batches
from preferences import services as preference_services
from subscriptions import renewals
from subscriptions import services as subscription_services
from tests.factories import (
    AddressFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    VariantFactory,
    billing_settings,
    coffee_schema,
    open_batch,
)

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # Wednesday noon in Paris
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
TIMES = "\N{MULTIPLICATION SIGN}"


def read_csv(response):
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def url(batch, kind):
    return reverse("fulfillment:batch-export", args=[batch.pk, kind])


class EspressoShop:
    """One coffee in two sizes, one subscriber holding both, a batch closing Wednesday."""

    def __init__(self, org):
        self.org = org
        billing_settings(org)
        coffee_schema(org)
        self.espresso = ProductFactory(
            organization=org, sku="ESP", name="Espresso Blend", net_weight_grams=None
        )
        self.small = VariantFactory(
            product=self.espresso,
            sku="ESP-250",
            attributes=[{"name": "Weight", "option": "250 g"}],
            unit_price=Decimal("9.00"),
            net_weight_grams=250,
            position=0,
        )
        self.large = VariantFactory(
            product=self.espresso,
            sku="ESP-1KG",
            attributes=[{"name": "Weight", "option": "1 kg"}],
            unit_price=Decimal("30.00"),
            net_weight_grams=1000,
            position=1,
        )
        self.batch = open_batch(org, CUTOFF)
        customer = CustomerFactory(organization=org, first_name="Camille", last_name="Roux")
        address = AddressFactory(customer=customer, name="Camille Roux", city="Lyon")
        # Weekly; cycle 1 starts Monday 30 November: due in the batch.
        self.subscription = SubscriptionFactory(
            customer=customer,
            status="active",
            billing_period="week",
            billing_anchor=CUTOFF - timedelta(days=9),
            shipping_address=address,
            items=[(self.small, 1), (self.large, 2)],
        )

    def lock(self):
        with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
            preference_services.preferences_update(
                subscription=self.subscription,
                values={"grind": "espresso"},
                actor=Actor.system(),
                source="system",
            )
            renewals.run()
        with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
            lock_due_batches()
        self.batch.refresh_from_db()
        assert self.batch.status == Batch.Status.LOCKED
        return BatchLine.objects.get(batch=self.batch, subscription=self.subscription)


@pytest.fixture
def shop(org_a):
    return EspressoShop(org_a)


def test_one_small_and_two_large_bags_of_one_coffee_are_two_items(shop):
    # Given a customer of the shop
    customer = shop.subscription.customer

    # When staff subscribe them to 1 x 250 g and 2 x 1 kg, naming only the variants
    subscription = subscription_services.subscription_create(
        organization=shop.org,
        customer=customer,
        items=[{"variant": shop.small.pk}, {"variant": shop.large.pk, "quantity": 2}],
        actor=Actor.system(),
    )

    # Then it has two items of the coffee, each at its variant's price
    items = [
        (item.product_id, item.variant_id, item.quantity, item.unit_price, item.name)
        for item in subscription.items.order_by("id")
    ]
    assert items == [
        (shop.espresso.pk, shop.small.pk, 1, Decimal("9.00"), "Espresso Blend - 250 g"),
        (shop.espresso.pk, shop.large.pk, 2, Decimal("30.00"), "Espresso Blend - 1 kg"),
    ]


def test_the_locked_box_names_each_variant_with_its_sku_and_weight(shop):
    line = shop.lock()

    assert line.items == [
        {
            "product": shop.espresso.pk,
            "variant": shop.small.pk,
            "sku": "ESP-250",
            "name": "Espresso Blend - 250 g",
            "product_sku": "ESP",
            "product_name": "Espresso Blend",
            "weight_grams": 250,
            "quantity": 1,
        },
        {
            "product": shop.espresso.pk,
            "variant": shop.large.pk,
            "sku": "ESP-1KG",
            "name": "Espresso Blend - 1 kg",
            "product_sku": "ESP",
            "product_name": "Espresso Blend",
            "weight_grams": 1000,
            "quantity": 2,
        },
    ]


def test_the_pick_list_and_packing_slip_show_both_variants(shop, admin_client_a):
    line = shop.lock()

    pick = read_csv(admin_client_a.get(url(shop.batch, "pick-list.csv"), **EN))
    slips = read_csv(admin_client_a.get(url(shop.batch, "packing-slips.csv"), **EN))
    pick_page = admin_client_a.get(url(shop.batch, "pick-list.html"), **EN)
    slip_page = admin_client_a.get(url(shop.batch, "packing-slips.html"), **EN).text

    # One group per variant, each with the box's quantity of it
    assert [(row[3], row[4], row[5]) for row in pick[1:]] == [
        ("ESP-1KG", "Espresso Blend - 1 kg", "2"),
        ("ESP-250", "Espresso Blend - 250 g", "1"),
    ]
    groups = pick_page.context["groups"]
    assert [(g.sku, g.name, g.quantity) for g in groups] == [
        ("ESP-1KG", "Espresso Blend - 1 kg", 2),
        ("ESP-250", "Espresso Blend - 250 g", 1),
    ]
    items = slips[1][slips[0].index("Items")]
    assert items == (
        f"1 {TIMES} Espresso Blend - 250 g (ESP-250), 2 {TIMES} Espresso Blend - 1 kg (ESP-1KG)"
    )
    assert line.code in slip_page
    for shown in ("Espresso Blend - 250 g", "ESP-250", "Espresso Blend - 1 kg", "ESP-1KG"):
        assert shown in slip_page


def test_the_production_plan_counts_kilograms_per_coffee_then_per_variant(shop, admin_client_a):
    shop.lock()
    # By hand: one 250 g bag and two 1 kg bags.
    expected_kg = (1 * Decimal("0.250") + 2 * Decimal("1.000")).quantize(Decimal("0.001"))
    assert expected_kg == Decimal("2.250")

    rows = read_csv(admin_client_a.get(url(shop.batch, "production-plan.csv"), **EN))
    page = admin_client_a.get(url(shop.batch, "production-plan.html"), **EN)
    admin = admin_client_a.get(
        reverse("admin:fulfillment_batch_change", args=[shop.batch.pk]), **EN
    )

    assert rows[1:] == [
        ["ESP", "Espresso Blend", "", "", "3", str(expected_kg)],
        ["ESP-1KG", "Espresso Blend - 1 kg", "", "", "2", "2.000"],
        ["ESP-250", "Espresso Blend - 250 g", "", "", "1", "0.250"],
        ["ESP", "Espresso Blend", "Grind", "Espresso", "3", str(expected_kg)],
        ["ESP", "Espresso Blend", "Roast", "(not set)", "3", str(expected_kg)],
        ["ESP", "Espresso Blend", "Decaf", "No", "3", str(expected_kg)],
    ]
    (product,) = page.context["products"]
    assert product.total.kilograms == expected_kg
    assert [(v.name, v.quantity, v.kilograms) for v in product.variants] == [
        ("Espresso Blend - 1 kg", 2, Decimal("2.000")),
        ("Espresso Blend - 250 g", 1, Decimal("0.250")),
    ]
    plan = admin.context["plan"]["products"]
    assert [(row["product"], row["boxes"], row["quantity"], row["kilograms"]) for row in plan] == [
        ("Espresso Blend", 1, 3, "2.250"),
        ("Espresso Blend - 1 kg", 1, 2, "2.000"),
        ("Espresso Blend - 250 g", 1, 1, "0.250"),
    ]


def test_a_variant_without_a_weight_counts_its_products(shop, admin_client_a):
    shop.espresso.net_weight_grams = 500
    shop.espresso.save()
    shop.large.net_weight_grams = None
    shop.large.save()

    shop.lock()
    rows = read_csv(admin_client_a.get(url(shop.batch, "production-plan.csv"), **EN))

    # 1 x 250 g + 2 x the product's 500 g
    assert rows[1] == ["ESP", "Espresso Blend", "", "", "3", "1.250"]
    assert rows[2] == ["ESP-1KG", "Espresso Blend - 1 kg", "", "", "2", "1.000"]


def test_the_open_batchs_preview_names_the_variants(shop, api_client_for, admin_client_a):
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
        boxes = snapshots.batch_preview(batch=shop.batch)
        preview = api_client_for(shop.org).get(f"/api/v1/batches/{shop.batch.pk}/").json()
        page = admin_client_a.get(url(shop.batch, "pick-list.csv"), **EN)

    (box,) = boxes
    assert [(item["sku"], item["quantity"]) for item in box.items] == [
        ("ESP-250", 1),
        ("ESP-1KG", 2),
    ]
    (product,) = preview["preview"]["products"]
    assert (product["sku"], product["quantity"], product["kilograms"]) == ("ESP", 3, "2.250")
    assert [(v["variant"], v["sku"], v["quantity"]) for v in product["variants"]] == [
        (shop.large.pk, "ESP-1KG", 2),
        (shop.small.pk, "ESP-250", 1),
    ]
    assert [row[3] for row in read_csv(page)[1:]] == ["ESP-1KG", "ESP-250"]


def test_the_api_lists_the_lines_items_and_the_plan_with_the_variant(shop, api_client_for):
    line = shop.lock()
    admin_client_a = api_client_for(shop.org)

    lines = admin_client_a.get(f"/api/v1/batches/{shop.batch.pk}/lines").json()["results"]
    plan = admin_client_a.get(f"/api/v1/batches/{shop.batch.pk}/production-plan/").json()

    (listed,) = [row for row in lines if row["id"] == line.pk]
    assert [(i["variant"], i["sku"], i["name"], i["weight_grams"]) for i in listed["items"]] == [
        (shop.small.pk, "ESP-250", "Espresso Blend - 250 g", 250),
        (shop.large.pk, "ESP-1KG", "Espresso Blend - 1 kg", 1000),
    ]
    (product,) = plan["products"]
    assert product["kilograms"] == "2.250"
    assert [(v["name"], v["kilograms"]) for v in product["variants"]] == [
        ("Espresso Blend - 1 kg", "2.000"),
        ("Espresso Blend - 250 g", "0.250"),
    ]


def test_a_box_frozen_before_variants_still_prints(org_a, admin_client_a, api_client_for):
    # Given a locked box whose snapshot has no variant, product name or weight keys
    shop = EspressoShop(org_a)
    line = shop.lock()
    beans = ProductFactory(organization=org_a, sku="OLD", name="House beans", net_weight_grams=500)
    line.items = [{"product": beans.pk, "sku": "OLD", "name": "House beans", "quantity": 2}]
    line.save(update_fields=["items"])

    # When staff and the API read it
    pick = read_csv(admin_client_a.get(url(shop.batch, "pick-list.csv"), **EN))
    plan = read_csv(admin_client_a.get(url(shop.batch, "production-plan.csv"), **EN))
    slips = admin_client_a.get(url(shop.batch, "packing-slips.html"), **EN)
    api = api_client_for(org_a).get(f"/api/v1/batch-lines/{line.pk}").json()

    # Then it prints as the simple product it was, its weight read from the product
    assert [(row[3], row[4], row[5]) for row in pick[1:]] == [("OLD", "House beans", "2")]
    assert plan[1] == ["OLD", "House beans", "", "", "2", "1.000"]
    assert slips.status_code == 200
    assert "House beans" in slips.text
    assert api["items"] == [
        {
            "product": beans.pk,
            "variant": None,
            "sku": "OLD",
            "name": "House beans",
            "product_sku": "OLD",
            "product_name": "House beans",
            "quantity": 2,
            "weight_grams": None,
        }
    ]


def test_the_batch_lines_list_finds_the_boxes_holding_a_variant(shop, admin_client_a):
    line = shop.lock()

    found = admin_client_a.get("/admin/fulfillment/batchline/", {"q": "ESP-1KG"})
    none = admin_client_a.get("/admin/fulfillment/batchline/", {"q": "ESP-5KG"})

    assert [row.pk for row in found.context["cl"].result_list] == [line.pk]
    assert list(none.context["cl"].result_list) == []
