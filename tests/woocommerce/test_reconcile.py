"""Reconciliation against a fake WooCommerce REST API (the HTTP boundary, with `responses`).

`FakeShop` answers `GET /wp-json/wc/v3/{customers,products,subscriptions,orders}`
as WooCommerce does: `per_page` (at most 100) and `page`, the `X-WP-Total` and
`X-WP-TotalPages` headers, `modified_after` (site time, or GMT with
`dates_are_gmt=true`), `orderby`/`order`, the customers' `role` filter (default
`customer`), Basic auth with the shop's consumer key, and single GETs with
WooCommerce's 404 body. `build_shop(n)` fills it with n subscriptions derived
from the verbatim samples: their customers, products, initial orders and some
renewal orders, in every status the sync maps.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import responses
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from crm.models import Address, Customer, Organization, Product
from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem
from tests.factories import OrganizationFactory, WooCommerceStoreFactory
from tests.fixtures import rolled_back_afterwards
from tests.helpers import gmt
from tests.woocommerce.conftest import SECRET, sample
from woocommerce import reconcile as reconcile_module
from woocommerce import tasks
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooMapping, WooOrder
from woocommerce.processing import process
from woocommerce.reconcile import ShopError, reconcile, refetch

SHOP = "https://shop.example.com"
ENDPOINTS = ("customers", "products", "subscriptions", "orders")
GMT = "%Y-%m-%dT%H:%M:%S"
SITE_OFFSET = timedelta(hours=1)  # the shop's own clock (Paris, winter): `date_*` fields

N = 250  # three pages of subscriptions


def _dates(payload: dict, key: str, value: datetime | None) -> None:
    """Set `key_gmt` and its site-time twin `key`, as WooCommerce sends both."""
    if value is None:
        payload[f"{key}_gmt"], payload[key] = None, None
    else:
        payload[f"{key}_gmt"], payload[key] = gmt(value), gmt(value + SITE_OFFSET)


def error_body(code: str, message: str, status: int) -> dict:
    return {"code": code, "message": message, "data": {"status": status}}


def error_body_for(status: int) -> dict:
    if status == 401:
        return error_body("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)
    return error_body("internal_server_error", "There has been a critical error.", status)


class FakeShop:
    """The REST API of one WooCommerce shop, served from dicts of payloads keyed by id."""

    def __init__(self, base_url: str = SHOP, credentials: tuple[str, str] = ("ck_test", "cs_test")):
        self.base_url = base_url
        self.auth = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        self.data: dict[str, dict[int, dict]] = {endpoint: {} for endpoint in ENDPOINTS}
        # parent product id -> {variation id: variation}, served by /products/{id}/variations
        self.variations: dict[int, dict[int, dict]] = {}
        # (endpoint, n) -> HTTP status of the n-th list request to the endpoint (from 1)
        self.failures: dict[tuple[str, int], int] = {}
        self.on_list = None  # called (endpoint, page) after a page is served
        self.calls: list[tuple[str, dict[str, str]]] = []  # (path, query) of every GET

    @property
    def pattern(self):
        return re.compile(re.escape(self.base_url) + r"/wp-json/wc/v3/[^?]*(\?.*)?$")

    def add(self, endpoint: str, payload: dict) -> dict:
        self.data[endpoint][payload["id"]] = payload
        return payload

    def add_variation(self, parent: int, payload: dict) -> dict:
        """A variation as `GET /products/{parent}/variations` lists it (no type, no parent_id:
        the path says whose it is)."""
        self.variations.setdefault(parent, {})[payload["id"]] = payload
        return payload

    def change(self, endpoint: str, woo_id: int, **changes) -> dict:
        """A change made in the shop now: `date_modified` moves to the current time."""
        payload = self.data[endpoint][woo_id]
        payload.update(changes)
        _dates(payload, "date_modified", timezone.now().astimezone(UTC))
        return payload

    def requests_to(self, endpoint: str) -> list[dict[str, str]]:
        return [query for path, query in self.calls if path == endpoint]

    # --- HTTP ----------------------------------------------------------------

    def __call__(self, request):
        url = urlsplit(request.url)
        path = url.path.removeprefix("/wp-json/wc/v3/").strip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.calls.append((path, query))
        if request.headers.get("Authorization") != self.auth:
            return self._json(401, error_body_for(401))
        variations = re.fullmatch(r"products/(\d+)/variations(?:/(\d+))?", path)
        if variations:
            return self._variations(int(variations.group(1)), variations.group(2), query)
        endpoint, _, woo_id = path.partition("/")
        if endpoint not in self.data:
            return self._json(
                404, error_body("rest_no_route", "No route was found matching the URL.", 404)
            )
        if woo_id:
            item = self.data[endpoint].get(int(woo_id)) if woo_id.isdigit() else None
            if item is None:
                return self._json(
                    404, error_body("woocommerce_rest_invalid_id", "Invalid ID.", 404)
                )
            return self._json(200, item)
        return self._list(endpoint, query)

    def _list(self, endpoint: str, query: dict[str, str]):
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        if not 1 <= per_page <= 100:
            return self._json(
                400,
                error_body("rest_invalid_param", "Invalid parameter(s): per_page", 400),
            )
        failure = self.failures.get((endpoint, len(self.requests_to(endpoint))))
        if failure:
            return self._json(failure, error_body_for(failure))
        items = list(self.data[endpoint].values())
        if endpoint == "customers":  # WooCommerce lists only the `customer` role by default
            role = query.get("role", "customer")
            if role != "all":
                items = [c for c in items if c["role"] == role]
        elif query.get("modified_after"):  # customers have no such filter
            gmt = query.get("dates_are_gmt") == "true"
            after = query["modified_after"]
            field = "date_modified_gmt" if gmt else "date_modified"
            items = [i for i in items if i[field] > after]
        orderby = query.get("orderby", "name" if endpoint == "customers" else "date")
        sort_key = {
            "id": lambda i: i["id"],
            "modified": lambda i: (i["date_modified_gmt"], i["id"]),
            "date": lambda i: (i["date_created_gmt"], i["id"]),
            "name": lambda i: (i.get("last_name", ""), i.get("first_name", ""), i["id"]),
        }[orderby]
        default_order = "asc" if endpoint == "customers" else "desc"
        items.sort(key=sort_key, reverse=query.get("order", default_order) == "desc")
        total = len(items)
        body = items[(page - 1) * per_page : page * per_page]
        response = self._json(200, body)
        response[1].update(
            {"X-WP-Total": str(total), "X-WP-TotalPages": str(math.ceil(total / per_page))}
        )
        if self.on_list:
            self.on_list(endpoint, page)
        return response

    def _variations(self, parent: int, woo_id: str | None, query: dict[str, str]):
        """`GET /products/{parent}/variations[/{id}]`: paginated (`per_page`, `page`, the
        `X-WP-Total*` headers), by `menu_order` then id; 404 for a product the shop lacks."""
        invalid = error_body("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        if parent not in self.data["products"]:
            return self._json(404, invalid)
        items = self.variations.get(parent, {})
        if woo_id:
            item = items.get(int(woo_id))
            return self._json(200, item) if item else self._json(404, invalid)
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        ordered = sorted(items.values(), key=lambda i: (i.get("menu_order", 0), i["id"]))
        response = self._json(200, ordered[(page - 1) * per_page : page * per_page])
        response[1].update(
            {
                "X-WP-Total": str(len(ordered)),
                "X-WP-TotalPages": str(math.ceil(len(ordered) / per_page)),
            }
        )
        return response

    @staticmethod
    def _json(status: int, body) -> tuple[int, dict[str, str], str]:
        return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def shop(http):
    fake = FakeShop()
    http.add_callback(responses.GET, fake.pattern, callback=fake)
    return fake


# --- The shop's data, derived from the samples ---------------------------------------

FIRST = ["Camille", "Lucas", "Emma", "Hugo", "Chloé", "Louis", "Léa", "Jules", "Inès", "Olivia"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy"]
PRODUCTS = [  # id, SKU, name, price, status
    (701, "PUR-ETH-250", "Éthiopie Yirgacheffe 250 g", "11.90", "publish"),
    (702, "PUR-COL-250", "Colombie Huila 250 g", "10.50", "publish"),
    (703, "PUR-BRA-1KG", "Brésil Cerrado 1 kg", "32.00", "publish"),
    (704, "PUR-ESP-500", "Assemblage Espresso 500 g", "18.90", "publish"),
    (705, "PUR-OLD-250", "Ancienne origine 250 g", "9.90", "draft"),
]
# What subscription i is in the shop (i % 10), with its renewal order's status if any.
PLAN = [
    ("active", None),
    ("active", "completed"),
    ("active", "processing"),
    ("active", None),  # weekly
    ("on-hold", "failed"),  # a renewal not paid: past due
    ("on-hold", "completed"),  # suspended by the customer: paused
    ("pending-cancel", "completed"),
    ("cancelled", None),
    ("pending", None),  # its initial order is not paid yet
    ("expired", None),
]
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
MODIFIED = datetime(2025, 3, 1, tzinfo=UTC)  # every entity was last modified after this


def sub_id(i: int) -> int:
    return 10_000 + 10 * i + 1


def parent_id(i: int) -> int:
    return 10_000 + 10 * i


def renewal_id(i: int) -> int:
    return 10_000 + 10 * i + 2


def one_off_id(i: int) -> int:
    return 10_000 + 10 * i + 5


def customer_index(i: int) -> int:
    """Every 25th subscription belongs to the customer of the one before: 2 subscriptions."""
    return i - 1 if i % 25 == 24 else i


def email(c: int) -> str:
    return f"client{c:03d}@example.com"


def add_months(value: datetime, months: int) -> datetime:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def period_after(i: int, start: datetime, cycles: int) -> datetime:
    if i % 10 == 3:  # weekly
        return start + timedelta(weeks=cycles)
    return add_months(start, cycles)


def billing(c: int) -> dict:
    return {
        "first_name": FIRST[c % len(FIRST)],
        "last_name": LAST[c % len(LAST)],
        "company": "",
        "address_1": f"{c + 1} rue des Lilas",
        "address_2": "",
        "city": "Lyon",
        "state": "",
        "postcode": "69003",
        "country": "FR",
        "email": email(c),
        "phone": f"06 00 00 {c // 100:02d} {c % 100:02d}",
    }


def shipping(c: int) -> dict:
    address = billing(c)
    del address["email"], address["phone"]
    return address


def lines(i: int) -> list[dict]:
    product_id, sku, name, price, _status = PRODUCTS[i % 4]
    quantity = 1 + i % 3
    result = [
        {
            "id": 50_000 + 10 * i,
            "name": name,
            "product_id": product_id,
            "variation_id": 0,
            "quantity": quantity,
            "subtotal": str(Decimal(price) * quantity),
            "total": str(Decimal(price) * quantity),
            "sku": sku,
            "price": float(price),
            "meta_data": [],
        }
    ]
    if i % 10 == 0:  # a second product on every tenth subscription
        product_id, sku, name, price, _status = PRODUCTS[3] if i % 4 != 3 else PRODUCTS[0]
        result.append({**result[0], "id": result[0]["id"] + 1, "name": name, "sku": sku})
        result[1].update(
            product_id=product_id, quantity=1, subtotal=price, total=price, price=float(price)
        )
    return result


def total(i: int) -> str:
    return str(sum(Decimal(line["total"]) for line in lines(i)) + Decimal("4.90"))  # + shipping


def customer_payload(c: int, role: str) -> dict:
    payload = sample("customer")
    payload.pop("_links")
    payload.update(
        id=100 + c,
        email=email(c),
        first_name=FIRST[c % len(FIRST)],
        last_name=LAST[c % len(LAST)],
        username=f"client{c:03d}",
        role=role,
        billing=billing(c),
        shipping=shipping(c),
    )
    _dates(payload, "date_created", START - timedelta(days=30) + timedelta(minutes=c))
    _dates(payload, "date_modified", MODIFIED + timedelta(minutes=c))
    return payload


def product_payload(p: int) -> dict:
    product_id, sku, name, price, status = PRODUCTS[p]
    payload = sample("product")
    payload.pop("_links")
    payload.update(
        id=product_id,
        name=name,
        slug=sku.lower(),
        sku=sku,
        status=status,
        price=price,
        regular_price=price,
        short_description=f"<p>{name}, moulu ou en grains.</p>",
    )
    _dates(payload, "date_modified", MODIFIED + timedelta(hours=1, seconds=p))
    return payload


def subscription_payload(i: int) -> dict:
    status, renewal = PLAN[i % 10]
    c = customer_index(i)
    start = START + timedelta(hours=i)
    payload = sample("subscription")
    payload.pop("_links")
    payload.update(
        id=sub_id(i),
        parent_id=parent_id(i),
        number=str(sub_id(i)),
        status=status,
        currency="EUR",
        customer_id=100 + c,
        billing=billing(c),
        shipping=shipping(c),
        line_items=lines(i),
        shipping_total="4.90",
        total=total(i),
        billing_period="week" if i % 10 == 3 else "month",
        billing_interval="1",
        start_date_gmt=gmt(start),
        trial_end_date_gmt="",
        next_payment_date_gmt="",
        last_payment_date_gmt="",
        cancelled_date_gmt="",
        end_date_gmt="",
    )
    _dates(payload, "date_created", start)
    _dates(payload, "date_paid", None if status == "pending" else start + timedelta(seconds=4))
    _dates(payload, "date_modified", MODIFIED + timedelta(hours=2, seconds=i))
    next_payment = period_after(i, start, 2 if renewal else 1)
    if status in ("active", "pending"):
        payload["next_payment_date_gmt"] = gmt(next_payment)
    elif status == "pending-cancel":
        payload["end_date_gmt"] = gmt(next_payment)
    elif status == "cancelled":
        payload["cancelled_date_gmt"] = payload["end_date_gmt"] = gmt(start + timedelta(days=20))
    elif status == "expired":
        payload["end_date_gmt"] = gmt(period_after(i, start, 1))
    return payload


def order_payload(woo_id: int, i: int, status: str, created: datetime, meta=()) -> dict:
    c = customer_index(i)
    payload = sample("order")
    payload.pop("_links")
    payload.update(
        id=woo_id,
        number=str(woo_id),
        status=status,
        currency="EUR",
        customer_id=100 + c,
        billing=billing(c),
        shipping=shipping(c),
        line_items=lines(i),
        shipping_total="4.90",
        total=total(i),
        created_via="checkout",
        meta_data=[{"id": woo_id * 10, "key": "is_vat_exempt", "value": "no"}, *meta],
    )
    _dates(payload, "date_created", created)
    paid = status in ("processing", "completed")
    _dates(payload, "date_paid", created + timedelta(seconds=4) if paid else None)
    _dates(payload, "date_modified", MODIFIED + timedelta(hours=3, seconds=woo_id - 10_000))
    return payload


def build_shop(shop: FakeShop, n: int) -> FakeShop:
    live = {customer_index(i) for i in range(n) if PLAN[i % 10][0] in ("active", "pending-cancel")}
    for c in sorted({customer_index(i) for i in range(n)}):
        # WooCommerce Subscriptions gives a customer with a live subscription its
        # "subscriber" role (its default settings); the others keep "customer".
        shop.add("customers", customer_payload(c, "subscriber" if c in live else "customer"))
    for p in range(len(PRODUCTS)):
        shop.add("products", product_payload(p))
    for i in range(n):
        status, renewal = PLAN[i % 10]
        start = START + timedelta(hours=i)
        shop.add("subscriptions", subscription_payload(i))
        first = "pending" if status == "pending" else ("completed" if i % 2 else "processing")
        shop.add("orders", order_payload(parent_id(i), i, first, start))
        if renewal:
            meta = [{"id": 1, "key": "_subscription_renewal", "value": str(sub_id(i))}]
            shop.add(
                "orders",
                order_payload(renewal_id(i), i, renewal, period_after(i, start, 1), meta),
            )
        if i % 40 == 0:  # a one-off purchase: kept for reference, no charge
            shop.add(
                "orders", order_payload(one_off_id(i), i, "completed", start + timedelta(days=3))
            )
    return shop


def subscription_of(woo_id: int) -> Subscription:
    mapping = WooMapping.objects.get(resource="subscription", woo_id=woo_id)
    return Subscription.objects.select_related("customer").get(pk=mapping.object_id)


def charges(subscription: Subscription) -> list[tuple[int, str, Decimal, str]]:
    return [
        (c.cycle, c.status, c.amount, c.external_reference)
        for c in subscription.charges.order_by("cycle")
    ]


def items(subscription: Subscription) -> list[tuple[str, int, Decimal]]:
    return sorted(
        (i.product.sku, i.quantity, i.unit_price)
        for i in subscription.items.select_related("product")
    )


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def snapshot(organization) -> dict:
    """Every synced row's id and `updated_at`, and how many events exist."""
    models = (Customer, Product, Subscription, SubscriptionItem, Charge)
    result = {
        model.__name__: dict(
            model.objects.filter(organization=organization).values_list("pk", "updated_at")
        )
        if hasattr(model, "updated_at")
        else set(model.objects.filter(organization=organization).values_list("pk", flat=True))
        for model in models
    }
    result["WooOrder"] = dict(WooOrder.objects.values_list("pk", "updated_at"))
    result["WooMapping"] = dict(WooMapping.objects.values_list("pk", "updated_at"))
    result["Address"] = set(Address.objects.values_list("pk", flat=True))
    result["events"] = SubscriptionEvent.objects.count()
    return result


def modified_after(since: datetime) -> str:
    """What the reconciliation asks for: `since` minus its overlap, naive GMT."""
    return gmt((since - reconcile_module.OVERLAP).astimezone(UTC))


def command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("woo_reconcile", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- A full import ---------------------------------------------------------------------


@dataclass
class FullImport:
    organization: Organization
    store: WooCommerceStore
    shop: FakeShop
    out: str
    err: str
    before: datetime


@pytest.fixture(scope="class")
def imported(django_db_setup, django_db_blocker) -> FullImport:
    """A's shop of 250 subscriptions imported once for a class's tests (it takes tens of
    seconds): what was asked, what the command printed, when it started (see
    `rolled_back_afterwards`)."""
    with rolled_back_afterwards(django_db_blocker):
        organization = OrganizationFactory(name="Purea Café", slug="purea")
        store = WooCommerceStoreFactory(organization=organization, webhook_secret=SECRET)
        shop = FakeShop()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
            http.add_callback(responses.GET, shop.pattern, callback=shop)
            build_shop(shop, N)
            before = timezone.now()
            out, err = command("--full", "--progress")
        yield FullImport(organization, store, shop, out, err, before)


@pytest.mark.django_db
class TestAFullImport:
    """`woo_reconcile --full --progress` over a live shop of 250 subscriptions."""

    def test_it_reads_every_list_page_by_page_oldest_change_first(self, imported):
        shop = imported.shop
        # Every list, oldest change first, by keyset: each next request asks again from page 1
        # for what changed after the last item read.
        subscription_pages = shop.requests_to("subscriptions")
        assert len(subscription_pages) == 3  # 250 in pages of 100
        assert {(q["per_page"], q["orderby"], q["page"]) for q in subscription_pages} == {
            ("100", "modified", "1")
        }
        assert "modified_after" not in subscription_pages[0]  # --full: from the beginning
        assert all(q["dates_are_gmt"] == "true" for q in subscription_pages[1:])
        assert len(shop.requests_to("orders")) == 4

    def test_it_prints_its_scope_a_bar_per_shop_and_a_summary(self, imported):
        out, err, before, store = imported.out, imported.err, imported.before, imported.store

        assert "Purea Café · Purea shop: everything" in out
        assert "product processed: 5, subscription processed: 250" in out
        assert "order processed: 382" in out
        assert "Purea Café · Purea shop · Subscription" in err
        assert "Order: 100%" in err
        store.refresh_from_db()
        assert before <= store.last_reconciled_at <= timezone.now()

    def test_it_mirrors_subscriptions_customers_products_and_charges(self, imported):
        org_a = imported.organization
        mirrored = Subscription.objects.filter(organization=org_a)
        assert mirrored.count() == N
        assert set(mirrored.values_list("source", flat=True)) == {"woocommerce"}
        assert dict(mirrored.values_list("status").annotate(n=Count("id"))) == {
            "active": 125,  # active and pending-cancel
            "past_due": 25,
            "paused": 25,
            "canceled": 25,
            "pending": 25,
            "expired": 25,
        }
        # One customer per e-mail: the customer with two subscriptions is not doubled.
        assert Customer.objects.filter(organization=org_a).count() == 240
        assert subscription_of(sub_id(24)).customer == subscription_of(sub_id(23)).customer
        assert subscription_of(sub_id(23)).customer.subscriptions.count() == 2
        # Products: the shop's catalogue, a draft is inactive here.
        products = {p.sku: p for p in Product.objects.filter(organization=org_a)}
        assert set(products) == {sku for _id, sku, *_rest in PRODUCTS}
        assert products["PUR-ETH-250"].name == "Éthiopie Yirgacheffe 250 g"
        assert products["PUR-ETH-250"].unit_price == Decimal("11.90")
        assert (
            products["PUR-ETH-250"].description == "Éthiopie Yirgacheffe 250 g, moulu ou en grains."
        )
        assert products["PUR-ETH-250"].active
        assert not products["PUR-OLD-250"].active
        # Charges from orders: initial orders (cycle 0) and renewals (cycle 1).
        all_charges = Charge.objects.filter(organization=org_a)
        assert dict(all_charges.values_list("status").annotate(n=Count("id"))) == {
            "paid": 325,
            "failed": 25,
            "pending": 25,
        }
        assert set(all_charges.values_list("gateway", flat=True)) == {"woocommerce"}
        assert dict(WooOrder.objects.values_list("kind").annotate(n=Count("id"))) == {
            "parent": 250,
            "renewal": 125,
            "other": 7,
        }

    def test_it_maps_each_shop_status_with_its_items_charges_and_dates(self, imported):
        # An active monthly subscription of two products, its initial order paid.
        first = subscription_of(sub_id(0))
        assert first.status == "active"
        assert first.customer.email == "client000@example.com"
        assert (first.customer.first_name, first.customer.last_name) == ("Camille", "Martin")
        assert first.currency == "EUR"
        assert (first.billing_period, first.billing_interval) == ("month", 1)
        assert first.started_at == dt("2025-01-06T09:00:00")
        assert first.next_charge_at == dt("2025-02-06T09:00:00")
        assert items(first) == [
            ("PUR-ESP-500", 1, Decimal("18.90")),
            ("PUR-ETH-250", 1, Decimal("11.90")),
        ]
        assert charges(first) == [(0, "paid", Decimal("35.70"), str(parent_id(0)))]
        assert first.charges.get().paid_at == dt("2025-01-06T09:00:04")
        assert first.shipping_address.line1 == "1 rue des Lilas"
        # A customer the shop lists (no live subscription): its profile and both addresses.
        lapsed = subscription_of(sub_id(7)).customer
        assert (lapsed.email, lapsed.first_name, lapsed.phone) == (
            email(7),
            "Jules",
            "06 00 00 00 07",
        )
        assert sorted(lapsed.addresses.values_list("kind", "line1", "country")) == [
            ("billing", "8 rue des Lilas", "FR"),
            ("shipping", "8 rue des Lilas", "FR"),
        ]
        # Its customer's one-off purchase is kept for reference, with no charge.
        one_off = WooOrder.objects.get(woo_id=one_off_id(0))
        assert (one_off.kind, one_off.customer) == ("other", first.customer)
        assert not one_off.links.exists()

        # Renewed: both cycles paid, the current period is the renewal's.
        renewed = subscription_of(sub_id(1))
        assert renewed.status == "active"
        assert items(renewed) == [("PUR-COL-250", 2, Decimal("10.50"))]
        assert charges(renewed) == [
            (0, "paid", Decimal("25.90"), str(parent_id(1))),
            (1, "paid", Decimal("25.90"), str(renewal_id(1))),
        ]
        assert renewed.current_cycle == 1
        assert renewed.next_charge_at == dt("2025-03-06T10:00:00")

        weekly = subscription_of(sub_id(3))
        assert (weekly.billing_period, weekly.next_charge_at) == ("week", dt("2025-01-13T12:00:00"))

        # On hold with an unpaid renewal: past due; on hold after a paid one: paused.
        past_due = subscription_of(sub_id(4))
        assert past_due.status == "past_due"
        assert charges(past_due) == [
            (0, "paid", Decimal("28.70"), str(parent_id(4))),
            (1, "failed", Decimal("28.70"), str(renewal_id(4))),
        ]
        paused = subscription_of(sub_id(5))
        assert paused.status == "paused"
        assert [c[1] for c in charges(paused)] == ["paid", "paid"]

        pending_cancel = subscription_of(sub_id(6))
        assert (pending_cancel.status, pending_cancel.cancel_at_period_end) == ("active", True)
        assert pending_cancel.ends_at == dt("2025-03-06T15:00:00")

        cancelled = subscription_of(sub_id(7))
        assert cancelled.status == "canceled"
        assert cancelled.canceled_at == dt("2025-01-26T16:00:00")
        assert cancelled.cancel_reason == "canceled in the shop"
        assert cancelled.next_charge_at is None

        pending = subscription_of(sub_id(8))
        assert pending.status == "pending"
        assert charges(pending) == [(0, "pending", Decimal("40.60"), str(parent_id(8)))]

        expired = subscription_of(sub_id(9))
        assert (expired.status, expired.ended_at) == ("expired", dt("2025-02-06T18:00:00"))

        # The history says who did it.
        assert set(SubscriptionEvent.objects.values_list("actor_label", flat=True)) == {
            "WooCommerce: Purea shop"
        }


@pytest.fixture
def reconciled(store, shop):
    """A shop of 120 subscriptions (two pages), reconciled in full once: that run."""
    build_shop(shop, 120)
    return reconcile(store, full=True)


def test_a_full_reconciliation_mirrors_every_subscription(store, shop, org_a, reconciled):
    n = 120
    first = reconciled

    assert first.errors == []
    assert first.counts["subscription processed"] == n
    assert Subscription.objects.filter(organization=org_a, source="woocommerce").count() == n
    assert subscription_of(sub_id(104)).status == "past_due"
    assert subscription_of(sub_id(116)).cancel_at_period_end
    assert len(shop.requests_to("subscriptions")) == 2


def test_a_second_full_run_over_an_unchanged_shop_touches_no_row(store, shop, org_a, reconciled):
    first = reconciled
    rows = snapshot(org_a)
    shop.calls.clear()

    again = reconcile(store, full=True)

    assert again.errors == []
    assert {key.split()[1] for key in again.counts} == {"ignored"}
    assert sum(again.counts.values()) == sum(first.counts.values())
    assert snapshot(org_a) == rows
    assert len(shop.requests_to("subscriptions")) == 2


def test_the_next_run_asks_only_for_changes_and_writes_only_them(store, shop, org_a, reconciled):
    first = reconciled
    rows = snapshot(org_a)
    events_before = list(SubscriptionEvent.objects.values_list("pk", flat=True))

    # Three subscriptions change in the shop; the next run asks only for changes.
    store.refresh_from_db()
    since = store.last_reconciled_at
    ends = timezone.now().astimezone(UTC)
    shop.change(
        "subscriptions",
        sub_id(10),
        status="cancelled",
        cancelled_date_gmt=gmt(ends),
        end_date_gmt=gmt(ends),
        next_payment_date_gmt="",
    )
    shop.change("subscriptions", sub_id(11), status="on-hold", next_payment_date_gmt="")
    bigger = copy.deepcopy(shop.data["subscriptions"][sub_id(12)]["line_items"])
    bigger[0].update(quantity=5, subtotal="57.50", total="57.50")  # 5 at 11.50 from now on
    shop.change("subscriptions", sub_id(12), line_items=bigger)
    shop.calls.clear()

    incremental = reconcile(store)

    assert incremental.errors == []
    for endpoint in ("products", "subscriptions", "orders"):
        (query,) = shop.requests_to(endpoint)
        assert query["modified_after"] == modified_after(since)
        assert (query["dates_are_gmt"], query["orderby"]) == ("true", "modified")
    assert "modified_after" not in shop.requests_to("customers")[0]  # no such filter
    assert incremental.counts == {
        "customer ignored": first.counts["customer processed"],
        "subscription processed": 3,
    }
    assert subscription_of(sub_id(10)).status == "canceled"
    assert subscription_of(sub_id(10)).ended_at == ends.replace(microsecond=0)
    assert subscription_of(sub_id(11)).status == "paused"
    assert items(subscription_of(sub_id(12))) == [("PUR-ETH-250", 5, Decimal("11.50"))]
    changed = {subscription_of(sub_id(i)).pk for i in (10, 11, 12)}
    after = snapshot(org_a)
    moved = {pk for pk, at in after["Subscription"].items() if rows["Subscription"][pk] != at}
    assert moved == changed - {subscription_of(sub_id(12)).pk}  # new items, same row
    assert set(
        SubscriptionItem.objects.exclude(pk__in=rows["SubscriptionItem"]).values_list(
            "subscription", flat=True
        )
    ) == {subscription_of(sub_id(12)).pk}
    assert (
        set(
            SubscriptionEvent.objects.exclude(pk__in=events_before).values_list(
                "subscription", flat=True
            )
        )
        == changed
    )
    for name in ("Customer", "Product", "Charge", "WooOrder", "Address"):
        assert after[name] == rows[name], name
    store.refresh_from_db()
    assert store.last_reconciled_at > since


# --- When the shop fails -----------------------------------------------------------------


@pytest.fixture
def small_pages(monkeypatch):
    """Ten items a page, so a small shop spans several pages."""
    monkeypatch.setattr(reconcile_module, "PER_PAGE", 10)


@pytest.mark.parametrize(
    ("status", "code"), [(500, "internal_server_error"), (401, "woocommerce_rest_cannot_view")]
)
def test_a_page_the_shop_does_not_serve_keeps_the_last_reconciliation(
    store, shop, small_pages, status, code
):
    build_shop(shop, 30)
    earlier = datetime(2025, 2, 1, tzinfo=UTC)
    store.last_reconciled_at = earlier
    store.save()
    shop.failures[("subscriptions", 2)] = status

    report = reconcile(store)

    # Its status and WooCommerce's error code, never the shop's own text
    assert report.errors == [f"GET subscriptions: HTTP {status} ({code})"]
    assert error_body_for(status)["message"] not in report.errors[0]
    store.refresh_from_db()
    assert store.last_reconciled_at == earlier
    # The first page was applied; nothing after the failure was asked for.
    assert report.counts["subscription processed"] == 10
    assert len(shop.requests_to("subscriptions")) == 2

    # Once the shop answers again, the next run asks from the same point and completes.
    del shop.failures[("subscriptions", 2)]
    shop.calls.clear()

    report = reconcile(store)

    assert report.errors == []
    assert shop.requests_to("subscriptions")[0]["modified_after"] == modified_after(earlier)
    assert report.counts["subscription processed"] == 20  # the first 10 are unchanged
    assert report.counts["subscription ignored"] == 10
    assert Subscription.objects.filter(source="woocommerce").count() == 30
    store.refresh_from_db()
    assert store.last_reconciled_at > earlier


def test_the_command_shows_the_shops_error_and_fails(store, shop, small_pages):
    build_shop(shop, 30)
    shop.failures[("orders", 3)] = 500
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 shop was not reconciled completely"):
        call_command("woo_reconcile", "--no-progress", stdout=out, stderr=err)

    assert "Purea shop: customer processed" in out.getvalue()  # what was applied before
    assert (
        "Purea Café · Purea shop: error: GET orders: HTTP 500 (internal_server_error)"
    ) in err.getvalue()
    assert "critical error" not in err.getvalue()
    store.refresh_from_db()
    assert store.last_reconciled_at is None


def test_the_command_fails_on_revoked_credentials(store, shop):
    build_shop(shop, 3)
    store.consumer_secret = "cs_revoked"
    store.save()
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError):
        call_command("woo_reconcile", "--no-progress", stdout=out, stderr=err)

    assert "Purea shop: nothing to do" in out.getvalue()
    assert (
        "Purea Café · Purea shop: error: GET customers: HTTP 401 (woocommerce_rest_cannot_view)"
        in err.getvalue()
    )
    assert Subscription.objects.count() == 0
    store.refresh_from_db()
    assert store.last_reconciled_at is None


# --- Which shops, since when ---------------------------------------------------------


@pytest.fixture
def tea_shop(http):
    fake = FakeShop("https://the.example.com", ("ck_tea", "cs_tea"))
    http.add_callback(responses.GET, fake.pattern, callback=fake)
    return fake


@pytest.fixture
def shops(store, shop, tea_shop, org_b):
    """Purea's shop, a tea house's shop, and two that are never reconciled."""
    build_shop(shop, 3)
    build_shop(tea_shop, 2)
    tea = WooCommerceStore.objects.create(
        organization=org_b,
        name="Boutique du thé",
        base_url="https://the.example.com",
        consumer_key="ck_tea",
        consumer_secret="cs_tea",
    )
    no_keys = WooCommerceStore.objects.create(
        organization=org_b, name="Purea shop", base_url="https://nokeys.example.com"
    )
    inactive = WooCommerceStore.objects.create(
        organization=org_b,
        name="Old shop",
        base_url="https://old.example.com",
        consumer_key="ck_old",
        consumer_secret="cs_old",
        active=False,
    )
    return {"purea": store, "tea": tea, "no_keys": no_keys, "inactive": inactive}


def test_without_store_every_active_shop_with_credentials_is_reconciled(shops, shop, tea_shop):
    out, _err = command("--no-progress")

    assert "Purea Café · Purea shop: everything" in out
    assert "order processed: 6, product processed: 5, subscription processed: 3" in out
    assert "Other Tea Co · Boutique du thé: everything" in out
    assert "order processed: 4, product processed: 5, subscription processed: 2" in out
    assert "Old shop" not in out
    assert "nokeys" not in out
    assert len(shop.requests_to("subscriptions")) == len(tea_shop.requests_to("subscriptions")) == 1
    # Each shop's rows go to its own organization.
    tea = shops["tea"]
    assert set(
        Subscription.objects.filter(organization=tea.organization).values_list(
            "customer__email", flat=True
        )
    ) == {email(0), email(1)}
    assert Subscription.objects.filter(organization=shops["purea"].organization).count() == 3


@pytest.mark.parametrize("key", ["id", "uuid", "name"])
def test_store_picks_one_shop_by_id_webhook_key_or_name(shops, shop, tea_shop, key):
    tea = shops["tea"]
    value = {"id": str(tea.pk), "uuid": str(tea.uuid), "name": "Boutique du thé"}[key]

    out, _err = command("--store", value, "--no-progress")

    assert "Other Tea Co · Boutique du thé: everything" in out
    assert "Purea" not in out
    assert shop.calls == []
    assert len(tea_shop.requests_to("subscriptions")) == 1


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("Nope", "No WooCommerce shop has the id, webhook address key or name 'Nope'."),
        ("999999", "No WooCommerce shop has the id, webhook address key or name '999999'."),
        ("Purea shop", "Several WooCommerce shops match 'Purea shop' (ids "),
        ("Old shop", "The shop Old shop is inactive"),
    ],
)
def test_store_refuses_an_unknown_ambiguous_or_inactive_shop(shops, shop, value, error):
    with pytest.raises(CommandError) as raised:
        command("--store", value)

    assert error in str(raised.value)
    assert shop.calls == []


def test_store_refuses_a_shop_without_credentials(shops):
    with pytest.raises(CommandError, match="has no REST API consumer key and secret"):
        command("--store", str(shops["no_keys"].pk))


@pytest.mark.parametrize(
    ("value", "asked"),
    [
        ("2025-03-01", "2025-02-28T23:55:00"),  # a date: midnight UTC
        ("2025-03-01T10:00:00", "2025-03-01T09:55:00"),  # naive: UTC
        ("2025-03-01 10:00", "2025-03-01T09:55:00"),
        ("2025-03-01T10:00:00+02:00", "2025-03-01T07:55:00"),
        ("2025-03-01T10:00:00Z", "2025-03-01T09:55:00"),
    ],
)
def test_since_asks_the_shop_for_changes_after_that_instant(store, shop, value, asked):
    store.last_reconciled_at = timezone.now()  # --since wins over the last run
    store.save()

    out, _err = command("--since", value, "--no-progress")

    for endpoint in ("products", "subscriptions", "orders"):
        (query,) = shop.requests_to(endpoint)
        assert (query["modified_after"], query["dates_are_gmt"]) == (asked, "true")
    assert f"changes since {dt(asked) + reconcile_module.OVERLAP:%Y-%m-%dT%H:%M:%S}+00:00" in out
    assert "Purea shop: nothing to do" in out  # an empty shop: X-WP-TotalPages 0


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "01/03/2025", ""])
def test_since_refuses_what_is_not_an_iso_date(store, shop, value):
    with pytest.raises(CommandError) as raised:
        command("--since", value)

    assert str(raised.value) == (
        f"--since: {value!r} is not an ISO date or date-time, "
        "e.g. 2025-03-01 or 2025-03-01T08:00:00+01:00."
    )
    assert shop.calls == []


def test_since_refuses_the_future_and_full_together(store, shop):
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()

    with pytest.raises(CommandError, match=f"--since: {tomorrow} is in the future"):
        command("--since", tomorrow)
    with pytest.raises(CommandError, match="not allowed with argument"):
        command("--since", "2025-03-01", "--full")
    assert shop.calls == []


def test_without_since_the_last_reconciliation_is_the_start(store, shop):
    build_shop(shop, 3)
    store.last_reconciled_at = datetime(2025, 3, 1, 2, 0, 30, tzinfo=UTC)
    store.save()

    out, _err = command("--no-progress")

    assert "Purea Café · Purea shop: changes since 2025-03-01T02:00:30+00:00" in out
    (query,) = shop.requests_to("subscriptions")
    assert query["modified_after"] == "2025-03-01T01:55:30"
    # Modified at 02:00:00, 02:00:01, 02:00:02: within the overlap, so asked for again.
    assert "subscription processed: 3" in out


# --- Re-fetching one entity ----------------------------------------------------------


def test_an_id_only_body_on_an_update_is_fetched_again_and_applied(
    store, shop, deliver, monkeypatch, django_capture_on_commit_callbacks
):
    build_shop(shop, 10)
    sent = []
    monkeypatch.setattr(tasks.refetch, "apply_async", lambda args, kwargs: sent.append(args))
    response = deliver("subscription.updated", {"id": sub_id(4)})
    delivery = WebhookDelivery.objects.get(pk=response.json()["extra"]["delivery"])

    with django_capture_on_commit_callbacks(execute=True):
        assert process(delivery.pk) == "ignored"

    delivery.refresh_from_db()
    assert delivery.error == f"the body holds only the id {sub_id(4)}; re-fetch scheduled"
    assert sent == [(store.pk, "subscription", sub_id(4))]

    assert tasks.refetch(*sent[0]) == "processed"  # what the worker runs

    assert shop.calls[-1] == (f"subscriptions/{sub_id(4)}", {})
    subscription = subscription_of(sub_id(4))
    assert subscription.source == "woocommerce"
    assert subscription.status == "paused"  # on hold; its renewal orders are not known yet
    assert subscription.customer.email == email(4)
    assert items(subscription) == [("PUR-ETH-250", 2, Decimal("11.90"))]


def test_an_entity_gone_from_the_shop_is_marked_deleted(store, shop):
    build_shop(shop, 3)
    reconcile(store)
    product = Product.objects.get(sku="PUR-ETH-250")
    assert product.active
    del shop.data["products"][701]  # trashed in the shop, its webhook lost

    assert refetch(store, "product", 701) == "processed"

    assert shop.calls[-1] == ("products/701", {})
    product.refresh_from_db()
    assert not product.active
    mapping = WooMapping.objects.get(resource="product", woo_id=701)
    assert mapping.deleted_upstream_at is not None
    # Subscriptions keep pointing at it.
    assert SubscriptionItem.objects.filter(product=product).count() == 1


def test_refetch_of_a_subscription_gone_from_the_shop_cancels_it(store, shop):
    build_shop(shop, 3)
    reconcile(store)
    del shop.data["subscriptions"][sub_id(1)]

    assert refetch(store, "subscription", sub_id(1)) == "processed"

    subscription = subscription_of(sub_id(1))
    assert subscription.status == "canceled"
    assert subscription.cancel_reason == "deleted in the shop"


def test_refetch_retries_when_the_shop_fails(store, shop):
    shop.data["products"][701] = product_payload(0)
    store.consumer_secret = "cs_revoked"
    store.save()

    with pytest.raises(ShopError, match="HTTP 401"):
        refetch(store, "product", 701)
    assert not Product.objects.exists()


# --- Beat and the admin's connection test ---------------------------------------------


def test_beat_reconciles_every_shop_with_credentials_every_hour(shops, shop, monkeypatch):
    entries = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "woocommerce.reconcile_all"
    ]
    assert len(entries) == 1
    assert entries[0]["schedule"] == 3600
    queued = []
    monkeypatch.setattr(tasks.reconcile_store, "delay", lambda store_id: queued.append(store_id))

    assert tasks.reconcile_all() == 2

    assert sorted(queued) == sorted([shops["purea"].pk, shops["tea"].pk])
    # What the worker then runs for one of them.
    summary = tasks.reconcile_store(shops["purea"].pk)
    assert summary.startswith("Purea shop: ")
    assert "subscription processed: 3" in summary
    shops["purea"].refresh_from_db()
    assert shops["purea"].last_reconciled_at is not None


def test_connection_test_counts_the_subscriptions(store, shop):
    build_shop(shop, 12)

    # (not imported by name: pytest would collect a `test_*` function as a test)
    assert reconcile_module.test_connection(store) == "12"  # X-WP-Total
    assert shop.requests_to("subscriptions") == [{"per_page": "1"}]
    store.consumer_secret = "cs_revoked"
    with pytest.raises(ShopError, match="HTTP 401"):
        reconcile_module.test_connection(store)


def test_one_run_per_shop_at_a_time(store, shop):
    build_shop(shop, 3)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:  # another worker's run
        other.execute("SELECT pg_advisory_lock(%s, %s)", [0x57C0, store.pk])

        report = reconcile(store)

    assert report.errors == ["a reconciliation of this shop is already running"]
    assert shop.calls == []
    store.refresh_from_db()
    assert store.last_reconciled_at is None


# --- Bugs found while writing these tests -----------------------------------------------


def test_every_customer_is_listed_whatever_their_role(store, shop):
    build_shop(shop, 10)
    reconcile(store, full=True)
    # The customer of an active subscription changes their name and phone in the shop;
    # the customer.updated webhook is lost.
    shop.change(
        "customers",
        100,
        last_name="Martin-Durand",
        billing={**billing(0), "last_name": "Martin-Durand", "phone": "07 11 22 33 44"},
    )

    reconcile(store)

    customer = Customer.objects.get(email=email(0))
    assert (customer.last_name, customer.phone) == ("Martin-Durand", "07 11 22 33 44")


def test_a_change_in_the_shop_while_the_pages_are_read_loses_no_subscription(
    store, shop, small_pages
):
    build_shop(shop, 30)  # three pages of ten subscriptions

    def customer_suspends_one(endpoint, page):
        if (endpoint, page) == ("subscriptions", 1):  # while page 1 is being applied
            shop.change("subscriptions", sub_id(0), status="on-hold")

    shop.on_list = customer_suspends_one

    reconcile(store, full=True)
    shop.on_list = None
    reconcile(store)  # the next hourly run

    assert subscription_of(sub_id(0)).status == "paused"
    mapped = set(
        WooMapping.objects.filter(resource="subscription", object_id__isnull=False).values_list(
            "woo_id", flat=True
        )
    )
    assert sorted(set(shop.data["subscriptions"]) - mapped) == []


def test_a_page_changed_within_one_second_is_followed_by_offset(store, shop, small_pages):
    """Keyset paging cannot move past a page of one second: it reads on by page number."""
    build_shop(shop, 25)
    for payload in shop.data["subscriptions"].values():
        payload["date_modified_gmt"] = "2025-03-01T08:00:00"  # a bulk edit in the shop

    report = reconcile(store, full=True)

    assert report.errors == []
    assert report.counts["subscription processed"] == 25
    queries = shop.requests_to("subscriptions")
    # From the start; then from the first page's last change (the same page again, its
    # items already seen are left out); then on by page number within that second.
    assert [(q["page"], q.get("modified_after")) for q in queries] == [
        ("1", None),
        ("1", "2025-03-01T07:59:59"),
        ("2", "2025-03-01T07:59:59"),
        ("3", "2025-03-01T07:59:59"),
    ]
