"""Process one stored webhook delivery, exactly once in effect.

Two short transactions: the first claims the delivery (`processing`,
attempts + 1) so a worker killed mid-way leaves a visible trace the sweeper
retries; the second applies it under the delivery's row lock and records the
result, so a delivery is applied at most once even if two workers get it.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

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

    The usual case, a delivery waiting with attempts left, is one UPDATE (issue 26);
    anything else goes through the row lock below.
    """
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=[Status.RECEIVED, Status.QUEUED],
        attempts__lt=settings.WOOCOMMERCE_MAX_ATTEMPTS,
    ).update(status=Status.PROCESSING, attempts=F("attempts") + 1, started_at=now, updated_at=now)
    if claimed:
        return WebhookDelivery(pk=delivery_id, status=Status.PROCESSING, started_at=now)
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


def _refuse(delivery_id: int, started_at, woo_id: int | None, reason: reasons.Reason) -> None:
    """A payload that can never be applied: `failed` with why (this claim's only)."""
    now = timezone.now()
    WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PROCESSING, started_at=started_at
    ).update(
        status=Status.FAILED,
        error=reasons.english(reason),
        reason=reason,
        traceback="",
        woo_id=woo_id,
        processed_at=now,
        updated_at=now,
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
