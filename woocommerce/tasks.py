"""Celery tasks of the sync: process a delivery, sweep the outbox, reconcile, re-fetch.

Thin entry points: ids in, re-read, one service call (woocommerce/services.py, or the
worker's own woocommerce/processing.py and woocommerce/reconcile.py).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, close_old_connections

from woocommerce.models import QUEUES, WooCommerceStore

logger = logging.getLogger(__name__)


# One quick reconnection (a broker that restarted leaves stale connections in
# the pool), no more: the request answers at once and the sweeper resends.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


@shared_task(
    name="woocommerce.process_delivery",
    bind=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_delivery(self, delivery_id: int) -> str | None:
    """Apply one delivery; a transient error retries with a bounded backoff (5 s ... 80 s).

    After the retries the delivery stays `queued`; the sweeper tries again
    later, and it is marked failed after `WOOCOMMERCE_MAX_ATTEMPTS` attempts.
    """
    from core.metrics import delivery_finished
    from woocommerce import processing

    queue = _queue(self)
    try:
        status = processing.process(delivery_id)
    except (processing.Transient, OperationalError, InterfaceError) as exc:
        countdown = min(5 * 2**self.request.retries, 300)
        raise self.retry(exc=exc, countdown=countdown, queue=queue) from exc
    delivery_finished(queue, status)
    return status


@shared_task(
    name="woocommerce.process_deliveries",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_deliveries(self, delivery_ids: list[int]) -> int:
    """Apply the deliveries the relay published together; how many were finished.

    One message for a burst (woocommerce/relay.py), applied by `processing.process_many`:
    what a page can take in bulk, the rest one by one, each delivery's effect and
    bookkeeping as `process_delivery` gives it, so one that fails leaves the others alone;
    a message of fewer than ten is topped up with what else waits in its queue (its
    resources'), so that a worker behind applies full pages.
    One that must be retried (a transient error) is sent again on its own, as
    `process_delivery` with its first backoff; if that cannot be sent either, it stays
    `queued` for the sweeper. A worker killed mid-way has the message redelivered: what
    was finished is skipped, what was under way waits for its claim to go stale, as for a
    single delivery.
    """
    from core.metrics import delivery_finished
    from woocommerce import processing

    queue = _queue(self)
    resources = [resource for resource, name in QUEUES.items() if name == queue]
    try:
        results = processing.process_many(delivery_ids, top_up=resources)
    except (OperationalError, InterfaceError):  # the claim itself: each is sent again
        close_old_connections()
        results = dict.fromkeys(delivery_ids, processing.RETRY)
    finished = 0
    for delivery_id, status in results.items():
        if status == processing.RETRY:
            try:
                process_delivery.apply_async((delivery_id,), queue=queue, countdown=5)
            except Exception:
                logger.warning("delivery %s: left queued for the sweeper", delivery_id)
            continue
        delivery_finished(queue, status)
        finished += status is not None
    return finished


def _queue(task) -> str:
    """The queue this task's message came from (its retries go back to it)."""
    return (task.request.delivery_info or {}).get("routing_key") or "default"


@shared_task(name="woocommerce.sweep_deliveries")
def sweep_deliveries(limit: int = 1000) -> int:
    """The outbox sweeper (beat, every minute): resend deliveries the broker or a worker lost."""
    from woocommerce.services import deliveries_sweep

    return deliveries_sweep(limit=limit)


@shared_task(name="woocommerce.reconcile_all")
def reconcile_all() -> int:
    """Beat (hourly): one reconciliation task per active shop with REST credentials."""
    from woocommerce.selectors import store_list_to_reconcile

    stores = store_list_to_reconcile()
    for store in stores:
        reconcile_store.delay(store.pk)
    return len(stores)


@shared_task(name="woocommerce.reconcile_store", acks_late=True)
def reconcile_store(store_id: int, full: bool = False, operation_id: int | None = None) -> str:
    """Reconcile one shop; with `operation_id` (started from the admin), report on it.

    The hourly beat run passes no operation: an unattended run every hour would
    fill the operations list with rows nobody watches; its outcome shows on the
    shop (`last_reconciled_at`) and in the logs.
    """
    from woocommerce.reconcile import reconcile
    from woocommerce.services import reconciliation_run

    if operation_id is not None:
        return reconciliation_run(store_id=store_id, full=full, operation_id=operation_id)
    store = WooCommerceStore.objects.select_related("organization").get(pk=store_id)
    report = reconcile(store, full=full)
    for error in report.errors:
        logger.warning("reconcile %s: %s", store, error)
    return report.summary()


@shared_task(name="woocommerce.refetch", bind=True, max_retries=5, acks_late=True)
def refetch(self, store_id: int, resource: str, woo_id: int) -> str:
    from woocommerce.reconcile import ShopError
    from woocommerce.reconcile import refetch as do_refetch

    store = WooCommerceStore.objects.select_related("organization").get(pk=store_id)
    try:
        return do_refetch(store, resource, woo_id)
    except ShopError as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc
