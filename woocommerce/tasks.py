"""Celery tasks of the sync: process a delivery, sweep the outbox, reconcile, re-fetch."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from woocommerce.models import QUEUES, WebhookDelivery, WooCommerceStore

logger = logging.getLogger(__name__)


# One quick reconnection (a broker that restarted leaves stale connections in
# the pool), no more: the request answers at once and the sweeper resends.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


def _send(delivery_id: int, queue: str, *, marked_queued: bool) -> bool:
    """Publish the delivery's task; keep its status true to whether that worked.

    The receiver stores a delivery already `queued` (one write fewer per
    request) and sets it back to `received` only if the broker refuses it; a
    delivery stored `received` (a reprocess) becomes `queued` once sent.
    """
    Status = WebhookDelivery.Status
    try:
        process_delivery.apply_async((delivery_id,), queue=queue, retry_policy=PUBLISH_RETRY)
    except Exception:
        logger.warning("delivery %s: broker unavailable; the sweeper will send it", delivery_id)
        if marked_queued:
            WebhookDelivery.objects.filter(pk=delivery_id, status=Status.QUEUED).update(
                status=Status.RECEIVED, queued_at=None, updated_at=timezone.now()
            )
        return False
    if not marked_queued:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.RECEIVED).update(
            status=Status.QUEUED, queued_at=timezone.now(), updated_at=timezone.now()
        )
    return True


def enqueue_delivery(delivery: WebhookDelivery) -> str:
    """Send the delivery to its resource's queue once committed; its status as it stands."""
    marked_queued = delivery.status == WebhookDelivery.Status.QUEUED
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(
            lambda: _send(delivery.pk, delivery.queue, marked_queued=marked_queued)
        )
        return delivery.status
    if _send(delivery.pk, delivery.queue, marked_queued=marked_queued):
        return WebhookDelivery.Status.QUEUED
    return WebhookDelivery.Status.RECEIVED


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
    from config.metrics import delivery_finished
    from woocommerce import processing

    queue = (self.request.delivery_info or {}).get("routing_key") or "default"
    try:
        status = processing.process(delivery_id)
    except (processing.Transient, OperationalError, InterfaceError) as exc:
        countdown = min(5 * 2**self.request.retries, 300)
        raise self.retry(exc=exc, countdown=countdown, queue=queue) from exc
    delivery_finished(queue, status)
    return status


@shared_task(name="woocommerce.sweep_deliveries")
def sweep_deliveries(limit: int = 1000) -> int:
    """The outbox sweeper (beat, every minute): resend deliveries the broker or a worker lost."""
    from woocommerce.processing import stale_deliveries

    sent = 0
    for delivery_id, resource in stale_deliveries().values_list("id", "resource")[:limit]:
        WebhookDelivery.objects.filter(pk=delivery_id).update(updated_at=timezone.now())
        try:
            process_delivery.apply_async(
                (delivery_id,), queue=QUEUES.get(resource, "default"), retry_policy=PUBLISH_RETRY
            )
        except Exception:
            logger.warning("sweeper: broker unavailable; deliveries wait", exc_info=True)
            break
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.RECEIVED
        ).update(status=WebhookDelivery.Status.QUEUED, queued_at=timezone.now())
        sent += 1
    return sent


@shared_task(name="woocommerce.reconcile_all")
def reconcile_all() -> int:
    """Beat (hourly): one reconciliation task per active shop with REST credentials."""
    count = 0
    for store in WooCommerceStore.objects.filter(active=True):
        if store.has_rest_credentials:
            reconcile_store.delay(store.pk)
            count += 1
    return count


@shared_task(name="woocommerce.reconcile_store", acks_late=True)
def reconcile_store(store_id: int, full: bool = False, operation_id: int | None = None) -> str:
    """Reconcile one shop; with `operation_id` (started from the admin), report on it.

    The hourly beat run passes no operation: an unattended run every hour would
    fill the operations list with rows nobody watches; its outcome shows on the
    shop (`last_reconciled_at`) and in the logs.
    """
    from woocommerce.reconcile import reconcile

    if operation_id is not None:
        return _reconcile_operation(store_id, full, operation_id)
    store = WooCommerceStore.objects.select_related("organization").get(pk=store_id)
    report = reconcile(store, full=full)
    for error in report.errors:
        logger.warning("reconcile %s: %s", store, error)
    return report.summary()


class _ReconciliationPages:
    """`reconcile`'s progress as the operation's: pages read of the pages known so far.

    Each resource adds its page count once its first page told it, so the
    total grows as the reconciliation moves from customers to subscriptions.
    """

    def __init__(self, progress):
        self.progress = progress
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def __call__(self, resource: str, page: int, total: int) -> None:
        self.totals[resource] = max(total, page)
        self.done[resource] = page
        self.progress.report(sum(self.done.values()), sum(self.totals.values()), resource)


def _reconcile_operation(store_id: int, full: bool, operation_id: int) -> str:
    from operations.services import (
        OperationProgress,
        operation_fail,
        operation_finish,
        operation_run,
    )
    from woocommerce.reconcile import reconcile, redact

    operation = operation_run(operation_id=operation_id)
    if operation.is_finished:  # a second delivery of a task that already ran
        return operation.result_summary or operation.error
    store = (
        WooCommerceStore.objects.select_related("organization")
        .filter(pk=store_id, organization_id=operation.organization_id)
        .first()
    )
    if store is None:
        operation_fail(operation=operation, error=gettext("The shop no longer exists."))
        return operation.error
    progress = OperationProgress(operation)
    try:
        report = reconcile(store, full=full, progress=_ReconciliationPages(progress))
    except Exception as exc:
        progress.close()
        operation_fail(operation=operation, error=redact(str(exc), store) or type(exc).__name__)
        raise
    progress.close()
    summary = report.summary()
    if report.errors:
        for error in report.errors:
            logger.warning("reconcile %s: %s", store, error)
        operation_fail(operation=operation, error="\n".join(report.errors), summary=summary)
    else:
        operation_finish(operation=operation, summary=summary)
    return summary


@shared_task(name="woocommerce.refetch", bind=True, max_retries=5, acks_late=True)
def refetch(self, store_id: int, resource: str, woo_id: int) -> str:
    from woocommerce.reconcile import ShopError
    from woocommerce.reconcile import refetch as do_refetch

    store = WooCommerceStore.objects.select_related("organization").get(pk=store_id)
    try:
        return do_refetch(store, resource, woo_id)
    except ShopError as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc


def schedule_refetch(store: WooCommerceStore, resource: str, woo_id: int) -> None:
    from core.queueing import enqueue_on_commit

    if store.has_rest_credentials:
        enqueue_on_commit(refetch, store.pk, resource, woo_id)


def reconcile_start(*, store: WooCommerceStore, started_by=None, full: bool = False):
    """An operation for one reconciliation of `store`, its task queued once committed."""
    from django.urls import reverse

    from operations.models import Operation
    from operations.services import operation_launch

    return operation_launch(
        organization=store.organization,
        kind=Operation.Kind.RECONCILIATION,
        subject=str(store),
        subject_url=reverse("admin:woocommerce_woocommercestore_change", args=[store.pk]),
        started_by=started_by,
        task=reconcile_store,
        args=(store.pk,),
        kwargs={"full": True} if full else {},
    )
