"""Products with variants: the API (nested in the product), the admin, and a SKU that is
unique in the organization across products and variants."""

from decimal import Decimal

import pytest

from core.errors import ConflictError
from crm import services
from crm.models import Product, Variant
from tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db

ESPRESSO = {
    "sku": "ESP",
    "name": "Espresso Blend",
    "unit_price": "9.00",
    "net_weight_grams": 250,
    "variants": [
        {
            "sku": "ESP-250",
            "attributes": [{"name": "Weight", "option": "250 g"}],
            "unit_price": "9.00",
        },
        {
            "sku": "ESP-1KG",
            "attributes": [{"name": "Weight", "option": "1 kg"}],
            "unit_price": "30.00",
            "net_weight_grams": 1000,
        },
    ],
}


# --- API ------------------------------------------------------------------------------


def test_a_product_is_created_with_its_variants_in_order(api_client_for, org_a):
    response = api_client_for(org_a).post("/api/v1/products/", ESPRESSO, format="json")

    assert response.status_code == 201
    body = response.json()
    assert [
        (v["sku"], v["label"], v["unit_price"], v["net_weight_grams"], v["weight_grams"])
        for v in body["variants"]
    ] == [
        ("ESP-250", "250 g", "9.00", None, 250),  # the product's weight
        ("ESP-1KG", "1 kg", "30.00", 1000, 1000),
    ]
    assert [v["position"] for v in body["variants"]] == [0, 1]
    assert Variant.objects.filter(organization=org_a, product_id=body["id"]).count() == 2


def test_a_simple_product_has_no_variants_and_reads_as_before(api_client_for, org_a):
    product = ProductFactory(organization=org_a, sku="FILTERS")

    body = api_client_for(org_a).get(f"/api/v1/products/{product.pk}/").json()

    assert body["sku"] == "FILTERS"
    assert body["variants"] == []


def test_sending_the_variants_updates_creates_and_retires(api_client_for, org_a):
    client = api_client_for(org_a)
    created = client.post("/api/v1/products/", ESPRESSO, format="json").json()
    small, large = created["variants"]

    response = client.patch(
        f"/api/v1/products/{created['id']}/",
        {
            "variants": [
                {"id": large["id"], "sku": "ESP-1KG", "unit_price": "28.00"},
                {
                    "sku": "ESP-500",
                    "attributes": [{"name": "Weight", "option": "500 g"}],
                    "unit_price": "16.00",
                },
            ]
        },
        format="json",
    )

    assert response.status_code == 200
    by_sku = {v["sku"]: v for v in response.json()["variants"]}
    assert by_sku["ESP-1KG"]["unit_price"] == "28.00"
    assert by_sku["ESP-1KG"]["position"] == 0
    assert by_sku["ESP-500"]["active"] is True
    # Left out: retired, never deleted (boxes and items name it).
    assert by_sku["ESP-250"]["active"] is False
    assert Variant.objects.get(pk=small["id"]).active is False


def test_the_products_filter_finds_a_product_by_a_variants_sku(api_client_for, org_a):
    client = api_client_for(org_a)
    client.post("/api/v1/products/", ESPRESSO, format="json")
    ProductFactory(organization=org_a, sku="OTHER", name="Other")

    exact = client.get("/api/v1/products/", {"variant_sku": "ESP-1KG"}).json()
    search = client.get("/api/v1/products/", {"q": "1kg"}).json()
    none = client.get("/api/v1/products/", {"variant_sku": "ESP-1"}).json()

    assert [p["sku"] for p in exact["results"]] == ["ESP"]
    assert [p["sku"] for p in search["results"]] == ["ESP"]
    assert none["count"] == 0


@pytest.mark.parametrize(
    ("taken_by", "payload", "message"),
    [
        # A variant may not take a product's SKU...
        (
            "product",
            {**ESPRESSO, "variants": [{"sku": "TAKEN", "unit_price": "1"}]},
            "The product “Taken” already has this SKU.",
        ),
        # ...nor a product a variant's.
        (
            "variant",
            {"sku": "TAKEN", "name": "New", "unit_price": "1"},
            "The variant “Taken - 1 kg” already has this SKU.",
        ),
    ],
)
def test_a_sku_is_unique_across_products_and_variants(
    api_client_for, org_a, taken_by, payload, message
):
    if taken_by == "product":
        ProductFactory(organization=org_a, sku="TAKEN", name="Taken")
    else:
        VariantFactory(
            product=ProductFactory(organization=org_a, sku="T", name="Taken"),
            sku="TAKEN",
            attributes=[{"name": "Weight", "option": "1 kg"}],
        )
    before = (Product.objects.count(), Variant.objects.count())

    response = api_client_for(org_a).post("/api/v1/products/", payload, format="json")

    assert response.status_code == 409
    fields = response.json()["extra"]["fields"]
    errors = fields["variants"]["0"]["sku"] if "variants" in fields else fields["sku"]
    assert errors == [message]
    assert (Product.objects.count(), Variant.objects.count()) == before


def test_another_organization_may_use_the_same_sku(api_client_for, org_a, org_b):
    VariantFactory(product=ProductFactory(organization=org_b), sku="ESP-250")

    response = api_client_for(org_a).post("/api/v1/products/", ESPRESSO, format="json")

    assert response.status_code == 201


def test_another_products_or_organizations_variant_id_is_refused(api_client_for, org_a, org_b):
    client = api_client_for(org_a)
    mine = client.post("/api/v1/products/", ESPRESSO, format="json").json()
    other_product = VariantFactory(product=ProductFactory(organization=org_a))
    foreign = VariantFactory(product=ProductFactory(organization=org_b))

    for variant in (other_product, foreign):
        response = client.patch(
            f"/api/v1/products/{mine['id']}/",
            {"variants": [{"id": variant.pk, "sku": "STOLEN", "unit_price": "1"}]},
            format="json",
        )

        assert response.status_code == 400
        assert response.json()["extra"]["fields"]["variants"]["0"]["id"] == [
            "Unknown variant of this product."
        ]
        variant.refresh_from_db()
        assert variant.sku != "STOLEN"
    assert Variant.objects.filter(product_id=mine["id"], active=True).count() == 2


@pytest.mark.parametrize(
    "attributes",
    [
        "1 kg",
        [{"name": "Weight"}],
        [{"name": "", "option": "1 kg"}],
        [{"name": "W", "option": "o"}] * 11,
    ],
)
def test_malformed_attributes_are_a_field_error(api_client_for, org_a, attributes):
    payload = {**ESPRESSO, "variants": [{"sku": "V", "unit_price": "1", "attributes": attributes}]}

    response = api_client_for(org_a).post("/api/v1/products/", payload, format="json")

    assert response.status_code == 400
    assert "variants" in response.json()["extra"]["fields"]
    assert not Product.objects.exists()


def test_the_service_refuses_a_variant_taking_a_products_sku(org_a):
    product = ProductFactory(organization=org_a, sku="ESP", name="Espresso")

    with pytest.raises(ConflictError):
        services.variant_create(product=product, sku="ESP", unit_price=Decimal("1"))

    assert not Variant.objects.exists()


# --- Admin ----------------------------------------------------------------------------


def variant_rows(product, rows):
    data = {
        "organization": product.organization_id,
        "sku": product.sku,
        "name": product.name,
        "unit_price": str(product.unit_price),
        "active": "on",
        "variants-TOTAL_FORMS": str(len(rows)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"variants-{index}-{key}"] = value
    return data


def test_the_product_page_edits_its_variants_inline(admin_client_for, staff_user_a, org_a):
    product = ProductFactory(organization=org_a, sku="ESP", name="Espresso Blend")
    client = admin_client_for(staff_user_a)

    response = client.post(
        f"/admin/crm/product/{product.pk}/change/",
        variant_rows(
            product,
            [
                {
                    "sku": "ESP-250",
                    "attributes": '[{"name": "Weight", "option": "250 g"}]',
                    "unit_price": "9.00",
                    "net_weight_grams": "250",
                    "active": "on",
                    "position": "0",
                }
            ],
        ),
    )

    assert response.status_code == 302
    (variant,) = product.variants.all()
    assert (variant.organization_id, variant.name) == (org_a.pk, "Espresso Blend - 250 g")


def test_the_admin_refuses_a_variant_with_a_products_sku(admin_client_for, staff_user_a, org_a):
    product = ProductFactory(organization=org_a, sku="ESP", name="Espresso Blend")
    ProductFactory(organization=org_a, sku="FILTERS", name="Filters")
    client = admin_client_for(staff_user_a)

    response = client.post(
        f"/admin/crm/product/{product.pk}/change/",
        variant_rows(
            product,
            [{"sku": "FILTERS", "attributes": "[]", "unit_price": "1", "position": "0"}],
        ),
    )

    assert response.status_code == 200
    assert "The product “Filters” already has this SKU." in response.text
    assert not Variant.objects.exists()


def test_the_product_list_finds_a_product_by_a_variants_sku(admin_client_for, staff_user_a, org_a):
    espresso = ProductFactory(organization=org_a, sku="ESP", name="Espresso Blend")
    VariantFactory(product=espresso, sku="ESP-1KG")
    VariantFactory(product=espresso, sku="ESP-250")
    ProductFactory(organization=org_a, sku="OTHER", name="Other")

    response = admin_client_for(staff_user_a).get("/admin/crm/product/", {"q": "ESP-1KG"})

    assert [row.pk for row in response.context["cl"].result_list] == [espresso.pk]
