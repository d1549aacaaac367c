"""What an operator watches, as Prometheus metrics on `GET /metrics` (issue 26).

Two kinds, and how each reaches the endpoint from every process:

- **The backlog**, read from PostgreSQL when the endpoint is scraped
  (`BacklogCollector`): waiting webhook deliveries per shop, queue and status,
  and the age of the oldest one per shop and queue. The database is the one
  truth whatever the number of web and worker processes or machines, and the
  query reads the partial index of unfinished deliveries only.
- **What processes do** (tasks run, failed, retried and their durations, the
  deliveries' outcomes, the last success of each periodic task), counted where
  it happens, into the instruments of core/metrics.py. With
  `PROMETHEUS_MULTIPROC_DIR` set (the Procfile's processes on one machine share
  it) every process writes its own file there and the endpoint adds them up
  (prometheus_client's multiprocess mode). A machine of workers only serves its
  own with `METRICS_WORKER_PORT` (config/celery.py). Without the directory, the
  endpoint shows its own process's counts only.

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
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

# The instruments the apps record into live in the kernel (no app imports config);
# imported here so this process's registry serves them even before anything counted.
from core.metrics import DELIVERIES, TASK_LAST_SUCCESS, TASK_SECONDS, TASKS

__all__ = ["DELIVERIES", "TASKS", "TASK_LAST_SUCCESS", "TASK_SECONDS", "metrics", "registry"]


class BacklogCollector:
    """The waiting webhook deliveries, read from the database at each scrape."""

    def collect(self):
        from woocommerce.models import WebhookDelivery
        from woocommerce.selectors import delivery_backlog

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
        now = time.time()
        ages: dict[tuple[str, str], float] = {}
        counts: dict[tuple[str, str, str], int] = {}
        for row in delivery_backlog():
            shop, queue = str(row.store_id), row.queue
            key = (shop, queue, row.status)
            counts[key] = counts.get(key, 0) + row.count
            age = max(0.0, now - row.first_received_at.timestamp())
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
