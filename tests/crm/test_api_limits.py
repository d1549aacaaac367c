"""What one API request may carry, and how many a key may send.

Every refusal is in the error shape, fast, and writes nothing; the largest valid requests
finish far inside a web worker's timeout (gunicorn's default: 30 s).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from crm.api import limits
from crm.models import Address, Customer, Membership, Product
from fulfillment.models import BatchLine
from subscriptions.models import Subscription
from tests.factories import (
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    api_key_for,
    billing_settings,
    member,
    open_batch,
)

pytestmark = pytest.mark.django_db

#: Far less than a web worker's timeout: the refusals must not be a way to hold workers.
FAST = 2.0


def address(n: int, *, long: bool = False) -> dict:
    pad = "x" * (190 if long else 0)
    return {
        "kind": "shipping" if n % 2 else "billing",
        "name": f"Name {n} {pad}"[:200],
        "company": pad[:200],
        "line1": f"{n} rue de la Paix {pad}"[:200],
        "line2": pad[:200],
        "postcode": "75002",
        "city": ("Paris " + pad)[:100],
        "country": "FR",
        "phone": "+33 1 23 45 67 89",
    }


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"message", "extra"}, body
    assert isinstance(body["message"], str)
    assert isinstance(body["extra"], dict)
    return body


def timed(call):
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started


@pytest.fixture
def api(org_a):
    return APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")


def post_json(api, path, raw: bytes, method="post"):
    return getattr(api, method)(path, data=raw, content_type="application/json")


# --- Nested rows ---------------------------------------------------------------------------


def test_25000_addresses_are_a_400_in_the_error_shape_fast(api, org_a, settings):
    compact = [
        {
            "name": f"N{n}",
            "line1": f"{n} rue",
            "postcode": "75002",
            "city": "Paris",
            "country": "FR",
        }
        for n in range(25_000)
    ]
    body = json.dumps({"email": "many@example.com", "addresses": compact}).encode()
    assert 2_000_000 < len(body) < settings.API_MAX_BODY_BYTES  # reaches the count check

    response, seconds = timed(lambda: post_json(api, "/api/v1/customers/", body))

    fields = error(response, 400)["extra"]["fields"]
    assert "addresses" in fields
    assert seconds < FAST
    assert not Customer.objects.exists()
    assert not Address.objects.exists()


def test_the_addresses_limit_is_the_documented_one(api, org_a):
    customer = CustomerFactory(organization=org_a)
    too_many = [address(n) for n in range(limits.ADDRESSES_MAX + 1)]

    response = api.patch(f"/api/v1/customers/{customer.pk}/", {"addresses": too_many})

    error(response, 400)
    assert not Address.objects.exists()
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    component = schema["components"]["schemas"]["CustomerInputRequest"]
    assert component["properties"]["addresses"]["maxItems"] == limits.ADDRESSES_MAX


@pytest.mark.parametrize(
    ("path", "field", "limit"),
    [
        ("/api/v1/subscriptions/", "items", limits.ITEMS_MAX),
        ("/api/v1/batch-lines/prepare/", "lines", limits.BULK_IDS_MAX),
        ("/api/v1/batch-lines/prepare/", "codes", limits.BULK_IDS_MAX),
        ("/api/v1/returns/", "items", limits.ITEMS_MAX),
        ("/api/v1/subscriptions/bulk/", "ids", limits.BULK_SUBSCRIPTIONS_MAX),
    ],
)
def test_every_list_in_a_request_is_bounded(api, org_a, path, field, limit):
    product = ProductFactory(organization=org_a)
    rows = {
        "items": [{"product": product.pk, "quantity": 1}] * (limit + 1),
        "lines": list(range(1, limit + 2)),
        "codes": ["L-1"] * (limit + 1),
        "ids": list(range(1, limit + 2)),
    }[field]
    body = {"customer": CustomerFactory(organization=org_a).pk, "shipment": 1, "reason": "x"}
    body["action"] = "skip"  # a bulk action's; the other routes ignore it

    response = api.post(path, {**body, field: rows})

    assert field in error(response, 400)["extra"]["fields"]
    assert not Subscription.objects.exists()


def test_too_many_preference_values_are_a_400(api, org_a):
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    values = {f"key{n}": n for n in range(limits.PREFERENCE_VALUES_MAX + 1)}

    response = api.patch(f"/api/v1/subscriptions/{subscription.pk}/preferences/", values)

    error(response, 400)


# --- The body ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, 1_000, 21])
def test_json_nested_too_deep_is_a_400_in_the_error_shape_fast(api, depth):
    body = ("[" * depth + "]" * depth).encode()
    nested_objects = ('{"a":' * depth + "1" + "}" * depth).encode()

    for raw in (body, nested_objects):
        response, seconds = timed(lambda raw=raw: post_json(api, "/api/v1/customers/", raw))
        assert "20 levels" in error(response, 400)["message"]
        assert seconds < FAST
    assert not Customer.objects.exists()


def test_json_as_deep_as_allowed_is_read(api):
    raw = json.dumps({"email": "deep@example.com", "first_name": "Ann", "x": [[[[1]]]]})
    assert (
        api.post("/api/v1/customers/", data=raw, content_type="application/json").status_code == 201
    )


def test_a_body_larger_than_the_limit_is_a_413_in_the_error_shape(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    raw = json.dumps({"email": "big@example.com", "first_name": "x" * 2000}).encode()

    body = error(post_json(api, "/api/v1/customers/", raw), 413)

    assert "1000 bytes" in body["message"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_customer_sent_as_a_form_is_a_415_never_saved_without_its_addresses(api, org_a, method):
    # It used to answer 201/200 with `addresses` silently dropped.
    customer = CustomerFactory(organization=org_a, email="kept@example.com")
    path = "/api/v1/customers/" if method == "post" else f"/api/v1/customers/{customer.pk}/"
    form = {
        "email": "form@example.com",
        "addresses[0]kind": "shipping",
        "addresses[0]name": "Form",
        "addresses[0]line1": "1 rue",
        "addresses[0]postcode": "75001",
        "addresses[0]city": "Paris",
        "addresses[0]country": "FR",
    }

    for content in ("multipart", "urlencoded"):
        if content == "multipart":
            response = getattr(api, method)(path, form, format="multipart")
        else:
            response = getattr(api, method)(
                path, urlencode(form), content_type="application/x-www-form-urlencoded"
            )
        body = error(response, 415)
        assert "JSON" in body["message"]

    assert list(Customer.objects.values_list("email", flat=True)) == ["kept@example.com"]
    assert not Address.objects.exists()


def test_more_than_1000_form_fields_get_the_error_shape_not_djangos_page(api):
    form = urlencode({f"field{n}": "x" for n in range(1_200)})

    response = api.post(
        "/api/v1/customers/", form, content_type="application/x-www-form-urlencoded"
    )

    error(response, 415)
    assert not Customer.objects.exists()


def test_more_than_1000_query_parameters_get_the_error_shape(api):
    query = urlencode({f"q{n}": "x" for n in range(1_200)})

    body = error(api.get(f"/api/v1/customers/?{query}"), 400)

    assert "1000" in body["message"]


def test_more_than_1000_fields_to_an_unknown_api_address_get_the_error_shape():
    query = urlencode({f"q{n}": "x" for n in range(1_200)})
    response = Client().post(
        f"/api/v1/nowhere/?{query}",
        urlencode({f"f{n}": "x" for n in range(1_200)}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code in (400, 404)
    assert set(response.json()) == {"message", "extra"}


def test_a_request_django_refuses_before_any_view_gets_the_error_shape_under_api():
    # DisallowedHost is raised by the middleware, before DRF: handler400 answers it.
    api = Client().get("/api/v1/customers/", HTTP_HOST="evil.example")
    admin = Client().get("/admin/", HTTP_HOST="evil.example")

    assert api.status_code == 400
    assert api.json() == {"message": "Bad request.", "extra": {}}
    assert admin.status_code == 400
    assert admin["Content-Type"].startswith("text/html")  # Django's own page elsewhere


@pytest.mark.parametrize("page", ["0", "-1", "-100"])
def test_page_zero_and_negative_pages_are_a_400_as_the_schema_says(api, page):
    assert "page" in error(api.get("/api/v1/customers/", {"page": page}), 400)["extra"]["fields"]
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    parameters = schema["paths"]["/api/v1/customers/"]["get"]["parameters"]
    assert next(p for p in parameters if p["name"] == "page")["schema"]["minimum"] == 1


# --- The largest valid requests ------------------------------------------------------------


def test_the_largest_valid_customer_writes_are_fast(api, org_a):
    addresses = [address(n, long=True) for n in range(limits.ADDRESSES_MAX)]

    response, created_in = timed(
        lambda: api.post("/api/v1/customers/", {"email": "big@example.com", "addresses": addresses})
    )
    assert response.status_code == 201, response.content
    customer = response.json()["id"]
    changed = [{**a, "line1": a["line1"][:150] + " bis"} for a in addresses]
    response, updated_in = timed(
        lambda: api.put(
            f"/api/v1/customers/{customer}/", {"email": "big@example.com", "addresses": changed}
        )
    )

    assert response.status_code == 200, response.content
    assert Address.objects.filter(customer_id=customer).count() == limits.ADDRESSES_MAX
    assert created_in < FAST
    assert updated_in < FAST


def test_the_largest_valid_subscription_writes_are_fast(api, org_a):
    billing_settings(org_a)
    customer = CustomerFactory(organization=org_a)
    products = ProductFactory.create_batch(limits.ITEMS_MAX, organization=org_a)
    items = [{"product": p.pk, "quantity": 3} for p in products]

    response, created_in = timed(
        lambda: api.post("/api/v1/subscriptions/", {"customer": customer.pk, "items": items})
    )
    assert response.status_code == 201, response.content
    subscription = response.json()["id"]
    response, changed_in = timed(
        lambda: api.post(
            f"/api/v1/subscriptions/{subscription}/change-items/",
            {"items": [{**i, "quantity": 1} for i in items]},
        )
    )

    assert response.status_code == 200, response.content
    assert created_in < FAST
    assert changed_in < FAST


def test_the_largest_valid_bulk_prepare_is_fast(api, org_a):
    batch = open_batch(org_a, datetime(2026, 12, 2, 11, 0, tzinfo=UTC), status="locked")
    subscription = SubscriptionFactory(customer__organization=org_a, status="active")
    lines = BatchLine.objects.bulk_create(
        BatchLine(
            organization=org_a,
            batch=batch,
            subscription=subscription,
            customer_id=subscription.customer_id,
            cycle=cycle,
            status=BatchLine.Status.READY,
        )
        for cycle in range(1, limits.BULK_IDS_MAX + 1)
    )

    response, seconds = timed(
        lambda: api.post("/api/v1/batch-lines/prepare/", {"lines": [line.pk for line in lines]})
    )

    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["done"]) == limits.BULK_IDS_MAX
    assert seconds < FAST * 2


# --- Throttling ----------------------------------------------------------------------------


def test_a_burst_from_one_key_gets_429s_with_retry_after_and_other_keys_are_unaffected(
    org_a, org_b, settings
):
    settings.API_THROTTLE_RATE = "300/minute"  # the production default
    busy = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")
    other_key = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a, name='two')[1]}")
    other_org = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_b)[1]}")

    with time_machine.travel(datetime(2026, 11, 4, 10, 0, 15, tzinfo=UTC), tick=False):
        statuses = [busy.get("/api/v1/products/").status_code for _ in range(500)]
        refused = busy.get("/api/v1/products/")
        assert other_key.get("/api/v1/products/").status_code == 200
        assert other_org.get("/api/v1/products/").status_code == 200

    assert statuses.count(200) == 300
    assert statuses.count(429) == 200
    assert statuses.index(429) == 300  # the first 300 pass, the rest wait
    body = error(refused, 429)
    assert refused["Retry-After"] == "45"  # the minute's window ends in 45 s
    assert body["extra"] == {"retry_after": 45}
    assert "45" in body["message"]


def test_the_next_window_serves_the_key_again(org_a, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    api = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")
    with time_machine.travel(datetime(2026, 11, 4, 10, 0, 59, tzinfo=UTC), tick=False):
        assert [api.get("/api/v1/products/").status_code for _ in range(4)] == [200] * 3 + [429]
    with time_machine.travel(datetime(2026, 11, 4, 10, 1, 0, tzinfo=UTC), tick=False):
        assert api.get("/api/v1/products/").status_code == 200


def test_throttling_counts_writes_too_and_refuses_before_writing(org_a, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    api = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")
    with time_machine.travel(datetime(2026, 11, 4, 10, 0, 0, tzinfo=UTC), tick=False):
        for n in range(3):
            api.post("/api/v1/products/", {"sku": f"S{n}", "name": "P", "unit_price": "1.00"})

    assert sorted(Product.objects.values_list("sku", flat=True)) == ["S0", "S1"]


def test_an_unreachable_throttle_cache_lets_requests_through(org_a, settings, caplog):
    settings.API_THROTTLE_RATE = "1/minute"
    settings.CACHES = {
        **settings.CACHES,
        settings.API_THROTTLE_CACHE: {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        },
    }
    api = APIClient(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(org_a)[1]}")

    assert [api.get("/api/v1/products/").status_code for _ in range(3)] == [200] * 3
    assert "API throttling skipped" in caplog.text


def test_the_schema_documents_429_and_the_bodys_refusals():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    create = schema["paths"]["/api/v1/customers/"]["post"]
    listing = schema["paths"]["/api/v1/customers/"]["get"]

    assert {"400", "401", "403", "413", "415", "429"} <= set(create["responses"])
    assert "Retry-After" in listing["responses"]["429"]["headers"]
    assert list(create["requestBody"]["content"]) == ["application/json"]


def test_a_staff_member_is_not_an_api_client(org_a, admin_client_for):
    # The throttle and the scopes count keys; a logged-in session is no key at all.
    client = admin_client_for(member(org_a, Membership.Role.ADMIN))
    assert client.get("/api/v1/products/").status_code == 401
