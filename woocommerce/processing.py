"""Process one stored webhook delivery, exactly once in effect.

Two short transactions: the first claims the delivery (`processing`,
attempts + 1) so a worker killed mid-way leaves a visible trace the sweeper
retries; the second applies it under the delivery's row lock and records the
result, so a delivery is applied at most once even if two workers get it.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from core.connections import checked_first
from woocommerce import handlers, reasons
from woocommerce.models import WebhookDelivery
from woocommerce.payloads import PayloadError

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status
FINISHED = (Status.PROCESSED, Status.IGNORED)

# Errors worth retrying: the database or the network was unavailable, or two
# workers collided (deadlock, serialization, a unique row inserted meanwhile).
TRANSIENT = (OperationalError, InterfaceError, IntegrityError, ConnectionError, TimeoutError)


class Transient(Exception):
    """The delivery could not be applied now; retry later."""


def claim(delivery_id: int) -> WebhookDelivery | None:
    """Mark the delivery `processing` (attempts + 1); None if finished, busy or given up.

    A delivery another worker started less than `WOOCOMMERCE_STALE_SECONDS` ago
    is left to it; one started earlier is taken over (that worker died).

    The usual case, a delivery waiting with attempts left, is one UPDATE that also
    returns its resource and body (issue 26); anything else goes through the row lock
    below. The delivery returned carries `resource` and `body` either way.
    """
    now = timezone.now()
    waiting = (Status.RECEIVED, Status.QUEUED)
    params = [Status.PROCESSING, now, now, delivery_id, *waiting, settings.WOOCOMMERCE_MAX_ATTEMPTS]

    def run_claim() -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(_claim_sql(), params)
            return cursor.fetchone()

    # The task's first statement is its connection's check (core.connections): sent again
    # after it did commit, it matches no waiting row and the row lock below decides.
    claimed = checked_first(run_claim, what=f"delivery {delivery_id}")
    if claimed:
        resource, body = claimed
        return WebhookDelivery(
            pk=delivery_id, status=Status.PROCESSING, started_at=now, resource=resource, body=body
        )
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in FINISHED or delivery.status == Status.FAILED:
            return None
        now = timezone.now()
        window = timedelta(seconds=settings.WOOCOMMERCE_STALE_SECONDS)
        started = delivery.started_at
        if delivery.status == Status.PROCESSING and started and started > now - window:
            return None  # another worker is on it; if it died, the sweeper resends it later
        if delivery.attempts >= settings.WOOCOMMERCE_MAX_ATTEMPTS:
            delivery.status = Status.FAILED
            delivery.reason = reasons.reason(
                "gave_up", attempts=delivery.attempts, error=delivery.error, last=delivery.reason
            )
            delivery.error = reasons.english(delivery.reason)
            delivery.save(update_fields=["status", "error", "reason", "updated_at"])
            return None
        delivery.status = Status.PROCESSING
        delivery.attempts += 1
        delivery.started_at = now
        delivery.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        return delivery


def _column(name: str) -> str:
    """A delivery field's column, quoted, for the statements written once below."""
    return f'"{WebhookDelivery._meta.get_field(name).column}"'


@functools.cache
def _claim_sql() -> str:
    """`claim`'s one statement, written once from the model."""
    meta, column = WebhookDelivery._meta, _column
    status, attempts = column("status"), column("attempts")
    # Only the model's own table and column names are interpolated.
    return (
        f'UPDATE "{meta.db_table}" SET {status} = %s, {attempts} = {attempts} + 1, '  # noqa: S608
        f"{column('started_at')} = %s, {column('updated_at')} = %s "
        f"WHERE {column('id')} = %s AND {status} IN (%s, %s) AND {attempts} < %s "
        f"RETURNING {column('resource')}, {column('body')}"
    )


def _finish(delivery: WebhookDelivery, status: str, reason: reasons.Reason | None) -> None:
    delivery.status = status
    delivery.reason = reason
    delivery.error = reasons.english(reason)
    delivery.traceback = ""
    delivery.processed_at = timezone.now()
    delivery.save(
        update_fields=[
            "status",
            "error",
            "reason",
            "traceback",
            "processed_at",
            "woo_id",
            "updated_at",
        ]
    )


def process(delivery_id: int) -> str | None:
    """Apply a delivery; return its final status, or None when there was nothing to do.

    Raises `Transient` when it should be retried (the delivery is left
    `queued` with the error when the database allows it).
    """
    claimed = claim(delivery_id)
    if claimed is None:
        return None
    if claimed.resource not in handlers.HANDLERS:
        return _close_unhandled(claimed)
    woo_id = None
    try:
        with transaction.atomic():
            # `of=("self",)`: FOR UPDATE on the joined shop and organization rows would
            # block every receiver insert (its foreign key check) until this one commits.
            delivery = (
                WebhookDelivery.objects.select_for_update(of=("self",))
                .select_related("store__organization")
                .get(pk=delivery_id)
            )
            if delivery.status != Status.PROCESSING or delivery.started_at != claimed.started_at:
                return None  # another worker took it over meanwhile
            try:
                payload = json.loads(bytes(delivery.body))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                _finish(delivery, Status.FAILED, reasons.reason("invalid_json", error=str(exc)))
                return Status.FAILED
            if isinstance(payload, dict) and isinstance(payload.get("id"), int):
                delivery.woo_id = woo_id = payload["id"]
            # A PayloadError rolls the whole transaction back (no savepoint per delivery:
            # two statements fewer) and is recorded below, in its own statement.
            outcome = handlers.apply(delivery.store, delivery.resource, delivery.event, payload)
            _finish(delivery, outcome.status, outcome.reason)
            return outcome.status
    except PayloadError as exc:
        _refuse(delivery_id, claimed.started_at, woo_id, exc.reason)
        return Status.FAILED
    except TRANSIENT as exc:
        _requeue(delivery_id, exc)
        raise Transient(str(exc)) from exc
    except Exception as exc:  # a bug or an unforeseen payload: keep it, never crash the worker
        logger.exception("delivery %s failed", delivery_id)
        _mark_failed(delivery_id, exc)
        return Status.FAILED


def _close_unhandled(claimed: WebhookDelivery) -> str:
    """A resource no handler applies (a coupon...): `ignored` at once, in one statement.

    No transaction and no row lock: nothing of the CRM is read or written, and the
    UPDATE applies to this claim only. A body that is not JSON fails, as for any other
    resource.
    """
    try:
        payload = json.loads(bytes(claimed.body))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _close(claimed.pk, claimed.started_at, None, reasons.reason("invalid_json", error=str(exc)))
        return Status.FAILED
    woo_id = payload.get("id") if isinstance(payload, dict) else None
    outcome = handlers.Outcome.ignored("no_handler", resource=claimed.resource)
    _close(
        claimed.pk,
        claimed.started_at,
        woo_id if isinstance(woo_id, int) else None,
        outcome.reason,
        status=outcome.status,
    )
    return outcome.status


def _refuse(delivery_id: int, started_at, woo_id: int | None, reason: reasons.Reason) -> None:
    """A payload that can never be applied: `failed` with why (this claim's only)."""
    _close(delivery_id, started_at, woo_id, reason)


def _close(
    delivery_id: int,
    started_at,
    woo_id: int | None,
    reason: reasons.Reason,
    *,
    status: str = Status.FAILED,
) -> None:
    """Record how this claim ended, in one UPDATE that touches this claim only (written
    once, as the claim's: the ORM's build of it was a third of an ignored delivery's time)."""
    now = timezone.now()
    params = [
        status,
        reasons.english(reason),
        None if reason is None else json.dumps(reason),
        woo_id,
        now,
        now,
        delivery_id,
        Status.PROCESSING,
        started_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_close_sql(), params)


@functools.cache
def _close_sql() -> str:
    """`_close`'s one statement, written once from the model."""
    meta, column = WebhookDelivery._meta, _column
    # Only the model's own table and column names are interpolated.
    return (
        f'UPDATE "{meta.db_table}" SET {column("status")} = %s, '  # noqa: S608
        f"{column('error')} = %s, {column('reason')} = %s::jsonb, {column('traceback')} = '', "
        f"{column('woo_id')} = %s, {column('processed_at')} = %s, {column('updated_at')} = %s "
        f"WHERE {column('id')} = %s AND {column('status')} = %s AND {column('started_at')} = %s"
    )


def _requeue(delivery_id: int, exc: BaseException) -> None:
    try:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PROCESSING).update(
            status=Status.QUEUED,
            error=f"will retry: {exc}"[:2000],
            reason=reasons.reason("will_retry", error=str(exc)[:2000]),
            updated_at=timezone.now(),
        )
    except DatabaseError:
        logger.warning("delivery %s: database unavailable; the sweeper will retry", delivery_id)


def _mark_failed(delivery_id: int, exc: BaseException) -> None:
    try:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            reason=None,  # technical: the class and message, as they are
            traceback=traceback.format_exc(),
            processed_at=timezone.now(),
            updated_at=timezone.now(),
        )
    except DatabaseError:
        logger.warning("delivery %s: could not record the failure", delivery_id)
