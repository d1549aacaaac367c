"""The receiver's hot path (issue 26): the relay publishes after the answer; the shop cache."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import broker
from tests.woocommerce.conftest import SECRET, sample
from woocommerce.models import WebhookDelivery
from woocommerce.relay import relay
from woocommerce.selectors import stale_deliveries

Status = WebhookDelivery.Status


def _queue_length(name: str) -> int:
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        return client.llen(f"{prefix}{name}")
    finally:
        client.close()


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_the_stored_delivery_after_the_answer_and_marks_it_queued(deliver):
    before = _queue_length("woo_customers")

    response = deliver("customer.updated", sample("customer"))

    assert response.status_code == 200
    assert response.json()["message"] == "received"
    assert relay.flush()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.QUEUED
    assert delivery.queued_at is not None
    assert _queue_length("woo_customers") == before + 1


@pytest.fixture
def silent_broker():
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with broker(f"redis://127.0.0.1:{server.getsockname()[1]}/0"):
            yield
            relay.flush(timeout=30)  # let the relay give up before the broker comes back
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


@pytest.mark.django_db(transaction=True)
def test_a_hung_broker_never_holds_the_shops_answer(deliver, silent_broker, settings):
    settings.WOOCOMMERCE_RECEIVED_GRACE_SECONDS = 0
    deliver("customer.updated", sample("customer"))  # the shop is cached, the relay started

    started = time.perf_counter()
    response = deliver("customer.updated", {**sample("customer"), "id": 999})
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert response.json()["message"] == "received"
    assert elapsed < 0.5  # publishing to this broker would hang for seconds
    delivery = WebhookDelivery.objects.get(pk=response.json()["extra"]["delivery"])
    assert delivery.status == Status.RECEIVED  # kept for the sweeper
    assert stale_deliveries().filter(pk=delivery.pk).exists()


def _shop_queries(captured) -> list[str]:
    return [
        q["sql"] for q in captured.captured_queries if "woocommerce_woocommercestore" in q["sql"]
    ]


@pytest.mark.django_db
def test_the_shop_is_found_without_a_query_once_cached(deliver):
    deliver("customer.updated", sample("customer"))

    with CaptureQueriesContext(connection) as captured:
        response = deliver("customer.updated", {**sample("customer"), "id": 2})

    assert response.status_code == 200
    assert _shop_queries(captured) == []
    # The delivery's insert and its savepoint: nothing else on the hot path.
    assert len(captured.captured_queries) <= 3, [q["sql"] for q in captured.captured_queries]


@pytest.mark.django_db
def test_a_new_secret_refuses_the_old_signature_at_once(deliver, store):
    assert deliver("customer.updated", sample("customer")).status_code == 200  # cached

    store.webhook_secret = "the new secret"
    store.save()

    refused = deliver("customer.updated", {**sample("customer"), "id": 2}, secret=SECRET)
    assert refused.status_code == 401
    accepted = deliver("customer.updated", {**sample("customer"), "id": 3}, secret="the new secret")
    assert accepted.status_code == 200
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db
def test_a_deactivated_or_deleted_shop_is_refused_at_once(deliver, store):
    assert deliver("customer.updated", sample("customer")).status_code == 200

    store.active = False
    store.save()
    assert deliver("customer.updated", {**sample("customer"), "id": 2}).status_code == 404

    store.active = True
    store.save()
    assert deliver("customer.updated", {**sample("customer"), "id": 3}).status_code == 200

    WebhookDelivery.objects.all().delete()
    store.delete()
    assert deliver("customer.updated", {**sample("customer"), "id": 4}).status_code == 404


@pytest.mark.django_db
def test_with_the_cache_down_the_shop_is_read_from_the_database(deliver, settings):
    alias = settings.WOOCOMMERCE_SHOP_CACHE
    settings.CACHES = {
        **settings.CACHES,
        alias: {**settings.CACHES[alias], "LOCATION": "redis://127.0.0.1:1/0"},
    }

    with CaptureQueriesContext(connection) as captured:
        response = deliver("customer.updated", sample("customer"))

    assert response.status_code == 200
    assert len(_shop_queries(captured)) == 1
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_the_cache_holds_the_shops_secret_encrypted_only(deliver, store):
    from django.core.cache import caches

    from woocommerce.shop_cache import _shop_key

    deliver("customer.updated", sample("customer"))

    shop_id, organization_id, tokens = caches[settings.WOOCOMMERCE_SHOP_CACHE].get(
        _shop_key(store.uuid)
    )
    assert (shop_id, organization_id) == (store.pk, store.organization_id)
    assert len(tokens) == 1
    assert SECRET not in repr(tokens)


@pytest.mark.django_db
def test_a_shop_saved_by_another_process_is_forgotten_here_on_its_notice(deliver, store):
    import redis as redis_client
    from django.core.cache import caches

    from tests.conftest import wait_until
    from woocommerce.models import WooCommerceStore
    from woocommerce.shop_cache import _channel, _shop_key, local_shops

    deliver("customer.updated", sample("customer"))
    assert wait_until(local_shops._subscribed.is_set, timeout=10)
    assert deliver("customer.updated", {**sample("customer"), "id": 2}).status_code == 200
    # Another process changes the secret (no signal here) and forgets the shop in Redis...
    WooCommerceStore.objects.filter(pk=store.pk).update(webhook_secret="the new secret")
    caches[settings.WOOCOMMERCE_SHOP_CACHE].delete(_shop_key(store.uuid))
    # ...this process still answers from its memory until the notice arrives,
    assert deliver("customer.updated", {**sample("customer"), "id": 3}).status_code == 200

    client = redis_client.Redis.from_url(settings.WOOCOMMERCE_SHOP_CACHE_URL)
    try:
        client.publish(_channel(), str(store.uuid))
    finally:
        client.close()

    # then refuses the old secret's signatures.
    ids = iter(range(100, 200))
    assert wait_until(
        lambda: (
            deliver("customer.updated", {**sample("customer"), "id": next(ids)}).status_code == 401
        ),
        timeout=5,
        interval=0.05,
    )
    accepted = deliver(
        "customer.updated", {**sample("customer"), "id": 999}, secret="the new secret"
    )
    assert accepted.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_burst_is_published_as_a_message_per_ten_deliveries_of_each_queue(store):
    """Issue 26: the relay's cost per delivery is a fraction of a message, not one each."""
    from woocommerce.relay import publish

    customers, orders = _queue_length("woo_customers"), _queue_length("woo_orders")
    burst = _stored(store, ["customer"] * 25 + ["order"] * 3)

    assert publish([(delivery.pk, delivery.queue) for delivery in burst]) == 28

    assert _queue_length("woo_customers") == customers + 3  # 10 + 10 + 5
    assert _queue_length("woo_orders") == orders + 1
    assert WebhookDelivery.objects.filter(status=Status.QUEUED).count() == 28


@pytest.mark.django_db(transaction=True)
def test_deliveries_arriving_together_are_gathered_into_few_messages(store):
    """The relay lingers a moment after a first delivery (issue 26): a burst that trickles
    in goes as messages of ten, not as one message each."""
    before = _queue_length("woo_customers")
    burst = _stored(store, ["customer"] * 25)

    for delivery in burst:
        relay.submit(delivery.pk, delivery.queue)
    assert relay.flush()

    assert _queue_length("woo_customers") == before + 3
    assert WebhookDelivery.objects.filter(status=Status.QUEUED).count() == 25


def _stored(store, resources: list[str]) -> list[WebhookDelivery]:
    """Deliveries stored `received` (as the receiver leaves them), one per resource named."""
    return [
        WebhookDelivery.objects.create(
            organization=store.organization,
            store=store,
            topic=f"{resource}.updated",
            resource=resource,
            event="updated",
            body=b"{}",
            body_sha256=f"{i:064d}",
        )
        for i, resource in enumerate(resources)
    ]
