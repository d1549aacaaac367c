"""The REST API for customers and products: authentication, scoping, errors."""

from decimal import Decimal

import pytest

from crm.models import ApiKey, Customer, Product
from crm.services import api_key_revoke
from tests.api_schema import own_responses
from tests.factories import AddressFactory, CustomerFactory, ProductFactory, api_key_for

pytestmark = pytest.mark.django_db


# --- Authentication ------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Api-Key ",
        "Api-Key not-a-key",
        "Api-Key AbCdEfGh.wrong-secret-wrong-secret-wrong",
        "Bearer something",
        "Basic dXNlcjpwYXNzd29yZA==",
    ],
)
def test_missing_or_wrong_key_is_refused_with_401(client, org_a, authorization):
    ProductFactory(organization=org_a)
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = client.get("/api/v1/products/", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Api-Key")
    assert set(response.json()) == {"message", "extra"}


def test_a_valid_key_with_a_wrong_secret_is_refused(client, org_a):
    _row, key = api_key_for(org_a)
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")

    response = client.get("/api/v1/products/", HTTP_AUTHORIZATION=f"Api-Key {tampered}")

    assert response.status_code == 401


def test_a_revoked_key_is_refused_with_401(client, org_a):
    row, key = api_key_for(org_a)
    assert client.get("/api/v1/products/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200

    api_key_revoke(api_key=row)
    response = client.get("/api/v1/products/", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 401
    assert response.json()["message"] == "This API key has been revoked."


def test_keys_are_stored_only_as_a_hash(org_a):
    row, key = api_key_for(org_a)

    stored = ApiKey.objects.values().get(pk=row.pk)
    assert key not in [str(value) for value in stored.values()]
    assert stored["hashed_key"] == ApiKey.hash(key)
    assert key.startswith(stored["prefix"] + ".")
    assert len(stored["hashed_key"]) == 64


def test_a_session_login_is_not_an_api_credential(admin_client):
    # Staff logged into the admin are not API clients: the API wants a key.
    assert admin_client.get("/api/v1/customers/").status_code == 401


# --- Isolation between organizations ---------------------------------------


@pytest.mark.parametrize("resource", ["customers", "products"])
def test_lists_exclude_other_organizations_rows(api_client_for, org_a, org_b, resource):
    factory = {"customers": CustomerFactory, "products": ProductFactory}[resource]
    mine = factory.create_batch(2, organization=org_a)
    factory.create_batch(3, organization=org_b)

    response = api_client_for(org_a).get(f"/api/v1/{resource}/")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert {row["id"] for row in response.json()["results"]} == {row.pk for row in mine}


@pytest.mark.parametrize("resource", ["customers", "products"])
def test_another_organizations_row_is_404_to_read_and_to_change(
    api_client_for, org_a, org_b, resource
):
    factory = {"customers": CustomerFactory, "products": ProductFactory}[resource]
    theirs = factory(organization=org_b)
    client = api_client_for(org_a)

    read = client.get(f"/api/v1/{resource}/{theirs.pk}/")
    change = client.patch(f"/api/v1/{resource}/{theirs.pk}/", {"phone": "1"}, format="json")

    assert read.status_code == 404
    assert change.status_code == 404
    assert read.json() == {"message": "Not found.", "extra": {}}
    theirs.refresh_from_db()
    assert getattr(theirs, "phone", "") != "1"


def test_a_create_cannot_target_another_organization(api_client_for, org_a, org_b):
    response = api_client_for(org_a).post(
        "/api/v1/products/",
        {"sku": "X-1", "name": "Mine", "unit_price": "3.00", "organization": org_b.pk},
        format="json",
    )

    assert response.status_code == 201
    product = Product.objects.get(pk=response.json()["id"])
    assert product.organization == org_a
    assert not Product.objects.filter(organization=org_b).exists()


def test_the_same_sku_and_email_may_exist_in_two_organizations(api_client_for, org_a, org_b):
    ProductFactory(organization=org_b, sku="SAME")
    CustomerFactory(organization=org_b, email="same@example.com")
    client = api_client_for(org_a)

    product = client.post(
        "/api/v1/products/", {"sku": "SAME", "name": "A", "unit_price": "1"}, format="json"
    )
    customer = client.post("/api/v1/customers/", {"email": "same@example.com"}, format="json")

    assert product.status_code == 201
    assert customer.status_code == 201


# --- Customers ---------------------------------------------------------------


def test_create_a_customer_with_addresses(api_client_for, org_a):
    response = api_client_for(org_a).post(
        "/api/v1/customers/",
        {
            "email": "camille@example.fr",
            "first_name": "Camille",
            "last_name": "Martin",
            "language": "fr",
            "addresses": [
                {
                    "kind": "shipping",
                    "name": "Camille Martin",
                    "line1": "8 rue Mercière",
                    "postcode": "69002",
                    "city": "Lyon",
                    "country": "FR",
                }
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "camille@example.fr"
    assert body["addresses"][0]["city"] == "Lyon"
    assert body["addresses"][0]["country"] == "FR"
    customer = Customer.objects.get(pk=body["id"])
    assert customer.organization == org_a
    assert customer.addresses.get().organization == org_a


def test_an_address_keeps_its_state_and_an_address_without_one_is_still_valid(
    api_client_for, org_a
):
    client = api_client_for(org_a)
    address = {
        "kind": "shipping",
        "name": "Jo Smith",
        "line1": "969 Market",
        "postcode": "94103",
        "city": "San Francisco",
        "state": "CA",
        "country": "US",
    }

    created = client.post(
        "/api/v1/customers/",
        {"email": "jo@example.com", "addresses": [address, {**address, "state": ""}]},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert [a["state"] for a in created.json()["addresses"]] == ["CA", ""]
    stored = Customer.objects.get(email="jo@example.com").addresses.order_by("id")
    assert [a.state for a in stored] == ["CA", ""]
    assert str(stored[0]) == "Jo Smith, 969 Market, 94103 San Francisco, CA, US"
    too_long = client.post(
        "/api/v1/customers/",
        {"email": "al@example.com", "addresses": [{**address, "state": "x" * 101}]},
        format="json",
    )
    assert too_long.status_code == 400
    assert "state" in str(too_long.json()["extra"]["fields"]["addresses"])
    assert not Customer.objects.filter(email="al@example.com").exists()


def test_a_duplicate_email_in_one_organization_is_a_conflict_naming_the_field(
    api_client_for, org_a
):
    CustomerFactory(organization=org_a, email="camille@example.fr")

    response = api_client_for(org_a).post(
        "/api/v1/customers/", {"email": "Camille@Example.fr"}, format="json"
    )

    assert response.status_code == 409  # valid input, refused by what is stored
    assert response.json()["message"] == "A customer with this e-mail already exists."
    assert "email" in response.json()["extra"]["fields"]
    assert Customer.objects.filter(organization=org_a).count() == 1


def test_an_invalid_address_changes_nothing(api_client_for, org_a):
    response = api_client_for(org_a).post(
        "/api/v1/customers/",
        {
            "email": "new@example.fr",
            "addresses": [
                {"name": "X", "line1": "1", "postcode": "1", "city": "Y", "country": "ZZ"}
            ],
        },
        format="json",
    )

    assert response.status_code == 400
    assert "addresses" in response.json()["extra"]["fields"]
    assert not Customer.objects.filter(email="new@example.fr").exists()


def test_update_a_customer_partially_and_replace_addresses(api_client_for, org_a):
    customer = CustomerFactory(organization=org_a, first_name="Old", phone="")
    AddressFactory(customer=customer, city="Lyon")
    client = api_client_for(org_a)

    kept = client.patch(f"/api/v1/customers/{customer.pk}/", {"phone": "+33 6"}, format="json")
    replaced = client.patch(
        f"/api/v1/customers/{customer.pk}/",
        {
            "addresses": [
                {
                    "name": "N",
                    "line1": "1 rue",
                    "postcode": "75001",
                    "city": "Paris",
                    "country": "FR",
                }
            ]
        },
        format="json",
    )

    assert kept.status_code == 200
    assert kept.json()["first_name"] == "Old"
    assert kept.json()["phone"] == "+33 6"
    assert [a["city"] for a in kept.json()["addresses"]] == ["Lyon"]
    assert [a["city"] for a in replaced.json()["addresses"]] == ["Paris"]


def test_customer_filters_and_search(api_client_for, org_a):
    CustomerFactory(
        organization=org_a,
        email="anna@example.fr",
        language="fr",
        first_name="Anna",
        last_name="Roy",
    )
    CustomerFactory(organization=org_a, email="bob@example.com", language="en", last_name="Smith")
    client = api_client_for(org_a)

    by_language = client.get("/api/v1/customers/", {"language": "en"}).json()
    by_search = client.get("/api/v1/customers/", {"q": "smith"}).json()
    by_email = client.get("/api/v1/customers/", {"email": "ANNA@example.fr"}).json()

    assert [c["email"] for c in by_language["results"]] == ["bob@example.com"]
    assert [c["email"] for c in by_search["results"]] == ["bob@example.com"]
    assert [c["email"] for c in by_email["results"]] == ["anna@example.fr"]


def test_customer_list_queries_do_not_grow_with_its_length(
    api_client_for, org_a, django_assert_max_num_queries
):
    client = api_client_for(org_a)
    for customer in CustomerFactory.create_batch(30, organization=org_a):
        AddressFactory(customer=customer)

    with django_assert_max_num_queries(4):  # key, count, page, addresses
        response = client.get("/api/v1/customers/")

    assert response.json()["count"] == 30


# --- Products ----------------------------------------------------------------


def test_create_and_update_a_product(api_client_for, org_a):
    client = api_client_for(org_a)

    created = client.post(
        "/api/v1/products/",
        {"sku": "ETH-250", "name": "Éthiopie 250 g", "unit_price": "11.90"},
        format="json",
    )
    updated = client.put(
        f"/api/v1/products/{created.json()['id']}/",
        {"sku": "ETH-250", "name": "Éthiopie 250 g", "unit_price": "12.40", "active": False},
        format="json",
    )

    assert created.status_code == 201
    assert created.json()["unit_price"] == "11.90"
    assert updated.status_code == 200
    product = Product.objects.get(pk=created.json()["id"])
    assert product.unit_price == Decimal("12.40")
    assert product.active is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sku": "A", "name": "N", "unit_price": "-1"}, "unit_price"),
        ({"sku": "A", "name": "N", "unit_price": "abc"}, "unit_price"),
        ({"sku": "", "name": "N", "unit_price": "1"}, "sku"),
        ({"name": "N", "unit_price": "1"}, "sku"),
    ],
)
def test_bad_product_input_is_a_field_error_and_writes_nothing(
    api_client_for, org_a, payload, field
):
    response = api_client_for(org_a).post("/api/v1/products/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not Product.objects.exists()


def test_a_duplicate_sku_is_a_conflict_naming_the_field(api_client_for, org_a):
    ProductFactory(organization=org_a, sku="ETH-250")

    response = api_client_for(org_a).post(
        "/api/v1/products/", {"sku": "ETH-250", "name": "Again", "unit_price": "1"}, format="json"
    )

    assert response.status_code == 409  # valid input, refused by what is stored
    assert response.json()["extra"]["fields"]["sku"] == ["A product with this SKU already exists."]


def test_product_list_paginates_and_filters(api_client_for, org_a):
    ProductFactory.create_batch(5, organization=org_a)
    ProductFactory(organization=org_a, active=False, sku="OLD")
    client = api_client_for(org_a)

    page = client.get("/api/v1/products/", {"page_size": 2}).json()
    inactive = client.get("/api/v1/products/", {"active": "false"}).json()

    assert page["count"] == 6
    assert len(page["results"]) == 2
    assert page["next"] is not None
    assert [p["sku"] for p in inactive["results"]] == ["OLD"]


def test_delete_is_not_offered(api_client_for, org_a):
    product = ProductFactory(organization=org_a)

    response = api_client_for(org_a).delete(f"/api/v1/products/{product.pk}/")

    assert response.status_code == 405
    assert Product.objects.filter(pk=product.pk).exists()


# --- Documentation -----------------------------------------------------------


def test_openapi_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/customers/" in paths
    assert "/api/v1/products/{id}/" in paths
    assert "ApiKeyAuth" in schema.json()["components"]["securitySchemes"]
    assert docs.status_code == 200
    # Swagger UI's files are ours, not a CDN's: the back office runs offline.
    assert b"cdn.jsdelivr.net" not in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content


@pytest.mark.parametrize("pk", ["abc", "99999999", "1.5", "-1", "1/extra"])
def test_an_unknown_or_malformed_id_is_a_json_404(api_client_for, org_a, pk):
    response = api_client_for(org_a).get(f"/api/v1/customers/{pk}/")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_the_schema_documents_the_error_shape_and_has_no_warnings():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    import json

    schema = json.loads(out.getvalue())
    detail = schema["paths"]["/api/v1/customers/{id}/"]
    assert detail["get"]["parameters"][0]["schema"]["type"] == "integer"
    assert own_responses(detail["patch"]["responses"]) == {"200", "400", "401", "404", "409"}
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"message", "extra"}


def test_both_spellings_of_a_url_answer_without_a_redirect(api_client_for, org_a):
    client = api_client_for(org_a)

    with_slash = client.post("/api/v1/products/", {"sku": "A", "name": "A", "unit_price": "1"})
    without = client.post("/api/v1/products", {"sku": "B", "name": "B", "unit_price": "1"})

    assert (with_slash.status_code, without.status_code) == (201, 201)
    assert client.get("/api/v1/products").json()["count"] == 2


def test_a_new_customer_speaks_the_organizations_language_unless_told(api_client_for):
    from tests.factories import OrganizationFactory

    english_shop = OrganizationFactory(language="en")
    client = api_client_for(english_shop)

    default = client.post("/api/v1/customers/", {"email": "a@example.com"}, format="json")
    chosen = client.post(
        "/api/v1/customers/", {"email": "b@example.com", "language": "fr"}, format="json"
    )

    assert default.json()["language"] == "en"
    assert chosen.json()["language"] == "fr"
