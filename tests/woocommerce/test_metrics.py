"""The metrics an operator watches (issue 26): /metrics, its access, the backlog in a drain."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import start_celery_worker, stop_celery_worker, wait_until
from tests.woocommerce.conftest import sample
from woocommerce.models import WebhookDelivery
from woocommerce.relay import PER_MESSAGE, relay


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_an_anonymous_client_outside_the_allowed_networks_is_refused(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    assert Client(REMOTE_ADDR="203.0.113.7").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403  # not listed
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200


@pytest.mark.django_db
def test_a_forwarded_address_is_not_believed_unless_proxies_are_configured(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_the_bearer_token_opens_it_from_anywhere_and_a_wrong_one_does_not(settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_TOKEN = "scrape-me"
    outside = Client(REMOTE_ADDR="203.0.113.7")

    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    assert outside.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_the_endpoint_only_reads(settings):
    assert Client().post("/metrics").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_during_a_drain_the_backlog_falls_to_zero_and_the_workers_counts_arrive(deliver, store):
    count = 30
    before = scrape()
    for woo_id in range(1, count + 1):
        payload = {**sample("customer"), "id": woo_id, "email": f"c{woo_id}@example.com"}
        assert deliver("customer.updated", payload).status_code == 200
    assert relay.flush()

    backlog = scrape()
    shop = str(store.pk)
    assert value(backlog, "cadence_webhook_backlog") == count
    assert (
        value(
            backlog,
            "cadence_webhook_deliveries_waiting",
            shop=shop,
            queue="woo_customers",
            status="queued",
        )
        == count
    )
    assert (
        value(backlog, "cadence_webhook_oldest_waiting_seconds", shop=shop, queue="woo_customers")
        > 0
    )

    worker = start_celery_worker()
    seen = [count]
    try:

        def drained() -> bool:
            seen.append(value(scrape(), "cadence_webhook_backlog"))
            return seen[-1] == 0

        assert wait_until(drained, timeout=120, interval=0.05), "".join(worker.output[-30:])
    finally:
        stop_celery_worker(worker)

    assert seen == sorted(seen, reverse=True)  # it only ever fell
    assert WebhookDelivery.objects.filter(status="processed").count() == count
    after = scrape()
    assert (
        value(after, "cadence_webhook_oldest_waiting_seconds", shop=shop, queue="woo_customers")
        == 0
    )
    # The worker's own counts (another process) reach the endpoint: the relay sent the
    # burst as messages of up to PER_MESSAGE deliveries, each counted once.
    task = {"task": "woocommerce.process_deliveries"}
    messages = -(-count // PER_MESSAGE)
    succeeded = value(after, "cadence_celery_tasks_total", **task, outcome="succeeded")
    assert (
        succeeded - value(before, "cadence_celery_tasks_total", **task, outcome="succeeded")
        >= messages
    )
    processed = {"queue": "woo_customers", "status": "processed"}
    assert (
        value(after, "cadence_webhook_deliveries_total", **processed)
        - value(before, "cadence_webhook_deliveries_total", **processed)
        == count
    )
    assert value(after, "cadence_celery_task_duration_seconds_count", **task) >= messages
    assert value(after, "cadence_celery_task_last_success_timestamp_seconds", **task) > 0
