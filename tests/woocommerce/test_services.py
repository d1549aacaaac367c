"""The sync's services and selectors, called directly (the receiver, the admin and the tasks
are their interfaces: tests/woocommerce/test_receiver.py, test_admin.py, test_processing.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import ApplicationError, ConflictError
from operations.models import Operation
from tests.factories import CustomerFactory, SubscriptionFactory
from tests.woocommerce.conftest import SECRET, compact, sample
from woocommerce import selectors, services
from woocommerce.models import WebhookDelivery, WooCommerceStore, WooMapping
from woocommerce.payloads import signature
from woocommerce.relay import relay
from woocommerce.shop_cache import WebhookShop
from woocommerce.tasks import process_deliveries, process_delivery, reconcile_store

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


@pytest.fixture
def other_store(org_b) -> WooCommerceStore:
    """Organization B's shop."""
    return WooCommerceStore.objects.create(
        organization=org_b,
        name="Tea shop B",
        base_url="https://tea.example.com",
        webhook_secret="tea-secret-b-0001",
        consumer_key="ck_tea_b",
        consumer_secret="cs_tea_b",
    )


@pytest.fixture
def submitted(monkeypatch) -> list:
    """What the receiver hands this process's relay, in place of the relay's thread."""
    handed: list = []
    monkeypatch.setattr(relay, "submit", lambda pk, queue: handed.append((pk, queue)))
    return handed


@pytest.fixture
def sent(monkeypatch) -> list:
    """The delivery tasks published, in place of the broker."""
    published: list = []
    monkeypatch.setattr(
        process_delivery, "apply_async", lambda args, **kwargs: published.append(args[0])
    )
    return published


def shop_of(store) -> WebhookShop:
    return WebhookShop(store.pk, store.organization_id, store.webhook_secrets)


def signed(body: bytes, topic: str = "customer.updated", secret: str = SECRET) -> dict:
    resource, _, event = topic.partition(".")
    return {
        "X-WC-Webhook-Signature": signature(body, secret),
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "7",
        "X-WC-Webhook-Delivery-ID": "a1b2c3",
        "X-Forwarded-For": "203.0.113.9",  # not kept
    }


def stored(store, status=Status.FAILED, n=1, **fields) -> WebhookDelivery:
    body = compact({**sample("customer"), "id": 100 + n})
    return WebhookDelivery.objects.create(
        organization_id=store.organization_id,
        store=store,
        topic="customer.updated",
        resource="customer",
        event="updated",
        body=body,
        body_sha256=f"sha-{store.pk}-{n}",
        status=status,
        **fields,
    )


# --- delivery_receive ---------------------------------------------------------------------


def test_a_signed_delivery_is_stored_received_and_handed_to_the_relay_once_committed(
    store, submitted, django_capture_on_commit_callbacks
):
    body = compact(sample("customer"))

    with django_capture_on_commit_callbacks(execute=True):
        receipt = services.delivery_receive(shop=shop_of(store), body=body, headers=signed(body))

    delivery = WebhookDelivery.objects.get()
    assert receipt == services.Receipt("received", delivery.pk)
    assert (delivery.status, delivery.topic, delivery.resource, delivery.event) == (
        Status.RECEIVED,
        "customer.updated",
        "customer",
        "updated",
    )
    assert (delivery.webhook_id, delivery.delivery_id) == (7, "a1b2c3")
    assert "X-Forwarded-For" not in delivery.headers
    assert bytes(delivery.body) == body
    assert submitted == [(delivery.pk, "woo_customers")]


def test_receiving_is_one_insert_and_nothing_else(store, submitted):
    body = compact(sample("customer"))
    shop = shop_of(store)

    with CaptureQueriesContext(connection) as captured:
        services.delivery_receive(shop=shop, body=body, headers=signed(body))

    statements = [query["sql"] for query in captured.captured_queries]
    assert len([sql for sql in statements if sql.startswith("INSERT")]) == 1
    assert not [sql for sql in statements if sql.startswith(("SELECT", "UPDATE"))]


def test_a_duplicate_answers_duplicate_without_breaking_the_callers_transaction(store, submitted):
    body = compact(sample("customer"))
    services.delivery_receive(shop=shop_of(store), body=body, headers=signed(body))

    with transaction.atomic():
        receipt = services.delivery_receive(shop=shop_of(store), body=body, headers=signed(body))
        assert WebhookDelivery.objects.count() == 1  # the transaction is still usable

    assert receipt == services.Receipt("duplicate")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing X-WC-Webhook-Signature."),
        ({"X-WC-Webhook-Signature": "bm90IGl0"}, "The signature does not match the body."),
    ],
)
def test_an_unsigned_or_badly_signed_delivery_is_refused_and_not_stored(
    store, submitted, headers, message
):
    body = compact(sample("customer"))

    with pytest.raises(ApplicationError) as refused:
        services.delivery_receive(shop=shop_of(store), body=body, headers=headers)

    assert (refused.value.status, refused.value.message) == (401, message)
    assert not WebhookDelivery.objects.exists()
    assert submitted == []


def test_a_ping_answers_pong_and_stores_nothing(store, submitted):
    receipt = services.delivery_receive(shop=shop_of(store), body=b"webhook_id=7", headers={})

    assert receipt == services.Receipt("pong")
    assert not WebhookDelivery.objects.exists()


def test_the_previous_secret_is_accepted_while_rotating(store, submitted):
    store.previous_webhook_secret = SECRET
    store.webhook_secret = "the-new-secret"
    store.save()
    body = compact(sample("customer"))

    receipt = services.delivery_receive(shop=shop_of(store), body=body, headers=signed(body))

    assert receipt.message == "received"


# --- deliveries_reprocess, deliveries_sweep ----------------------------------------------


def test_reprocess_starts_the_deliveries_over_and_sends_them_once_committed(
    store, other_store, sent, django_capture_on_commit_callbacks
):
    failed = stored(
        store, attempts=10, error="gave up", traceback="Traceback", processed_at=timezone.now()
    )
    untouched = stored(other_store, error="gave up")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        count = services.deliveries_reprocess(delivery_ids=[failed.pk])
    assert sent == []  # nothing reaches the broker before the commit
    for callback in callbacks:
        callback()

    assert count == 1
    assert sent == [failed.pk]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.error, failed.traceback) == (
        Status.QUEUED,
        0,
        "",
        "",
    )
    assert failed.processed_at is None
    assert WebhookDelivery.objects.get(pk=untouched.pk).status == Status.FAILED


def test_a_reprocessed_delivery_stays_received_when_the_broker_is_down(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(process_delivery, "apply_async", down)
    failed = stored(store)

    with django_capture_on_commit_callbacks(execute=True):
        services.deliveries_reprocess(delivery_ids=[failed.pk])

    assert WebhookDelivery.objects.get(pk=failed.pk).status == Status.RECEIVED  # for the sweeper


def test_the_sweep_resends_only_the_lost_deliveries(store, monkeypatch):
    sent: list = []
    monkeypatch.setattr(
        process_deliveries, "apply_async", lambda args, **kwargs: sent.append(args[0])
    )
    lost = stored(store, Status.RECEIVED, n=1)
    fresh = stored(store, Status.RECEIVED, n=2)
    WebhookDelivery.objects.filter(pk=lost.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )

    assert services.deliveries_sweep() == 1

    assert sent == [[lost.pk]]  # one message, as the relay sends a burst
    assert WebhookDelivery.objects.get(pk=lost.pk).status == Status.QUEUED
    assert WebhookDelivery.objects.get(pk=fresh.pk).status == Status.RECEIVED


# --- reconciliation_start -----------------------------------------------------------------


def test_a_reconciliation_starts_an_operation_and_queues_its_task_once_committed(
    store, staff_user_a, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(reconcile_store, "apply_async", lambda **kw: queued.append(kw))

    with django_capture_on_commit_callbacks(execute=True):
        operation = services.reconciliation_start(store=store, started_by=staff_user_a, full=True)

    assert operation.kind == Operation.Kind.RECONCILIATION
    assert operation.organization_id == store.organization_id
    assert queued == [{"args": (store.pk,), "kwargs": {"full": True, "operation_id": operation.pk}}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"active": False}, "This shop is inactive: activate it first."),
        ({"consumer_key": ""}, "Enter the shop's REST API consumer key and secret first."),
    ],
)
def test_a_shop_that_cannot_be_read_is_not_reconciled(
    store, monkeypatch, django_capture_on_commit_callbacks, change, message
):
    queued = []
    monkeypatch.setattr(reconcile_store, "apply_async", lambda **kw: queued.append(kw))
    for field, value in change.items():
        setattr(store, field, value)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ConflictError) as refused:
        services.reconciliation_start(store=store)

    assert refused.value.message == message
    assert not Operation.objects.exists()
    assert queued == []


def test_a_started_reconciliation_of_a_shop_since_deleted_fails_its_operation(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(reconcile_store, "apply_async", lambda **kw: None)
    operation = services.reconciliation_start(store=store)
    store_id = store.pk
    WooCommerceStore.objects.filter(pk=store_id).delete()

    outcome = services.reconciliation_run(store_id=store_id, operation_id=operation.pk)

    operation.refresh_from_db()
    assert outcome == "The shop no longer exists."
    assert operation.status == Operation.Status.FAILED


# --- refetch_schedule ---------------------------------------------------------------------


def test_a_refetch_needs_the_shops_rest_credentials(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    from woocommerce.tasks import refetch

    queued = []
    monkeypatch.setattr(refetch, "apply_async", lambda args, kwargs: queued.append(args))
    without = WooCommerceStore(organization=store.organization, consumer_key="")

    with django_capture_on_commit_callbacks(execute=True):
        services.refetch_schedule(store=store, resource="customer", woo_id=7)
        services.refetch_schedule(store=without, resource="customer", woo_id=8)

    assert queued == [(store.pk, "customer", 7)]


# --- Selectors ----------------------------------------------------------------------------


def test_a_shop_is_found_only_within_its_organization(store, other_store, org_a):
    assert selectors.store_get(organization=org_a, store_id=store.pk) == store
    assert selectors.store_get(organization=org_a.pk, store_id=store.pk) == store
    assert selectors.store_get(organization=org_a, store_id=other_store.pk) is None


def test_a_shops_health_counts_only_its_own_deliveries(store, other_store):
    stored(store, Status.FAILED, n=1)
    stored(store, Status.QUEUED, n=2)
    stored(store, Status.PROCESSED, n=3)
    stored(other_store, Status.FAILED, n=4)

    health = selectors.store_delivery_health(store=store)
    listed = {s.pk: s for s in selectors.store_list_with_health()}

    assert (health.failed, health.waiting) == (1, 1)
    assert health.last_received_at is not None
    assert (listed[store.pk].failed_count, listed[store.pk].waiting_count) == (1, 1)
    assert (listed[other_store.pk].failed_count, listed[other_store.pk].waiting_count) == (1, 0)
    assert [d.pk for d in selectors.store_recent_deliveries(store=store, limit=2)] == [
        d.pk for d in WebhookDelivery.objects.filter(store=store).order_by("-pk")[:2]
    ]


def test_the_shops_to_reconcile_are_the_active_ones_with_credentials(store, other_store):
    WooCommerceStore.objects.create(
        organization=store.organization, name="No keys", base_url="https://nokeys.example.com"
    )
    other_store.active = False
    other_store.save()

    assert selectors.store_list_to_reconcile() == [store]


def test_the_backlog_counts_waiting_deliveries_by_shop_queue_and_status(store, other_store):
    stored(store, Status.RECEIVED, n=1)
    stored(store, Status.RECEIVED, n=2)
    stored(other_store, Status.PROCESSING, n=3)
    stored(store, Status.FAILED, n=4)

    rows = {(r.store_id, r.queue, r.status): r.count for r in selectors.delivery_backlog()}

    assert rows == {
        (store.pk, "woo_customers", Status.RECEIVED): 2,
        (other_store.pk, "woo_customers", Status.PROCESSING): 1,
    }


def test_a_mappings_crm_label_is_read_only_within_its_organization(store, other_store, org_b):
    theirs = CustomerFactory(organization=org_b, email="theirs@example.com")
    mine = SubscriptionFactory(customer=CustomerFactory(organization=store.organization))
    mappings = [
        WooMapping(
            organization=store.organization,
            store=store,
            resource="subscription",
            woo_id=1,
            object_id=mine.pk,
        ),
        # A mapping of A pointing at B's customer id (never written so; read as gone).
        WooMapping(
            organization=store.organization,
            store=store,
            resource="customer",
            woo_id=2,
            object_id=theirs.pk,
        ),
    ]

    selectors.mappings_with_crm_labels(mappings=mappings)

    assert mappings[0].crm_label == f"#{mine.pk} {mine.customer.email}"
    assert mappings[1].crm_label is None
