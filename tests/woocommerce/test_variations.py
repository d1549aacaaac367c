"""Variable products and their variations: webhooks, reconciliation, line items (issue 22).

A variation becomes a `Variant` of its parent's product; a line item's
`variation_id` names the variant the box holds; a variation deleted in the
shop (which sends no webhook) is retired by its parent's list or by the next
reconciliation, never deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from crm.models import Address, Product, Variant
from subscriptions.models import Subscription, SubscriptionItem
from tests.factories import SubscriptionFactory
from tests.woocommerce.conftest import later, sample
from tests.woocommerce.test_reconcile import FakeShop
from woocommerce.models import Resource, WooMapping, WooOrder
from woocommerce.reconcile import reconcile

pytestmark = pytest.mark.django_db

COFFEE = 801  # a variable product: "Éthiopie Yirgacheffe", 250 g and 1 kg
SMALL, LARGE = 811, 812
MODIFIED = "2026-03-02T10:00:00"


def mapped(resource: str, woo_id: int):
    object_id = WooMapping.objects.get(resource=resource, woo_id=woo_id).object_id
    return (Variant if resource == Resource.VARIATION else Product).objects.get(pk=object_id)


def variable_product(woo_id=COFFEE, variations=(SMALL, LARGE), **changes) -> dict:
    payload = sample("product")
    payload.update(
        id=woo_id,
        name="Éthiopie Yirgacheffe",
        type="variable",
        sku="PUR-ETH",
        price="11.90",
        regular_price="11.90",
        variations=list(variations),
        date_modified_gmt=MODIFIED,
    )
    payload.update(changes)
    return payload


def variation(woo_id, option, *, sku, price, weight, position=0, parent=COFFEE) -> dict:
    """A variation as `GET /products/{parent}/variations` lists it."""
    payload = sample("product_variation")
    payload.update(
        id=woo_id,
        sku=sku,
        price=price,
        regular_price=price,
        sale_price="",
        weight=weight,
        menu_order=position,
        attributes=[{"id": 1, "name": "Poids", "option": option}],
        date_modified_gmt=MODIFIED,
    )
    return payload


def hook(payload: dict, parent=COFFEE, name="Éthiopie Yirgacheffe") -> dict:
    """The same variation as its own `product.*` webhook carries it."""
    option = ", ".join(a["option"] for a in payload["attributes"])
    return {**payload, "type": "variation", "parent_id": parent, "name": f"{name} - {option}"}


SMALL_BAG = variation(SMALL, "250 g", sku="PUR-ETH-250", price="11.90", weight="0.25")
LARGE_BAG = variation(LARGE, "1 kg", sku="PUR-ETH-1KG", price="38.00", weight="1", position=1)


def line(line_id, variation_id, quantity, total, *, sku, option) -> dict:
    """A subscription's line of one variation, as WooCommerce writes it."""
    base = sample("order_with_variation")["line_items"][0]
    base.update(
        id=line_id,
        name=f"Éthiopie Yirgacheffe - {option}",
        parent_name="Éthiopie Yirgacheffe",
        product_id=COFFEE,
        variation_id=variation_id,
        quantity=quantity,
        subtotal=total,
        total=total,
        total_tax="0.00",
        sku=sku,
        price=float(Decimal(total) / quantity),
        meta_data=[
            {
                "id": line_id,
                "key": "pa_poids",
                "value": option,
                "display_key": "Poids",
                "display_value": option,
            },
        ],
    )
    return base


def subscription_with(*lines, woo_id=1300) -> dict:
    payload = sample("subscription")
    payload.update(id=woo_id, line_items=list(lines))
    return payload


def items(subscription: Subscription) -> list[tuple]:
    return sorted(
        (i.product.sku, i.variant.sku if i.variant else None, i.quantity, i.unit_price)
        for i in subscription.items.select_related("product", "variant")
    )


# --- The verbatim samples, field by field ----------------------------------------


def test_product_variation_json_becomes_a_variant_of_its_parent_field_by_field(apply, store):
    # Given its variable parent, product 205
    parent = variable_product(205, variations=[215], name="Paper airplane", sku="PAPER")
    assert apply("product.created", parent).status == "processed"

    # When the verbatim variation arrives as its own webhook (type and parent_id added)
    delivery = apply("product.updated", hook(sample("product_variation"), 205, "Paper airplane"))

    # Then it is a variant of product 205, each field mapped
    assert delivery.status == "processed", delivery.error
    variant = mapped(Resource.VARIATION, 215)
    assert variant.product == mapped(Resource.PRODUCT, 205)
    assert variant.product.sku == "PAPER"
    assert variant.sku == "345345"
    assert variant.attributes == [
        {"name": "Color", "option": "Black"},
        {"name": "Length", "option": "Short"},
    ]
    assert variant.unit_price == Decimal("14.33")  # `price` (on sale), not `regular_price`
    assert variant.net_weight_grams == 99_000  # "99" in the shop's unit, kg by default
    assert variant.active is True  # status "publish"
    assert variant.position == 4  # menu_order
    assert variant.label == "Black / Short"
    assert variant.name == "Paper airplane - Black / Short"
    mapping = WooMapping.objects.get(resource=Resource.VARIATION, woo_id=215)
    assert mapping.woo_modified_at == datetime(2019, 4, 4, 22, 8, 33, tzinfo=UTC)
    assert mapping.remote_status == "publish"


def test_a_variations_weight_is_read_in_the_shops_unit(apply, store):
    store.weight_unit = "g"
    store.save()
    apply("product.created", variable_product(205, variations=[215], sku="PAPER"))

    apply("product.updated", hook(sample("product_variation"), 205))

    assert mapped(Resource.VARIATION, 215).net_weight_grams == 99


def test_order_with_variation_json_maps_field_by_field(apply, store):
    delivery = apply("order.created", sample("order_with_variation"))

    assert delivery.status == "processed", delivery.error
    order = WooOrder.objects.get(store=store, woo_id=3207)
    assert order.number == "3207"
    assert order.status == "processing"
    assert order.kind == WooOrder.Kind.OTHER  # no subscription names it
    assert order.total == Decimal("153.42")
    assert order.currency == "USD"
    assert order.ordered_at == datetime(2020, 10, 28, 5, 23, 18, tzinfo=UTC)  # GMT
    assert order.paid_at == datetime(2020, 10, 28, 5, 23, 21, tzinfo=UTC)
    assert order.customer.email == "wassyii87@gmail.com"  # a guest: by its billing e-mail
    assert (order.customer.first_name, order.customer.last_name) == ("Choco", "Chen")
    billing = order.billing_address
    assert (billing.kind, billing.name, billing.line1, billing.city) == (
        Address.Kind.BILLING,
        "Choco Chen",
        "1220 Golden Gate Ave",
        "San Francisco",
    )
    assert (billing.state, billing.postcode, billing.country) == ("CA", "94115", "US")
    # Each line by product and variation, tax included
    assert order.lines == [[2832, 2906, "95.48"], [3122, 0, "25.50"]]


def test_the_order_samples_lines_on_a_subscription_name_the_variant_field_by_field(apply, store):
    lines = sample("order_with_variation")["line_items"]

    delivery = apply("subscription.created", subscription_with(*lines))

    assert delivery.status == "processed", delivery.error
    subscription = Subscription.objects.get()
    food, pen = subscription.items.select_related("product", "variant").order_by("unit_price")
    # The simple product's line: a product, no variant
    assert (food.product.sku, food.product.name, food.variant) == (
        "woo-3122",  # no SKU in the shop
        "(Downloadable) food",
        None,
    )
    assert (food.quantity, food.unit_price) == (1, Decimal("23.50"))
    assert mapped(Resource.PRODUCT, 3122) == food.product
    # The variation's line: its parent (not sent yet) and its variant, from the line
    assert pen.product == mapped(Resource.PRODUCT, 2832)
    assert (pen.product.sku, pen.product.name) == ("woo-2832", "(Variable) Fun Pens!")
    assert pen.variant == mapped(Resource.VARIATION, 2906)
    assert pen.variant.product == pen.product
    assert pen.variant.sku == "pen"
    assert pen.variant.attributes == [  # `_reduced_stock` is hidden: left out
        {"name": "Color", "option": "Orange"},
        {"name": "Brand", "option": "Woo"},
    ]
    assert pen.variant.unit_price == Decimal("88.00")
    assert (pen.quantity, pen.unit_price) == (1, Decimal("88.00"))


# --- Two variations of one product: two items ----------------------------------------


@pytest.mark.parametrize("catalogue_first", [True, False], ids=["catalogue-first", "lines-first"])
def test_one_bag_of_250_g_and_two_of_1_kg_are_two_items_with_their_prices(
    apply, store, catalogue_first
):
    catalogue = [
        ("product.created", variable_product()),
        ("product.created", hook(SMALL_BAG)),
        ("product.created", hook(LARGE_BAG)),
    ]
    payload = subscription_with(
        line(1, SMALL, 1, "11.90", sku="PUR-ETH-250", option="250 g"),
        line(2, LARGE, 2, "76.00", sku="PUR-ETH-1KG", option="1 kg"),
    )
    sequence = (
        [*catalogue, ("subscription.created", payload)]
        if catalogue_first
        else [("subscription.created", payload), *catalogue]
    )

    for topic, body in sequence:
        delivery = apply(topic, body)
        assert delivery.status == "processed", (topic, delivery.error)

    subscription = Subscription.objects.get()
    assert items(subscription) == [
        ("PUR-ETH", "PUR-ETH-1KG", 2, Decimal("38.00")),
        ("PUR-ETH", "PUR-ETH-250", 1, Decimal("11.90")),
    ]
    # One product, two variants, each the one its variation maps to, complete
    assert Product.objects.filter(organization=store.organization).count() == 1
    small, large = (mapped(Resource.VARIATION, v) for v in (SMALL, LARGE))
    assert {i.variant_id for i in subscription.items.all()} == {small.pk, large.pk}
    assert (small.label, small.net_weight_grams) == ("250 g", 250)
    assert (large.label, large.net_weight_grams) == ("1 kg", 1000)
    # The weight in the box, by hand: 1 x 0.25 kg + 2 x 1 kg
    weight = sum(i.weight_grams * i.quantity for i in subscription.items.all())
    assert Decimal(weight) / 1000 == Decimal("2.25")


def test_two_lines_of_the_same_variation_are_one_item(apply, store):
    apply("product.created", variable_product())
    apply("product.created", hook(LARGE_BAG))

    apply(
        "subscription.created",
        subscription_with(
            line(1, LARGE, 1, "38.00", sku="PUR-ETH-1KG", option="1 kg"),
            line(2, LARGE, 1, "36.00", sku="PUR-ETH-1KG", option="1 kg"),
        ),
    )

    assert items(Subscription.objects.get()) == [("PUR-ETH", "PUR-ETH-1KG", 2, Decimal("37.00"))]


def test_switching_variation_changes_the_items_and_records_it(apply, store):
    apply("product.created", variable_product())
    apply("product.created", hook(SMALL_BAG))
    apply("product.created", hook(LARGE_BAG))
    first = subscription_with(line(1, SMALL, 1, "38.00", sku="PUR-ETH-250", option="250 g"))
    apply("subscription.created", first)

    # Same product, same quantity and price: only the variation differs
    switched = later(
        first, line_items=[line(2, LARGE, 1, "38.00", sku="PUR-ETH-1KG", option="1 kg")]
    )
    apply("subscription.updated", switched)

    subscription = Subscription.objects.get()
    assert items(subscription) == [("PUR-ETH", "PUR-ETH-1KG", 1, Decimal("38.00"))]
    assert subscription.events.filter(kind="items_changed").count() == 1


def test_a_lines_variant_found_by_sku_is_mapped_to_its_variation(apply, store, org_a):
    product = Product.objects.create(
        organization=org_a, sku="PUR-ETH", name="Éthiopie", unit_price=1
    )
    variant = Variant.objects.create(
        organization=org_a, product=product, sku="PUR-ETH-1KG", unit_price=Decimal("38.00")
    )

    apply(
        "subscription.created",
        subscription_with(line(1, LARGE, 1, "38.00", sku="PUR-ETH-1KG", option="1 kg")),
    )

    assert mapped(Resource.VARIATION, LARGE) == variant
    assert mapped(Resource.PRODUCT, COFFEE) == product  # its parent too: no stray product
    assert list(Product.objects.filter(organization=org_a)) == [product]
    assert Subscription.objects.get().items.get().variant == variant


# --- AUTO-DRAFT ---------------------------------------------------------------------


def test_an_auto_draft_name_never_replaces_a_name_and_the_next_payload_does(apply, store):
    # The line made the product and its variant first
    apply(
        "subscription.created",
        subscription_with(line(1, LARGE, 1, "38.00", sku="PUR-ETH-1KG", option="1 kg")),
    )
    draft = variable_product(name="AUTO-DRAFT", sku="")
    apply("product.created", draft)
    apply(
        "product.created",
        {
            **LARGE_BAG,
            "type": "variation",
            "parent_id": COFFEE,
            "name": "AUTO-DRAFT",
            "attributes": [],
            "date_modified_gmt": "2026-03-02T09:00:00",
        },
    )

    product, variant = mapped(Resource.PRODUCT, COFFEE), mapped(Resource.VARIATION, LARGE)
    assert product.name == "Éthiopie Yirgacheffe"  # the line's parent_name, kept
    assert variant.attributes == [{"name": "Poids", "option": "1 kg"}]  # the line's, kept

    apply("product.updated", later(draft, name="Éthiopie Yirgacheffe Kochere"))
    apply("product.updated", hook(LARGE_BAG))

    product.refresh_from_db()
    variant.refresh_from_db()
    assert product.name == "Éthiopie Yirgacheffe Kochere"
    assert variant.attributes == [{"name": "Poids", "option": "1 kg"}]
    assert variant.net_weight_grams == 1000


# --- Bad input ------------------------------------------------------------------------


def test_a_variation_without_parent_fails_and_changes_nothing(apply, store):
    delivery = apply("product.created", {**LARGE_BAG, "type": "variation", "parent_id": 0})

    assert delivery.status == "failed"
    assert "parent_id" in delivery.error
    assert not Variant.objects.exists()
    assert not Product.objects.exists()


BAD_VARIATIONS = {
    "attribute-not-an-object": ({"attributes": ["Poids: 1 kg"]}, "attribute is not an object"),
    "weight-not-a-number": ({"weight": "heavy"}, "heavy"),
    "negative-weight": ({"weight": "-1"}, "negative weight"),
    "absurd-weight": ({"weight": "1e12"}, "weight out of range"),
    "negative-price": ({"price": "-3.00"}, "negative price"),
    "parent-id-not-a-number": ({"parent_id": "801; drop"}, "parent_id"),
}


@pytest.mark.parametrize(("change", "error"), BAD_VARIATIONS.values(), ids=BAD_VARIATIONS.keys())
def test_a_malformed_variation_fails_with_its_error_and_changes_nothing(
    apply, store, change, error
):
    apply("product.created", variable_product())
    apply("product.created", hook(LARGE_BAG))
    before = list(Variant.objects.values())

    delivery = apply("product.updated", later(hook(LARGE_BAG), **change))

    assert delivery.status == "failed"
    assert error in delivery.error
    assert list(Variant.objects.values()) == before


def test_a_parents_variations_list_of_garbage_fails_and_retires_nothing(apply, store):
    apply("product.created", variable_product())
    apply("product.created", hook(LARGE_BAG))

    delivery = apply("product.updated", later(variable_product(), variations=["x"]))

    assert delivery.status == "failed"
    assert mapped(Resource.VARIATION, LARGE).active is True
    assert mapped(Resource.PRODUCT, COFFEE).name == "Éthiopie Yirgacheffe"


def test_a_variation_with_another_products_sku_fails_and_changes_nothing(apply, store, org_a):
    Product.objects.create(organization=org_a, sku="PUR-ETH-1KG", name="Brésil 1 kg", unit_price=1)

    delivery = apply("product.created", hook(LARGE_BAG))

    assert delivery.status == "failed"
    assert "PUR-ETH-1KG" in delivery.error
    assert not Variant.objects.exists()


def test_a_variation_of_another_shops_organization_is_not_touched(apply, store, org_b):
    other = Product.objects.create(
        organization=org_b, sku="PUR-ETH", name="B's coffee", unit_price=1
    )
    Variant.objects.create(
        organization=org_b, product=other, sku="PUR-ETH-1KG", unit_price=Decimal("1")
    )

    apply("product.created", variable_product())
    apply("product.created", hook(LARGE_BAG))

    assert Variant.objects.get(organization=org_b).unit_price == Decimal("1")
    assert mapped(Resource.VARIATION, LARGE).organization == store.organization


# --- Retired, never deleted -----------------------------------------------------------


def test_the_parents_list_without_a_variation_retires_it_and_an_older_copy_does_not_revive_it(
    apply, store
):
    apply("product.created", variable_product())
    apply("product.created", hook(SMALL_BAG))
    apply("product.created", hook(LARGE_BAG))

    delivery = apply("product.updated", later(variable_product(), variations=[SMALL]))

    assert "1 variation(s) retired" in delivery.error
    large = mapped(Resource.VARIATION, LARGE)
    assert large.active is False
    assert mapped(Resource.VARIATION, SMALL).active is True
    # A copy of the variation's last webhook, replayed: older than the list, ignored
    replay = apply("product.updated", {**hook(LARGE_BAG), "description": "replayed"})
    assert replay.status == "ignored"
    large.refresh_from_db()
    assert large.active is False


@pytest.fixture
def fake_shop():
    fake = FakeShop()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, fake.pattern, callback=fake)
        yield fake


def test_reconciliation_reads_every_page_of_variations(store, fake_shop, monkeypatch):
    monkeypatch.setattr("woocommerce.reconcile.PER_PAGE", 2)
    ids = list(range(901, 906))
    fake_shop.add("products", variable_product(variations=ids))
    for n, woo_id in enumerate(ids):
        grams = 250 * (n + 1)
        fake_shop.add_variation(
            COFFEE,
            variation(
                woo_id,
                f"{grams} g",
                sku=f"ETH-{grams}",
                price="10",
                weight=str(grams / 1000),
                position=n,
            ),
        )

    report = reconcile(store, full=True)

    assert not report.errors, report.errors
    assert report.counts["variation processed"] == 5
    assert len(fake_shop.requests_to(f"products/{COFFEE}/variations")) == 3
    product = mapped(Resource.PRODUCT, COFFEE)
    assert [v.sku for v in product.variants.all()] == [f"ETH-{250 * n}" for n in range(1, 6)]
    assert [v.net_weight_grams for v in product.variants.all()] == [250, 500, 750, 1000, 1250]
    # A second run changes nothing
    again = reconcile(store)
    assert again.counts["variation ignored"] == 5
    assert not again.counts["variation processed"]


def test_a_variation_deleted_in_the_shop_is_retired_by_reconciliation_and_listed_for_staff(
    store, fake_shop, apply, org_a, admin_client_for, staff_user_a
):
    # Given the coffee and its two bags in the shop, reconciled, and a subscription to 1 kg
    fake_shop.add("products", variable_product())
    fake_shop.add_variation(COFFEE, SMALL_BAG)
    fake_shop.add_variation(COFFEE, LARGE_BAG)
    assert not reconcile(store, full=True).errors
    apply(
        "subscription.created",
        subscription_with(line(1, LARGE, 2, "76.00", sku="PUR-ETH-1KG", option="1 kg")),
    )
    subscription = Subscription.objects.get()
    large = mapped(Resource.VARIATION, LARGE)

    # When the 1 kg bag is deleted in the shop: no webhook, the parent's date unchanged
    del fake_shop.variations[COFFEE][LARGE]
    report = reconcile(store)

    # Then its variant is retired, not deleted, and the subscription keeps its item
    assert not report.errors, report.errors
    assert report.counts["variation retired"] == 1
    large.refresh_from_db()
    assert large.active is False
    assert mapped(Resource.VARIATION, SMALL).active is True
    item = SubscriptionItem.objects.get(subscription=subscription)
    assert (item.variant, item.quantity) == (large, 2)
    # Listed for staff: in the reconciliation's summary...
    assert f"Subscription {subscription.pk} keeps the retired variant PUR-ETH-1KG" in (
        report.summary()
    )
    # ...and under the subscriptions' filter "on a retired variant"
    other = SubscriptionFactory(customer=subscription.customer)
    client = admin_client_for(staff_user_a)
    response = client.get("/admin/subscriptions/subscription/", {"variant": "retired"})
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert shown == {subscription.pk}
    assert other.pk not in shown
    # A later run retires nothing more and lists it no more
    assert not reconcile(store).counts["variation retired"]


def test_a_product_deleted_webhook_naming_a_variation_retires_its_variant(apply, store):
    apply("product.created", variable_product())
    apply("product.created", hook(LARGE_BAG))

    delivery = apply("product.deleted", {"id": LARGE})

    assert delivery.status == "processed", delivery.error
    assert mapped(Resource.VARIATION, LARGE).active is False
    assert mapped(Resource.PRODUCT, COFFEE).active is True  # the parent is untouched
    # Only a reconciliation that finds it again brings it back
    assert apply("product.updated", later(hook(LARGE_BAG))).status == "ignored"
