"""Statements per event (issue 26): what one delivery costs the database, counted."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Address, Customer
from subscriptions.models import Subscription, SubscriptionEvent
from tests.woocommerce.conftest import later, sample
from woocommerce import handlers

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


def run(store, payload, event="updated", resource="customer") -> list[str]:
    """Apply a payload as the worker does; the statements it ran."""
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        outcome = handlers.apply(store, resource, event, payload)
    assert outcome.status == "processed", outcome.message
    return [query["sql"] for query in captured.captured_queries]


def writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.lstrip().upper().startswith(WRITES)]


@pytest.fixture
def known(apply, store):
    """A customer the CRM has from an earlier delivery (both addresses)."""
    payload = sample("customer")
    apply("customer.updated", payload)
    return payload


def test_a_changed_name_costs_four_statements(store, known):
    statements = run(store, later(known, first_name="Johnny"))

    assert len(statements) == 4, statements
    assert Customer.objects.get().first_name == "Johnny"
    # Only the changed column and the mapping's modification time are written.
    assert len(writes(statements)) == 2, writes(statements)
    assert '"first_name"' in writes(statements)[0]
    assert '"last_name"' not in writes(statements)[0]


def test_a_moved_shipping_address_costs_four_statements(store, known):
    moved = later(known)
    moved["shipping"] = {**moved["shipping"], "address_1": "12 rue Neuve"}

    statements = run(store, moved)

    assert len(statements) == 4, statements
    assert Customer.objects.get().addresses.filter(line1="12 rue Neuve").exists()
    assert Address.objects.count() == 3  # the old one kept for what shipped there


def test_a_newer_payload_changing_nothing_writes_nothing_the_crm_keeps(store, known):
    statements = run(store, later(known))

    assert len(statements) == 3, statements
    # Only the mapping's modification time moves on (so a late older payload is ignored).
    assert len(writes(statements)) == 1, writes(statements)
    assert "woocommerce_woomapping" in writes(statements)[0]


def test_the_same_version_again_writes_nothing_at_all(store, known):
    statements = run(store, known)

    assert writes(statements) == []
    assert len(statements) == 2, statements


def test_a_customer_known_by_another_e_mail_is_still_refused_a_taken_one(store, known):
    from tests.factories import CustomerFactory
    from woocommerce.payloads import PayloadError

    CustomerFactory(organization=store.organization, email="taken@example.com")

    with pytest.raises(PayloadError, match="another customer"), transaction.atomic():
        handlers.apply(store, "customer", "updated", later(known, email="Taken@example.com"))
    assert Customer.objects.filter(email__iexact="taken@example.com").count() == 1


# --- Subscriptions ---------------------------------------------------------------------
#
# The same numbers at 1, 10 and 50 line items (half of them variations): the lines'
# mappings are read with the lock, the items once, and written in bulk.

SIZES = [1, 10, 50]


def subscription_of(count: int) -> dict:
    """The sample subscription with `count` lines, every second one a variation."""
    payload = sample("subscription")
    line = payload["line_items"][0]
    payload["line_items"] = [
        {
            **copy.deepcopy(line),
            "id": 9000 + i,
            "product_id": 7000 + i,
            "variation_id": 8000 + i if i % 2 else 0,
            "sku": f"TEA-{i}",
            "name": f"Tea {i}",
        }
        for i in range(count)
    ]
    return payload


@pytest.fixture(params=SIZES, ids=lambda n: f"{n}-items")
def mirrored(request, apply, store):
    """A subscription the CRM mirrors from an earlier delivery, with its items."""
    payload = subscription_of(request.param)
    assert apply("subscription.updated", payload).status == "processed"
    subscription = Subscription.objects.get()
    assert subscription.items.count() == request.param
    return payload, subscription


def tables(sql: str) -> tuple[str, str]:
    """A write's verb and table."""
    verb = sql.split()[0].upper()
    return verb, sql.split()[1 if verb == "UPDATE" else 2].strip('"')


def sub_run(store, payload) -> list[str]:
    return run(store, payload, resource="subscription")


def test_a_newer_subscription_changing_nothing_writes_only_its_modification_time(store, mirrored):
    payload, _subscription = mirrored
    events = SubscriptionEvent.objects.count()

    statements = sub_run(store, later(payload))

    # Lock (with the lines' and preferences' mappings), customer (with its addresses),
    # orders, subscription, items; the mapping's modification time (so a late older
    # payload is ignored). No event, no subscription or item written.
    assert len(statements) == 6, statements
    assert len(writes(statements)) == 1, writes(statements)
    assert "woocommerce_woomapping" in writes(statements)[0]
    assert SubscriptionEvent.objects.count() == events


def test_the_same_subscription_version_again_writes_nothing_at_all(store, mirrored):
    payload, _subscription = mirrored

    statements = sub_run(store, payload)

    assert len(statements) == 5, statements
    assert writes(statements) == []


def test_a_status_change_writes_the_status_columns_and_one_event(store, mirrored):
    payload, subscription = mirrored

    statements = sub_run(store, later(payload, status="on-hold"))

    # An on-hold subscription also reads its latest renewal (paused or past due).
    assert len(statements) == 9, statements
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAUSED
    update = next(sql for sql in writes(statements) if 'subscriptions_subscription"' in sql)
    assert '"status"' in update
    assert '"paused_at"' in update
    assert '"billing_period"' not in update
    assert '"customer_id"' not in update
    assert SubscriptionEvent.objects.filter(subscription=subscription).latest("id").to_status == (
        Subscription.Status.PAUSED
    )


def test_a_cancellation_costs_eight_statements(store, mirrored):
    payload, subscription = mirrored

    statements = sub_run(store, later(payload, status="cancelled"))

    assert len(statements) == 8, statements
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELED
    assert subscription.next_charge_at is None


def test_an_items_change_replaces_the_items_in_bulk(store, mirrored):
    payload, subscription = mirrored
    changed = later(payload)
    changed["line_items"][0]["quantity"] = 3
    changed["line_items"][0]["total"] = "23.73"

    statements = sub_run(store, changed)

    assert len(statements) == 10, "\n".join(sql[:90] for sql in statements)
    # The initial order's share of the subscription's lines, the items deleted and
    # inserted in one statement each, one event, the mapping.
    assert [tables(sql) for sql in writes(statements)] == [
        ("UPDATE", "woocommerce_woorelatedorder"),
        ("DELETE", "subscriptions_subscriptionitem"),
        ("INSERT", "subscriptions_subscriptionitem"),
        ("INSERT", "subscriptions_subscriptionevent"),
        ("UPDATE", "woocommerce_woomapping"),
    ]
    first = subscription.items.order_by("id").first()
    assert (first.quantity, first.unit_price) == (3, Decimal("7.91"))
    assert subscription.items.count() == len(payload["line_items"])
    event = SubscriptionEvent.objects.filter(subscription=subscription).latest("id")
    assert event.kind == SubscriptionEvent.Kind.ITEMS_CHANGED
    assert event.data["before"][0]["quantity"] == 1
    assert event.data["after"][0] == {**event.data["before"][0], "quantity": 3}


def product_reads(statements: list[str]) -> list[str]:
    """The reads of products and variants (the subqueries of the mapping's lock, and the
    items' products read with them, aside)."""
    return [
        sql
        for sql in statements
        if not sql.lstrip().upper().startswith(WRITES)
        and not sql.startswith(('SELECT "woocommerce_woomapping"', 'SELECT "subscriptions_'))
        and ('"crm_product"' in sql or '"crm_variant"' in sql)
    ]


@pytest.mark.parametrize("count", [2, 10])
def test_first_sight_lines_are_looked_up_in_one_query(store, count):
    """A subscription whose lines' products and variations the CRM has never seen: what it
    has under their SKUs is read at once, whatever the number of lines (issue 26); only the
    rows made from the lines, and their mappings, cost statements of their own."""
    payload = subscription_of(count)

    statements = sub_run(store, payload)

    assert len(product_reads(statements)) == 1, "\n".join(product_reads(statements))
    subscription = Subscription.objects.get()
    assert subscription.items.count() == count
    assert subscription.items.filter(variant__isnull=False).count() == count // 2


# --- A resource no handler applies (issue 26) ---------------------------------------------


def test_a_delivery_no_handler_applies_is_ignored_in_two_statements(deliver):
    """The claim returns the resource; a coupon is then closed `ignored` in one UPDATE:
    no transaction, no row lock, nothing of the CRM read."""
    from woocommerce import processing
    from woocommerce.models import WebhookDelivery

    deliver("coupon.updated", {"id": 719, "code": "spring"})
    delivery = WebhookDelivery.objects.get()

    with CaptureQueriesContext(connection) as captured:
        assert processing.process(delivery.pk) == "ignored"

    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == 2, statements
    assert all(sql.startswith("UPDATE") for sql in statements), statements
    delivery.refresh_from_db()
    assert (delivery.status, delivery.woo_id, delivery.attempts) == ("ignored", 719, 1)
    assert delivery.reason["code"] == "no_handler"
    assert delivery.processed_at is not None
    assert "coupon" in delivery.message()


def test_a_delivery_no_handler_applies_with_a_body_that_is_not_json_fails(deliver):
    from woocommerce import processing
    from woocommerce.models import WebhookDelivery

    deliver("coupon.updated", None, raw=b"{not json")
    delivery = WebhookDelivery.objects.get()

    assert processing.process(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.reason["code"]) == ("failed", "invalid_json")
