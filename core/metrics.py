"""The metric instruments the apps record into (Prometheus); no app is imported here.

Processes count where things happen: the Celery signals count tasks (config/celery.py),
the WooCommerce worker counts the deliveries it finishes (woocommerce/tasks.py).
`config/metrics.py` serves them on `GET /metrics`, with the backlog read from the
database at each scrape, and says how every process's counts reach the endpoint.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

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
