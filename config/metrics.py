"""What an operator watches, as Prometheus metrics on `GET /metrics` (issue 26).

Two kinds, and how each reaches the endpoint from every process:

- **The backlog**, read from PostgreSQL when the endpoint is scraped
  (`BacklogCollector`): waiting webhook deliveries per shop, queue and status,
  and the age of the oldest one per shop and queue. The database is the one
  truth whatever the number of web and worker processes or machines, and the
  query reads the partial index of unfinished deliveries only.
- **What processes do** (tasks run, failed, retried and their durations, the
  deliveries' outcomes, the last success of each periodic task), counted where
  it happens. With `PROMETHEUS_MULTIPROC_DIR` set (the Procfile's processes on
  one machine share it) every process writes its own file there and the endpoint
  adds them up (prometheus_client's multiprocess mode). A machine of workers
  only serves its own with `METRICS_WORKER_PORT` (config/celery.py). Without the
  directory, the endpoint shows its own process's counts only.

The endpoint is not public: a client whose address is in
`METRICS_ALLOWED_NETWORKS` (default loopback), or one sending
`Authorization: Bearer <METRICS_TOKEN>` when that is set; anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from functools import cache

from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

TASKS = Counter(
    "cadence_celery_tasks_total",
    "Celery tasks finished, by task name and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "cadence_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
TASK_LAST_SUCCESS = Gauge(
    "cadence_celery_task_last_success_timestamp_seconds",
    "When each task last succeeded (Unix time): the renewal run, the batch lock run...",
    ["task"],
    multiprocess_mode="max",
)
DELIVERIES = Counter(
    "cadence_webhook_deliveries_total",
    "Webhook deliveries finished by a worker, by queue and outcome (processed, ignored, failed).",
    ["queue", "status"],
)


class BacklogCollector:
    """The waiting webhook deliveries, read from the database at each scrape."""

    def collect(self):
        from woocommerce.models import QUEUES, WebhookDelivery

        waiting = GaugeMetricFamily(
            "cadence_webhook_deliveries_waiting",
            "Webhook deliveries not applied yet (received, queued, processing), by shop and queue.",
            labels=["shop", "queue", "status"],
        )
        oldest = GaugeMetricFamily(
            "cadence_webhook_oldest_waiting_seconds",
            "Age of the oldest delivery not applied yet, by shop and queue (none: nothing waits).",
            labels=["shop", "queue"],
        )
        rows = (
            WebhookDelivery.objects.filter(status__in=WebhookDelivery.WAITING)
            .values("store_id", "resource", "status")
            .annotate(count=Count("id"), first=Min("received_at"))
            .order_by()
        )
        now = time.time()
        ages: dict[tuple[str, str], float] = {}
        counts: dict[tuple[str, str, str], int] = {}
        for row in rows:
            shop, queue = str(row["store_id"]), QUEUES.get(row["resource"], "default")
            key = (shop, queue, row["status"])
            counts[key] = counts.get(key, 0) + row["count"]
            age = max(0.0, now - row["first"].timestamp())
            ages[shop, queue] = max(ages.get((shop, queue), 0.0), age)
        for (shop, queue), _age in list(ages.items()):
            for status in WebhookDelivery.WAITING:
                counts.setdefault((shop, queue, status), 0)
        for labels, count in sorted(counts.items()):
            waiting.add_metric(list(labels), count)
        for labels, age in sorted(ages.items()):
            oldest.add_metric(list(labels), age)
        total = GaugeMetricFamily(
            "cadence_webhook_backlog",
            "Webhook deliveries not applied yet, every shop and queue (0 when drained).",
            value=sum(counts.values()),
        )
        yield waiting
        yield oldest
        yield total


@cache
def _networks(networks: tuple[str, ...]) -> tuple:
    return tuple(
        ipaddress.ip_network(network.strip(), strict=False)
        for network in networks
        if network.strip()
    )


def allowed(request) -> bool:
    """A client on an allowed network, or one with the configured bearer token."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    from signin.addresses import client_ip

    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(
        address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    )


def registry() -> CollectorRegistry:
    """What the endpoint serves: every process's counts (multiprocess mode) or this one's."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
    else:
        combined = REGISTRY
    return combined


@require_GET
def metrics(request):
    if not allowed(request):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    output = generate_latest(registry())
    # The backlog is read now, from the database (never stored per process).
    scrape = CollectorRegistry()
    scrape.register(BacklogCollector())
    output += generate_latest(scrape)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


# --- Celery signals (connected in config/celery.py) ------------------------------------

_started: dict[str, float] = {}


def task_started(task_id: str) -> None:
    _started[task_id] = time.perf_counter()


def task_finished(task_name: str, task_id: str, state: str | None) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        TASK_SECONDS.labels(task_name).observe(time.perf_counter() - started)
    if state == "SUCCESS":
        TASKS.labels(task_name, "succeeded").inc()
        TASK_LAST_SUCCESS.labels(task_name).set(time.time())
    elif state == "RETRY":
        TASKS.labels(task_name, "retried").inc()
    elif state == "FAILURE":
        TASKS.labels(task_name, "failed").inc()


def delivery_finished(queue: str, status: str | None) -> None:
    if status:
        DELIVERIES.labels(queue, status).inc()
