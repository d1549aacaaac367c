"""Tracking: the platform's parcel statuses, received, stored and applied to the shipments.

Two ways in, one way through:

- the signed webhook (`carriers/webhooks.py` -> `delivery_receive`): the signature
  is checked over the raw body, the body is stored as a `CarrierDelivery`
  (`received`; a repeated body is the same row) and a worker is asked to apply it
  once the row is committed. The sweeper (beat) resends what stayed `received`.
- the periodic pull (`tracking_pull`, beat): parcels labelled long ago and still
  not delivered are asked to the platform (`CarrierPlatform.parcel_status`); what
  it answers is stored as a delivery of source "pull" and applied the same way.

Applying (`delivery_apply`) reads the status and its time
(`carrier_status_change_timestamp`), finds the parcel (by the platform's parcel
id, else by the order number, which is the line's code, in the account's
organization), and moves it only forward in the carrier's time: a delivery
older than the parcel's last status is recorded (its history) but moves
nothing, so repeats and reversed orders end in the latest status. The status's
meaning then moves the box's shipment through fulfillment's own service
(`shipment_transition`): shipped, delivered at the carrier's delivery time (which
is what the satisfaction survey's delay and the return window count from),
returned to sender (a box not marked shipped yet is shipped first: that status
arrived before the ones leading to it), undeliverable (lost). A box not dispatched yet has no
shipment: the status is recorded on the parcel only. An unknown status is
recorded, never fatal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django_fsm import can_proceed

from carriers.models import CarrierAccount, CarrierDelivery, Parcel
from carriers.platforms.base import CarrierPlatform, PlatformError
from core import clock
from core.actors import Actor
from core.errors import ApplicationError
from fulfillment import services as fulfillment_services
from fulfillment.models import Shipment, line_pk_from_code

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Sendcloud-Signature"
Status = CarrierDelivery.Status


# --- What a status means here ----------------------------------------------------------

Meaning = CarrierDelivery.Meaning
Note = CarrierDelivery.Note
SHIPPED = Meaning.SHIPPED  # the carrier has it: on its way
DELIVERED = Meaning.DELIVERED
RETURNED = Meaning.RETURNED  # returned to sender
UNDELIVERABLE = Meaning.UNDELIVERABLE  # closed as lost
INFO = Meaning.INFO  # known, moves no shipment (label states, cancellations, problems)
UNKNOWN = Meaning.UNKNOWN

#: Sendcloud's parcel statuses and what each means here, keyed by the status's name as
#: a slug (lower case, every run of other characters one "-": "At sorting centre" ->
#: "at-sorting-centre"; v3's codes "AT_SORTING_CENTRE" give the same slug).
#: Sources, read on 2026-12-06:
#: - the names and their definitions: Sendcloud's "Tracking statuses" page
#:   (https://sendcloud.dev/docs/tracking/tracking-statuses, the statuses of
#:   `GET /parcels/statuses`, https://sendcloud.dev/.openapi/v2/parcel-statuses/openapi.yaml);
#: - the parent statuses' slugs as Sendcloud's public API takes them as a filter
#:   (`parent_parcel_status` of the returns list, as quoted by Pipedream's Sendcloud
#:   component: ready-to-send ... returned-to-sender, undeliverable).
#: The numeric ids of v2's webhook (`status.id`) were not in what could be read of
#: that list: they are stored as received, never interpreted.
MEANINGS = {
    # The carrier has the parcel.
    "at-customs": SHIPPED,
    "at-sorting-centre": SHIPPED,
    "being-sorted": SHIPPED,
    "sorted": SHIPPED,
    "to-sorting": SHIPPED,
    "shipment-on-route": SHIPPED,
    "driver-on-route": SHIPPED,
    "picked-up-by-driver": SHIPPED,
    "delivery-attempt-failed": SHIPPED,
    "delivery-failed": SHIPPED,
    "delivery-delayed": SHIPPED,
    "delayed": SHIPPED,
    "delivery-date-changed": SHIPPED,
    "delivery-address-changed": SHIPPED,
    "delivery-method-changed": SHIPPED,
    "awaiting-customer-pickup": SHIPPED,  # at a service point, not yet collected
    # Delivered to the customer, or collected by them at the service point.
    "delivered": DELIVERED,
    "collected-by-customer": DELIVERED,
    # Back to the sender; undeliverable.
    "returned-to-sender": RETURNED,
    "undeliverable": UNDELIVERABLE,
    # Label states, cancellations, problems staff read: recorded, no move.
    "ready-to-send": INFO,
    "announced": INFO,
    "announced-not-collected": INFO,
    "announcing": INFO,
    "being-announced": INFO,
    "announcement-failed": INFO,
    "address-invalid": INFO,
    "cancellation-request": INFO,
    "cancellation-requested": INFO,
    "cancelling": INFO,
    "cancelling-upstream": INFO,
    "cancelled": INFO,
    "cancelled-upstream": INFO,
    "refused-by-recipient": INFO,
    "exception": INFO,
    "no-label": INFO,
}

#: The shipment action each meaning asks for (fulfillment.services.shipment_transition).
ACTIONS = {
    SHIPPED: ("ship", Note.SHIPPED),
    DELIVERED: ("deliver", Note.DELIVERED),
    RETURNED: ("mark_returned", Note.RETURNED),
    UNDELIVERABLE: ("mark_lost", Note.LOST),
}

#: What a status implies happened before it, when that has not reached us yet (reversed
#: order, a lost webhook): a parcel returned to sender was shipped. Applied at the same
#: carrier time (the earlier status, arriving later, is older: recorded, moves nothing).
FIRST = {"mark_returned": "ship"}


def status_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(name or "").lower()).strip("-")


def meaning_of(name: str) -> str:
    return MEANINGS.get(status_slug(name), UNKNOWN)


# --- Receiving ------------------------------------------------------------------------


def signature_matches(body: bytes, signature: str, secret: str) -> bool:
    """`signature` is the HMAC-SHA256 (hex) of the raw body under `secret`; constant time."""
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_receive(
    *, account: CarrierAccount, body: bytes, headers: Mapping[str, str]
) -> int | None:
    """Verify a webhook's signature and store it; its id, or None for a repeated body.

    Raises `ApplicationError` (401) for a missing or wrong signature: nothing is
    stored. The worker is asked once the row is committed.
    """
    if not signature_matches(body, headers.get(SIGNATURE_HEADER, ""), account.secret_key):
        logger.warning("carrier webhook for account %s: bad or missing signature", account.pk)
        raise ApplicationError("Missing or invalid Sendcloud-Signature.", status=401)
    return _store(account, body, CarrierDelivery.Source.WEBHOOK)


def _store(account: CarrierAccount, body: bytes, source: str) -> int | None:
    delivery = CarrierDelivery(
        organization_id=account.organization_id,
        account=account,
        source=source,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    try:
        with transaction.atomic():  # a savepoint: a repeated body must not break the caller
            delivery.save(force_insert=True)
    except IntegrityError:
        return None
    pk = delivery.pk
    transaction.on_commit(lambda: enqueue(pk))
    return pk


def enqueue(delivery_id: int) -> None:
    """Ask a worker to apply the delivery; a broker down leaves it to the sweeper."""
    from carriers.tasks import apply_delivery

    try:
        apply_delivery.delay(delivery_id)
    except Exception:
        logger.warning("tracking delivery %s: broker unavailable; swept later", delivery_id)


def deliveries_sweep(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Resend the deliveries still `received` after `CARRIER_DELIVERY_STUCK_SECONDS`."""
    now = now or clock.now()
    stuck = now - timedelta(seconds=settings.CARRIER_DELIVERY_STUCK_SECONDS)
    ids = list(
        CarrierDelivery.objects.filter(status=Status.RECEIVED, updated_at__lt=stuck)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        CarrierDelivery.objects.filter(pk=pk, status=Status.RECEIVED).update(updated_at=now)
        enqueue(pk)
    return len(ids)


# --- Reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEvent:
    parcel_id: str
    order_number: str
    tracking_number: str
    status: str  # the platform's id or code, as sent
    message: str
    at: datetime | None


def _time(value) -> datetime | None:
    """A Sendcloud timestamp: epoch milliseconds (its webhooks) or seconds, or ISO 8601."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_event(body: bytes) -> StatusEvent:
    """A `parcel_status_changed` webhook (or a pulled status); ValueError when it is not one."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError("The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise ValueError("The body is not a JSON object.")
    if data.get("action") != "parcel_status_changed":
        raise ValueError(f"Not a parcel status change: {str(data.get('action'))[:50]}.")
    parcel = data.get("parcel")
    if not isinstance(parcel, dict):
        raise ValueError("The body has no parcel.")
    status = parcel.get("status") if isinstance(parcel.get("status"), dict) else {}
    at = _time(data.get("carrier_status_change_timestamp")) or _time(data.get("timestamp"))
    return StatusEvent(
        parcel_id=str(parcel.get("id") or ""),
        order_number=str(parcel.get("order_number") or ""),
        tracking_number=str(parcel.get("tracking_number") or ""),
        status=str(status.get("id") if status.get("id") is not None else status.get("code") or ""),
        message=str(status.get("message") or status.get("code") or ""),
        at=at,
    )


# --- Applying -------------------------------------------------------------------------


def _find_parcel(account: CarrierAccount, event: StatusEvent) -> Parcel | None:
    parcels = Parcel.objects.filter(account=account, organization_id=account.organization_id)
    if event.parcel_id:
        parcel = parcels.filter(platform_parcel_id=event.parcel_id).first()
        if parcel is not None:
            return parcel
    line_pk = line_pk_from_code(event.order_number) if event.order_number else None
    if line_pk is not None:
        return parcels.filter(line_id=line_pk).first()
    return None


def _finish(delivery: CarrierDelivery, status: str, note: str, now: datetime) -> str:
    delivery.status = status
    delivery.note = note
    delivery.processed_at = now
    delivery.save()
    return status


#: Unexpected errors in a row after which a delivery is `failed` (the sweeper stops).
MAX_ATTEMPTS = 5


def delivery_apply(*, delivery_id: int, now: datetime | None = None) -> str:
    """Apply one stored delivery (the worker's task); safe to run twice.

    An unexpected error rolls the application back, counts an attempt and is raised
    (the task fails; the sweeper sends it again); after `MAX_ATTEMPTS` it is `failed`.
    """
    now = now or clock.now()
    try:
        return _apply(delivery_id, now)
    except Exception:
        logger.exception("tracking delivery %s: applying failed", delivery_id)
        with transaction.atomic():
            delivery = (
                CarrierDelivery.objects.select_for_update()
                .filter(pk=delivery_id, status=Status.RECEIVED)
                .first()
            )
            if delivery is not None:
                delivery.attempts += 1
                if delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = Status.FAILED
                    delivery.note = Note.ERROR
                    delivery.processed_at = now
                delivery.save()
        raise


def _apply(delivery_id: int, now: datetime) -> str:
    with transaction.atomic():
        delivery = (
            CarrierDelivery.objects.select_for_update()
            .select_related("account")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != Status.RECEIVED:
            return delivery.status if delivery else ""
        delivery.attempts += 1
        try:
            event = read_event(bytes(delivery.body))
        except ValueError as exc:
            logger.info("tracking delivery %s ignored: %s", delivery.pk, exc)
            return _finish(delivery, Status.IGNORED, Note.INVALID, now)
        delivery.carrier_status = event.status[:100]
        delivery.carrier_status_message = event.message[:500]
        delivery.meaning = meaning_of(event.message)
        delivery.carrier_status_at = event.at or delivery.received_at
        parcel = _find_parcel(delivery.account, event)
        if parcel is None:
            return _finish(delivery, Status.IGNORED, Note.NO_PARCEL, now)
        parcel = Parcel.objects.select_for_update().get(pk=parcel.pk)
        delivery.parcel = parcel
        at = delivery.carrier_status_at
        if parcel.carrier_status_at is not None and at < parcel.carrier_status_at:
            return _finish(delivery, Status.PROCESSED, Note.OLDER, now)
        Parcel.objects.filter(pk=parcel.pk).update(
            carrier_status=delivery.carrier_status,
            carrier_status_message=delivery.carrier_status_message,
            carrier_status_at=at,
            updated_at=now,
        )
        note = _move_shipment(parcel, delivery.meaning, at, now)
        return _finish(delivery, Status.PROCESSED, note, now)


def _move_shipment(parcel: Parcel, meaning: str, at: datetime, now: datetime) -> str:
    if meaning == UNKNOWN:
        return Note.UNKNOWN_STATUS
    if meaning not in ACTIONS:
        return Note.RECORDED
    action, done = ACTIONS[meaning]
    shipment = Shipment.objects.filter(line_id=parcel.line_id).first()
    if shipment is None:
        return Note.NOT_DISPATCHED
    before = FIRST.get(action)
    if (
        before
        and not can_proceed(getattr(shipment, action))
        and can_proceed(getattr(shipment, before))
    ):
        steps = [before, action]  # its earlier statuses are late or lost: they happened
    elif can_proceed(getattr(shipment, action)):
        steps = [action]
    else:
        return Note.NOT_MOVED
    try:
        with transaction.atomic():  # both steps or neither
            for step in steps:
                shipment = fulfillment_services.shipment_transition(
                    shipment=shipment, action=step, actor=Actor.system("carrier"), at=at, now=now
                )
    except ApplicationError as exc:  # changed meanwhile: the status stays recorded
        logger.info("parcel %s: shipment not moved (%s): %s", parcel.pk, action, exc.message)
        return Note.NOT_MOVED
    return done


# --- The periodic pull ----------------------------------------------------------------


def parcels_to_pull(*, now: datetime, after_days: int | None = None):
    """Labelled parcels older than N days whose shipment is not closed (nor their status)."""
    days = settings.CARRIER_TRACKING_PULL_AFTER_DAYS if after_days is None else after_days
    return (
        Parcel.objects.filter(
            state=Parcel.State.LABELLED,
            labelled_at__lte=now - timedelta(days=days),
            labelled_at__gt=now - timedelta(days=days + settings.CARRIER_TRACKING_PULL_FOR_DAYS),
            account__active=True,
        )
        .exclude(line__shipment__status__in=Shipment.CLOSED)
        .select_related("account")
        .order_by("pk")
    )


def tracking_pull(*, now: datetime | None = None, limit: int = 500) -> int:
    """Ask the platform for the status of parcels whose webhooks never came; how many stored."""
    from carriers.services import platform_of

    now = now or clock.now()
    stored = 0
    clients: dict[int, CarrierPlatform] = {}
    stopped: set[int] = set()  # accounts whose platform failed: until the next run
    for parcel in parcels_to_pull(now=now)[:limit]:
        account = parcel.account
        if account.pk in stopped or not account.keys_ready or not parcel.tracking_number:
            continue
        try:
            if account.pk not in clients:
                clients[account.pk] = platform_of(account)
            status = clients[account.pk].parcel_status(parcel.tracking_number)
        except PlatformError as exc:
            logger.warning("tracking pull for account %s stopped: %s", account.pk, exc.message)
            stopped.add(account.pk)
            continue
        if status is None:
            continue
        body = json.dumps(
            {
                "action": "parcel_status_changed",
                "carrier_status_change_timestamp": status.at.isoformat() if status.at else None,
                "parcel": {
                    "id": parcel.platform_parcel_id,
                    "order_number": parcel.code,
                    "tracking_number": parcel.tracking_number,
                    "status": {"code": status.code, "message": status.message or status.code},
                },
            },
            sort_keys=True,
        ).encode()
        if _store(account, body, CarrierDelivery.Source.PULL) is not None:
            stored += 1
    return stored
