"""The reconciliation's first import applies a page of orders in bulk (issue 26): the same
rows as the same payloads applied one by one as webhooks, the same refusals, and as many
statements for 50 orders as for 1."""

from __future__ import annotations

import copy

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Address, Customer
from subscriptions.models import Charge, SubscriptionEvent
from tests.factories import WooCommerceStoreFactory
from tests.woocommerce.conftest import SECRET, sample
from tests.woocommerce.test_reconcile_subscriptions import (
    CUSTOMERS,
    customer_payload,
    subscription_payload,
)
from woocommerce import handlers
from woocommerce.handlers import order as order_handler
from woocommerce.models import WooMapping, WooOrder, WooRelatedOrder
from woocommerce.payloads import PayloadError
from woocommerce.reconcile import apply_page

pytestmark = pytest.mark.django_db


def order_payload(n: int, *, renewal_of: int | None = None, **changes) -> dict:
    """Order 6000+n of customer 1000+(n mod 4), a renewal of `renewal_of` if given."""
    payload = sample("order")
    customer = customer_payload(n % CUSTOMERS)
    payload.update(
        id=6000 + n,
        number=str(6000 + n),
        status="completed",
        total=f"{20 + n}.50",
        customer_id=customer["id"],
        date_created_gmt=f"2025-03-0{1 + n % 5}T09:00:00",
        date_paid_gmt=f"2025-03-0{1 + n % 5}T09:05:00",
        date_modified_gmt=f"2025-03-01T10:{n // 60:02d}:{n % 60:02d}",
    )
    payload["billing"] = {**customer["billing"]}
    if renewal_of:
        payload["meta_data"] = [
            *payload["meta_data"],
            {"id": 1, "key": "_subscription_renewal", "value": str(renewal_of)},
        ]
    payload.update(changes)
    return payload


def mixed_page() -> list[dict]:
    page = [order_payload(n) for n in range(3)]
    page += [order_payload(n, renewal_of=5000 + n) for n in range(3, 6)]
    page.append(order_payload(6, renewal_of=5003))  # two renewals of one subscription
    page[1]["billing"] = {**page[1]["billing"], "address_1": "8 place Neuve"}  # new address
    page.append(order_payload(7, renewal_of=5099))  # of a mirrored subscription: the handler
    page.append(order_payload(8, customer_id=0))  # a guest's: the handler
    page.append(order_payload(9, status=""))  # refused: no status
    page.append(order_payload(10, total="a lot"))  # refused: not an amount
    page.append(order_payload(11, id=6500))  # its row exists (an initial order): the handler
    page.append(order_payload(12, id=6001, date_modified_gmt="2025-03-02T00:00:00"))  # twice
    page.append({"code": "woocommerce_rest_invalid_id", "message": "Invalid ID."})
    return page


def known_shop(store) -> None:
    """Customers imported, and one subscription mirrored (initial order 6500)."""
    apply_page(store, "customer", [customer_payload(n) for n in range(CUSTOMERS)])
    seed = subscription_payload(99, parent_id=6500)
    with transaction.atomic():
        handlers.apply(store, "subscription", "reconciled", seed)


@pytest.fixture
def store_b(org_b):
    return WooCommerceStoreFactory(organization=org_b, webhook_secret=SECRET)


def as_webhooks(store, items) -> list[str]:
    outcomes = []
    for item in items:
        try:
            with transaction.atomic():
                outcomes.append(handlers.apply(store, "order", "reconciled", item).status)
        except PayloadError:
            outcomes.append("failed")
    return outcomes


def crm_rows(organization) -> dict:
    return {
        "orders": sorted(
            (
                o.woo_id, o.kind, o.status, o.number, o.total, o.currency, o.ordered_at,
                o.paid_at, o.deleted_upstream, repr(o.lines),
                o.customer and o.customer.email,
                o.billing_address and (o.billing_address.kind, o.billing_address.line1),
            )
            for o in WooOrder.objects.filter(organization=organization)
        ),
        "links": sorted(
            (r.order.woo_id, r.woo_subscription_id, repr(r.lines), r.subscription_id is not None,
             r.charge and (r.charge.cycle, r.charge.status, r.charge.amount))
            for r in WooRelatedOrder.objects.filter(organization=organization)
        ),
        "charges": sorted(
            (c.cycle, c.status, c.amount, c.period_start, c.paid_at, c.external_reference)
            for c in Charge.objects.filter(organization=organization)
        ),
        "events": sorted(
            (e.kind, e.from_status, e.to_status, repr(e.data))
            for e in SubscriptionEvent.objects.filter(organization=organization)
            if e.kind.startswith("charge")
        ),
        "mappings": sorted(
            (m.resource, m.woo_id, m.object_id is not None, m.woo_modified_at,
             m.deleted_upstream_at, m.remote_status)
            for m in WooMapping.objects.filter(organization=organization)
        ),
        "customers": sorted(
            Customer.objects.filter(organization=organization).values_list("email", "first_name")
        ),
        "addresses": sorted(
            Address.objects.filter(organization=organization).values_list(
                "customer__email", "kind", "name", "line1", "city", "country", "phone"
            )
        ),
    }  # fmt: skip


def test_a_page_of_orders_applied_in_bulk_gives_what_webhooks_give(
    store, store_b, org_a, org_b, monkeypatch
):
    page = mixed_page()
    known_shop(store)
    known_shop(store_b)
    by_handler = []
    upsert = order_handler.upsert

    def counted(store, payload, event):
        by_handler.append(payload["id"])
        return upsert(store, payload, event)

    monkeypatch.setattr(order_handler, "upsert", counted)
    bulk = apply_page(store, "order", copy.deepcopy(page))
    monkeypatch.undo()
    webhooks = as_webhooks(store_b, copy.deepcopy(page))

    assert [o.partition(":")[0] for o in bulk] == webhooks
    assert webhooks.count("failed") == 2  # no status, not an amount
    bulk_rows, webhook_rows = crm_rows(org_a), crm_rows(org_b)
    for key, rows in webhook_rows.items():
        assert bulk_rows[key] == rows, key
    # Left to the handler: of a mirrored subscription, a guest's, the two refused, the
    # row that exists, the id seen twice.
    assert by_handler == [6007, 6008, 6009, 6010, 6500, 6001]
    assert len([r for r in bulk_rows["links"] if r[0] != 6500]) == 5
    assert any(a[3] == "8 place Neuve" for a in bulk_rows["addresses"])
    assert sorted((c[1], c[-1]) for c in bulk_rows["charges"]) == [
        ("paid", "6007"),
        ("paid", "6500"),
    ]


def test_a_second_run_over_the_same_orders_changes_nothing(store, org_a):
    known_shop(store)
    page = [order_payload(n, renewal_of=5000 + n % 2) for n in range(4)]
    apply_page(store, "order", page)
    before = crm_rows(org_a)

    with CaptureQueriesContext(connection) as captured:
        again = apply_page(store, "order", page)

    assert again == ["ignored"] * 4
    writes = ("INSERT", "UPDATE", "DELETE")
    assert not [q for q in captured.captured_queries if q["sql"].lstrip().startswith(writes)]
    assert crm_rows(org_a) == before


def test_a_page_of_new_orders_costs_the_same_statements_for_1_10_or_50(store, org_a):
    known_shop(store)
    store.organization  # read once, as the reconciliation has it  # noqa: B018
    counts, first = [], 0
    for size in (1, 10, 50):
        page = [
            order_payload(n, renewal_of=5000 + n, id=10_000 + n) for n in range(first, first + size)
        ]
        first += size
        with CaptureQueriesContext(connection) as captured:
            outcomes = apply_page(store, "order", page)
        assert set(outcomes) == {"processed"}, outcomes
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 14, counts
    assert WooOrder.objects.filter(store=store, woo_id__gte=10_000).count() == 61
