"""Writes of the WooCommerce sync: receive a delivery, send it to be processed, reprocess
deliveries, sweep the lost ones, start and run a reconciliation.

A delivery's life: `delivery_receive` verifies and stores it (`received`) and hands it to
this process's relay (woocommerce/relay.py), which publishes it after the answer; a worker
applies it (woocommerce/processing.py); `deliveries_sweep` resends what the broker or a
worker lost; `deliveries_reprocess` starts chosen deliveries over. A refusal raises
`ApplicationError` and writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.connections import checked_first
from core.errors import ApplicationError, ConflictError
from core.queueing import enqueue_on_commit
from operations.models import Operation
from operations.services import (
    OperationProgress,
    operation_fail,
    operation_finish,
    operation_launch,
    operation_run,
)
from woocommerce import payloads, selectors
from woocommerce.models import QUEUES, WebhookDelivery, WooCommerceStore
from woocommerce.relay import relay
from woocommerce.shop_cache import WebhookShop

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status

#: The headers of a delivery kept with it (what staff read on its page).
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)


# --- Receiving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """The receiver's answer to a delivery it accepted (HTTP 200).

    `message` is "pong" (a ping), "duplicate" (stored before: nothing added) or the
    stored delivery's status; `delivery_id` is the stored delivery's.
    """

    message: str
    delivery_id: int | None = None


def delivery_receive(*, shop: WebhookShop, body: bytes, headers: Mapping[str, str]) -> Receipt:
    """Verify a delivery's signature, store it `received`, and have the relay publish it.

    The receiver's hot path (woocommerce/webhooks.py): one INSERT and nothing else. Not
    `atomic` on purpose: in autocommit the INSERT is one statement (no BEGIN / COMMIT
    round trips); a duplicate is skipped by the statement itself (`ON CONFLICT DO
    NOTHING`), so inside a caller's transaction it needs no savepoint either. The relay
    is handed the delivery once it is committed.

    A ping (`webhook_id=N`, form-encoded, unsigned) answers "pong" and stores nothing.
    Raises `ApplicationError` (401) for a missing signature or one that is not the
    body's under the shop's secrets (the current one or, while rotating, the previous
    one): nothing is stored. The answers are the shop's, not staff's: never translated.
    """
    signature = headers.get("X-WC-Webhook-Signature", "")
    if not signature and payloads.ping_webhook_id(body) is not None:
        return Receipt("pong")
    if not signature:
        raise ApplicationError("Missing X-WC-Webhook-Signature.", status=401)
    if not payloads.signature_matches(body, signature, shop.webhook_secrets):
        logger.warning("webhook for store %s: bad signature", shop.id)
        raise ApplicationError("The signature does not match the body.", status=401)

    resource = headers.get("X-WC-Webhook-Resource", "")[:32]
    event = headers.get("X-WC-Webhook-Event", "")[:32]
    topic = headers.get("X-WC-Webhook-Topic", "")[:64] or f"{resource}.{event}"
    resource = resource or topic.partition(".")[0]
    try:
        webhook_id = int(headers.get("X-WC-Webhook-ID", ""))
    except ValueError:
        webhook_id = None
    now = timezone.now()
    kept = {name: headers[name][:500] for name in KEPT_HEADERS if name in headers}
    row = {
        "organization_id": shop.organization_id,
        "store_id": shop.id,
        "topic": topic,
        "resource": resource,
        "event": event or topic.partition(".")[2],
        "webhook_id": webhook_id,
        "delivery_id": headers.get("X-WC-Webhook-Delivery-ID", "")[:64],
        "headers": json.dumps(kept),
        "body": body,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "status": Status.RECEIVED,  # the relay publishes it once committed and marks it queued
        "attempts": 0,
        "error": "",
        "traceback": "",
        "received_at": now,
        "updated_at": now,
    }
    inserted = _insert([row[name] for name in _INSERTED])
    if inserted is None:  # this shop already sent this topic with this body
        return Receipt("duplicate")
    pk, queue = inserted[0], QUEUES.get(resource, "default")
    transaction.on_commit(lambda: relay.submit(pk, queue))
    return Receipt(Status.RECEIVED, pk)


def _insert(params: list) -> tuple | None:
    """The receiver's INSERT, as the connection's health check (`core.connections`): under
    load Django's `SELECT 1` first cost the receiver as much as the INSERT itself (issue
    26). Sent twice after all (it had committed), the row is a duplicate the statement
    skips, never a second row."""
    return checked_first(lambda: _execute_insert(params), what="webhook receiver")


def _execute_insert(params: list) -> tuple | None:
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(_insert_sql(), params)
        return cursor.fetchone()


#: The columns the receiver writes; the others are nullable and left NULL.
_INSERTED = (
    "organization_id", "store_id", "topic", "resource", "event", "webhook_id", "delivery_id",
    "headers", "body", "body_sha256", "status", "attempts", "error", "traceback",
    "received_at", "updated_at",
)  # fmt: skip


@functools.cache
def _insert_sql() -> str:
    """The receiver's one statement: the delivery's row, or nothing for a duplicate.

    Written once from the model (`ON CONFLICT ... DO NOTHING`: a duplicate neither
    raises nor needs a savepoint inside a caller's transaction), in the order of
    `_INSERTED`.
    """
    meta = WebhookDelivery._meta
    columns = ", ".join(f'"{meta.get_field(name).column}"' for name in _INSERTED)
    values = ", ".join("%s::jsonb" if name == "headers" else "%s" for name in _INSERTED)
    unique = "webhook_delivery_unique_body"  # WebhookDelivery.Meta's (store, topic, sha256)
    # Only the model's own table, column and constraint names are interpolated.
    return (
        f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({values}) '  # noqa: S608
        f'ON CONFLICT ON CONSTRAINT "{unique}" DO NOTHING RETURNING "id"'
    )


# --- Sending to the workers ---------------------------------------------------------------


def _send(delivery_id: int, queue: str, *, marked_queued: bool) -> bool:
    """Publish the delivery's task; keep its status true to whether that worked.

    A delivery stored already `queued` is set back to `received` if the broker
    refuses it; a delivery stored `received` (a reprocess) becomes `queued` once sent.
    """
    from woocommerce.tasks import PUBLISH_RETRY, process_delivery

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


def delivery_enqueue(*, delivery: WebhookDelivery) -> str:
    """Send the delivery to its resource's queue once committed; its status as it stands.

    A broker that is down leaves it `received`: the sweeper sends it later.
    """
    marked_queued = delivery.status == Status.QUEUED
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(
            lambda: _send(delivery.pk, delivery.queue, marked_queued=marked_queued)
        )
        return delivery.status
    if _send(delivery.pk, delivery.queue, marked_queued=marked_queued):
        return Status.QUEUED
    return Status.RECEIVED


@transaction.atomic
def deliveries_reprocess(*, delivery_ids: Iterable[int]) -> int:
    """Start these deliveries over (received, no attempt, no error) and send them once
    committed; how many there were.

    The caller chooses which it may change (the admin: its organizations' only).
    """
    # Locked: a worker applying one of them finishes first; one it has only
    # claimed sees it started over and leaves it to the new message.
    deliveries = list(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=list(delivery_ids))
        .only("pk", "resource", "organization_id")
        .order_by("pk")
    )
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=Status.RECEIVED,
        attempts=0,
        error="",
        reason=None,
        traceback="",
        queued_at=None,
        started_at=None,
        processed_at=None,
        updated_at=timezone.now(),
    )
    for delivery in deliveries:
        delivery_enqueue(delivery=delivery)  # sent once this transaction commits
    return len(deliveries)


def deliveries_sweep(*, limit: int = 1000) -> int:
    """Resend deliveries the broker or a worker lost (the outbox sweeper); how many were sent.

    Their `updated_at` is touched first (one UPDATE), so none is resent before its
    window passes again; then they go as the relay sends a burst (`relay.publish`: a
    message per queue and ten deliveries, the `received` ones marked `queued`). A broker
    that is down stops the sweep: what was not sent waits for the next one.
    """
    from woocommerce.relay import publish

    stale = list(selectors.stale_deliveries().values_list("id", "resource")[:limit])
    if not stale:
        return 0
    WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in stale]).update(updated_at=timezone.now())
    return publish([(pk, QUEUES.get(resource, "default")) for pk, resource in stale])


def refetch_schedule(*, store: WooCommerceStore, resource: str, woo_id: int) -> None:
    """Read this entity from the shop again, in a task, once committed (REST credentials
    needed: without them the next reconciliation brings it)."""
    from woocommerce.tasks import refetch

    if store.has_rest_credentials:
        enqueue_on_commit(refetch, store.pk, resource, woo_id)


# --- Reconciliation -----------------------------------------------------------------------


@transaction.atomic
def reconciliation_start(*, store: WooCommerceStore, started_by=None, full: bool = False):
    """An operation for one reconciliation of `store`, its task queued once committed.

    Refused (409) for an inactive shop or one without REST credentials.
    """
    from woocommerce.tasks import reconcile_store

    if not store.active:
        raise ConflictError(_("This shop is inactive: activate it first."), {"store": store.pk})
    if not store.has_rest_credentials:
        raise ConflictError(
            _("Enter the shop's REST API consumer key and secret first."), {"store": store.pk}
        )
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


def reconciliation_run(*, store_id: int, full: bool = False, operation_id: int) -> str:
    """Run a started reconciliation and report on its operation; its summary (or error).

    Not atomic: the reconciliation commits page by page, and the operation's progress is
    written as it goes. A second delivery of a task that already ran changes nothing.
    """
    from woocommerce.reconcile import reconcile, redact

    operation = operation_run(operation_id=operation_id)
    if operation.is_finished:  # a second delivery of a task that already ran
        return operation.result_summary or operation.error
    store = selectors.store_get(organization=operation.organization_id, store_id=store_id)
    if store is None:
        operation_fail(operation=operation, error=_("The shop no longer exists."))
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
