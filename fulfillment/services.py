"""Writes of the fulfillment cycle: open, lock, prepare, dispatch, ship, complete.

Each service locks the batch (or line, or shipment) row, checks the
transition with django-fsm-2, writes, and raises `ConflictError` (409) when
the row's status does not allow it; a refusal writes nothing. Bulk writes are
set-based: their number of queries does not depend on the number of lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_fsm import can_proceed

from core import clock
from core.actors import Actor, ActorKind
from core.errors import ApplicationError, ConflictError
from core.locks import lock_row, save_transition
from crm.models import Address, Organization
from fulfillment import parcels
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment, line_pk_from_code
from fulfillment.selectors import (
    batch_open,
    calendar_cycle_after,
    fulfillment_settings_for,
)
from fulfillment.snapshots import Box, DueCycle, boxes_at, due_cycles
from subscriptions.models import Charge, Subscription

LineStatus = BatchLine.Status
logger = logging.getLogger(__name__)
_WEEK = timedelta(days=7)


def _conflict(row, action: str) -> ConflictError:
    return ConflictError(
        _("This %(what)s is %(status)s: it cannot be %(action)s.")
        % {
            "what": row._meta.verbose_name,
            "status": row.get_status_display().lower(),
            "action": action,
        },
        {"status": row.status},
    )


def _save(row) -> None:
    save_transition(row, changed=gettext_lazy("It changed meanwhile; try again."))


def _locked_batch(batch: Batch | int) -> Batch:
    return lock_row(Batch.objects.select_related("organization"), batch)


# --- Settings ----------------------------------------------------------------------

#: What an organization's administrators choose of its fulfillment settings.
SETTINGS_FIELDS = (
    "cutoff_weekday",
    "cutoff_time",
    "shipping_offset_days",
    "unpaid_lines",
    "default_carrier",
)


@transaction.atomic
def fulfillment_settings_update(*, organization: Organization, **values) -> FulfillmentSettings:
    """Set the organization's cut-off and shipping rules (`SETTINGS_FIELDS`), its row created
    the first time. A change counts from the next batch created: the open batch keeps its
    cut-off."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not a fulfillment setting: {', '.join(sorted(unknown))}")
    row, _created = FulfillmentSettings.objects.select_for_update().get_or_create(
        organization=organization
    )
    for name, value in values.items():
        setattr(row, name, value)
    try:
        row.full_clean(exclude=["organization"])
    except ValidationError as error:
        raise ApplicationError(_("Invalid input."), {"fields": error.message_dict}) from error
    row.save()
    return row


# --- The calendar ------------------------------------------------------------------


def batch_open_next(*, organization: Organization, now: datetime | None = None) -> Batch:
    """The organization's open batch, created for the next cycle if there is none.

    It covers the cycles from the latest batch's cut-off (from where a canceled
    latest batch started: its cycles ship in this one); the first batch covers
    the week before its cut-off. Safe to run twice at once: the database keeps
    one open batch per organization.
    """
    existing = batch_open(organization=organization)
    if existing is not None:
        return existing
    latest = Batch.objects.filter(organization=organization).order_by("-cutoff_at").first()
    # No batch is open, so none has its cut-off ahead: the cycle is the calendar's
    # (what `cycle_at` answers, without reading the batches again).
    cycle = calendar_cycle_after(
        organization=organization,
        at=now or clock.now(),
        latest_cutoff=latest.cutoff_at if latest is not None else None,
    )
    if latest is None:
        starts_at = cycle.cutoff_at - _WEEK
    elif latest.status == Batch.Status.CANCELED:
        starts_at = latest.starts_at
    else:
        starts_at = latest.cutoff_at
    try:
        with transaction.atomic():
            return Batch.objects.create(
                organization=organization,
                cycle_date=cycle.cycle_date,
                starts_at=starts_at,
                cutoff_at=cycle.cutoff_at,
                ships_on=cycle.ships_on,
            )
    except IntegrityError:  # another process created it first
        return Batch.objects.get(organization=organization, status=Batch.Status.OPEN)


# --- Lock: freeze the cycle at its cut-off -------------------------------------------

_BATCH_TABLE = Batch._meta.db_table
_LINE_TABLE = BatchLine._meta.db_table
_SHIPMENT_TABLE = Shipment._meta.db_table
_CHARGE_TABLE = Charge._meta.db_table
_SUBSCRIPTION_TABLE = Subscription._meta.db_table


#: JSON as the lines store it (compact; a value JSON cannot hold is written as its text).
_encode_json = json.JSONEncoder(separators=(",", ":"), default=str).encode

#: The boxes' columns, as `insert_lines` stages them.
_STAGED_COLUMNS = """subscription_id bigint, customer_id bigint, cycle integer, charge_id bigint,
    status text, address jsonb, items jsonb, preferences jsonb"""


def _staged_rows(boxes: Iterable[Box]):
    for box in boxes:
        yield (
            box.subscription_id,
            box.customer_id,
            box.cycle,
            box.charge_id,
            LineStatus.READY.value if box.paid else LineStatus.AWAITING_PAYMENT.value,
            None if box.address is None else _encode_json(box.address),
            None if box.items is None else _encode_json(box.items),
            None if box.preferences is None else _encode_json(box.preferences),
        )


def insert_lines(*, batch: Batch, boxes: Iterable[Box], now: datetime) -> int:
    """Write the boxes as lines of `batch`, whatever their number, in three statements.

    The boxes are `COPY`'d into a temporary table (no index, no constraint; dropped at
    commit), then written in one `INSERT ... SELECT`, which skips a cycle another
    transaction gave a line meanwhile (`ON CONFLICT DO NOTHING`). `COPY` is the cheapest
    way in for many rows: sending them as one JSON document cost twice as much, mostly
    in `jsonb_to_recordset` (issue 26). Django's query log does not see the `COPY`.
    """
    staged = f"fulfillment_lock_{batch.pk}"
    # The temporary table lives until the commit: in autocommit it would be gone at once.
    in_transaction = nullcontext() if connection.in_atomic_block else transaction.atomic()
    with in_transaction, connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {staged} ({_STAGED_COLUMNS}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY {staged} FROM STDIN") as copy:
            for row in _staged_rows(boxes):
                copy.write_row(row)
        cursor.execute(
            f"""
            INSERT INTO {_LINE_TABLE} (organization_id, batch_id, subscription_id, customer_id,
                cycle, charge_id, status, address, items, preferences, reason,
                created_at, updated_at)
            SELECT %s, %s, r.subscription_id, r.customer_id, r.cycle, r.charge_id, r.status,
                r.address, COALESCE(r.items, '[]'), COALESCE(r.preferences, '{{}}'), '', %s, %s
            FROM {staged} AS r
            ON CONFLICT DO NOTHING
            """,
            [batch.organization_id, batch.pk, now, now],
        )
        return cursor.rowcount


def _resnapshot_carried(batch: Batch, carried: list[BatchLine], at: datetime, now) -> None:
    """Lines rolled into the batch take the content of this cut-off (one statement)."""
    if not carried:
        return
    boxes = boxes_at(
        organization=batch.organization,
        cycles=[
            DueCycle(line.subscription_id, line.cycle, line.customer_id, line.charge_id, False)
            for line in carried
        ],
        at=at,
    )
    payload = [
        {"id": line.pk, "address": box.address, "items": box.items, "preferences": box.preferences}
        for line, box in zip(carried, boxes, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_LINE_TABLE} AS l
            SET address = r.address, items = r.items, preferences = r.preferences,
                updated_at = %s
            FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, address jsonb, items jsonb,
                preferences jsonb)
            WHERE l.id = r.id
            """,
            [now, json.dumps(payload, default=str)],
        )


def _lock(batch: Batch, *, now: datetime) -> int:
    """Lock a batch whose row this transaction holds; returns the number of lines written."""
    at = min(now, batch.cutoff_at)
    original_cutoff = batch.cutoff_at
    batch.cutoff_at = at  # locked early by staff: the cut-off is now
    carried = list(
        BatchLine.objects.filter(
            batch=batch,
            kind=BatchLine.Kind.CYCLE,
            status__in=[LineStatus.AWAITING_PAYMENT, LineStatus.READY],
        ).only("pk", "subscription_id", "cycle", "customer_id", "charge_id")
    )
    cycles = due_cycles(batch=batch)
    boxes = boxes_at(organization=batch.organization, cycles=cycles, at=at)
    written = insert_lines(batch=batch, boxes=boxes, now=now)
    _resnapshot_carried(batch, carried, at, now)
    batch.lock()
    batch.locked_at = now
    _save(batch)
    lines_payment_refresh(batch=batch)
    batch_open_next(organization=batch.organization, now=max(now, original_cutoff))
    return written


@transaction.atomic
def batch_lock(*, batch: Batch, actor: Actor, now: datetime | None = None) -> Batch:
    """Lock a batch now (staff closing the cycle early, or the beat task at its cut-off).

    Before its cut-off the batch's cut-off becomes now: the content is read as
    it stands, and later changes count for the next batch.
    """
    now = now or clock.now()
    batch = _locked_batch(batch)
    if not can_proceed(batch.lock):
        raise _conflict(batch, _("locked"))
    _lock(batch, now=now)
    return batch


@dataclass
class LockReport:
    locked: list[int] = field(default_factory=list)
    lines: int = 0
    failed: list[int] = field(default_factory=list)


def lock_due_batches(*, now: datetime | None = None) -> LockReport:
    """Lock every open batch whose cut-off has passed, each exactly once.

    One short transaction per batch. `SKIP LOCKED` lets two processes run this
    at once: each takes other batches, and a batch locked by one is no longer
    open for the other. After downtime it catches up: the overdue batch is
    locked as of its cut-off, and the next one opens at the next cut-off ahead.
    """
    now = now or clock.now()
    report = LockReport()
    failed: list[int] = []
    while True:
        batch = None
        try:
            with transaction.atomic():
                batch = (
                    Batch.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("organization")
                    .filter(status=Batch.Status.OPEN, cutoff_at__lte=now)
                    .exclude(pk__in=failed)
                    .order_by("cutoff_at", "pk")
                    .first()
                )
                if batch is None:
                    return report
                report.lines += _lock(batch, now=now)
                report.locked.append(batch.pk)
        except Exception:
            if batch is None:
                raise
            # One organization's failure (rolled back, retried next minute) must not
            # keep the others' batches open.
            logger.exception("fulfillment: locking batch %s failed", batch.pk)
            failed.append(batch.pk)
            report.failed.append(batch.pk)


def batches_open_missing(*, now: datetime | None = None) -> int:
    """Open the next batch of every organization that has fulfillment settings but none open."""
    now = now or clock.now()
    created = 0
    for settings_row in FulfillmentSettings.objects.select_related("organization").exclude(
        organization__in=Batch.objects.filter(status=Batch.Status.OPEN).values("organization")
    ):
        batch_open_next(organization=settings_row.organization, now=now)
        created += 1
    return created


# --- Payment: charge-then-ship --------------------------------------------------------


def lines_payment_refresh(
    *,
    batch: Batch | None = None,
    subscription_id: int | None = None,
    line_ids: list[int] | None = None,
) -> int:
    """Make lines follow their cycle's charge: `ready` when paid, `awaiting_payment` otherwise.

    Only lines not yet prepared move; a charge created after the line was
    written is linked to it. One statement; scoped to a batch, a subscription,
    some lines, or every line still waiting.
    """
    scope, params = "", []
    if batch is not None:
        scope += " AND l.batch_id = %s"
        params.append(batch.pk)
    if subscription_id is not None:
        scope += " AND l.subscription_id = %s"
        params.append(subscription_id)
    if line_ids is not None:
        scope += " AND l.id = ANY(%s)"
        params.append(list(line_ids))
    if not scope:  # every batch whose lines may still change
        scope = (
            f" AND l.batch_id IN (SELECT id FROM {_BATCH_TABLE} WHERE status IN ('open', 'locked'))"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_LINE_TABLE} AS l
            SET charge_id = c.id,
                status = CASE WHEN c.status = 'paid' THEN 'ready' ELSE 'awaiting_payment' END,
                updated_at = now()
            FROM {_CHARGE_TABLE} AS c
            WHERE c.subscription_id = l.subscription_id AND c.cycle = l.cycle
              AND l.status IN ('awaiting_payment', 'ready')
              AND (l.charge_id IS DISTINCT FROM c.id
                   OR (c.status = 'paid') <> (l.status = 'ready')){scope}
            """,
            params,
        )
        return cursor.rowcount


# --- After-sales ------------------------------------------------------------------------


@transaction.atomic
def line_add_replacement(
    *,
    subscription: Subscription,
    items: list[dict],
    address: dict | None,
    preferences: dict | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> BatchLine:
    """Add a box owed to the customer (an after-sales replacement) to the open batch.

    It is `ready` at once (nothing to pay) and keeps the content given here:
    the lock does not re-read it from the subscription. Written under the
    batch's row lock, so a lock running at the same moment either sees it or
    has already opened the next batch, which then takes it.
    """
    now = now or clock.now()
    batch = _locked_batch(batch_open_next(organization=subscription.organization, now=now))
    if batch.status != Batch.Status.OPEN:  # locked between the two reads
        batch = _locked_batch(batch_open_next(organization=subscription.organization, now=now))
    return BatchLine.objects.create(
        organization_id=subscription.organization_id,
        batch=batch,
        subscription=subscription,
        customer_id=subscription.customer_id,
        kind=BatchLine.Kind.REPLACEMENT,
        status=LineStatus.READY,
        address=address,
        items=items,
        preferences=preferences or {},
        reason=reason[:500],
    )


# --- The packing room -------------------------------------------------------------------


def _locked_line(line: BatchLine | int) -> BatchLine:
    return lock_row(BatchLine.objects.select_related("batch"), line)


def _require_locked_batch(line: BatchLine) -> None:
    if line.batch.status != Batch.Status.LOCKED:
        raise ConflictError(
            _("Lines are prepared once their batch is locked; this batch is %(status)s.")
            % {"status": line.batch.get_status_display().lower()},
            {"batch_status": line.batch.status},
        )


@transaction.atomic
def line_prepare(*, line: BatchLine, actor: Actor, now: datetime | None = None) -> BatchLine:
    """Mark one box packed. Only a paid line (`ready`) of a locked batch can be."""
    lines_payment_refresh(subscription_id=line.subscription_id)
    line = _locked_line(line)
    _require_locked_batch(line)
    if line.status == LineStatus.AWAITING_PAYMENT:
        raise ConflictError(
            _("Line %(code)s is not paid yet: it cannot be prepared.") % {"code": line.code},
            {"status": line.status, "code": line.code},
        )
    if not can_proceed(line.prepare):
        raise _conflict(line, _("prepared"))
    line.prepare()
    line.prepared_at = now or clock.now()
    line.prepared_by = actor.user if actor.kind == ActorKind.USER else None
    _save(line)
    return line


def line_prepare_code(
    *,
    organization: Organization,
    code: str,
    actor: Actor,
    batch: Batch | None = None,
    now: datetime | None = None,
) -> BatchLine:
    """Mark prepared the line a scanner read (its code: id and check digit).

    Given the `batch` being packed, a line of another batch is refused: preparing
    it there would be a box put on the wrong pile.
    """
    pk = line_pk_from_code(code or "")
    line = (
        BatchLine.objects.filter(organization=organization, pk=pk).select_related("batch").first()
        if pk is not None
        else None
    )
    if line is None:
        raise ApplicationError(
            _("No line has the code %(code)s in this organization.") % {"code": code},
            {"fields": {"code": [_("Unknown code.")]}},
            status=404 if pk is not None else 400,
        )
    if batch is not None and line.batch_id != batch.pk:
        elsewhere = str(line.batch)
        raise ConflictError(
            _("Line %(code)s is in the %(batch)s, not this one: nothing was changed.")
            % {"code": line.code, "batch": elsewhere[:1].lower() + elsewhere[1:]},
            {"batch": line.batch_id},
        )
    return line_prepare(line=line, actor=actor, now=now)


@dataclass
class BulkReport:
    done: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


@transaction.atomic
def lines_prepare(
    *,
    organization: Organization,
    line_ids: Iterable[int],
    actor: Actor,
    now: datetime | None = None,
) -> BulkReport:
    """Mark many boxes packed at once (set-based). Lines that cannot be are reported, not
    changed: unpaid, already prepared or shipped, or in a batch that is not locked.

    Another organization's id is refused as unknown, and then nothing is written.
    """
    ids = sorted(set(line_ids))
    lines_payment_refresh(line_ids=ids)
    found = dict(
        BatchLine.objects.select_for_update(of=("self",))
        .filter(organization=organization, pk__in=ids)
        .values_list("pk", "status")
    )
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        raise ApplicationError(
            _("Unknown lines: %(ids)s.") % {"ids": ", ".join(map(str, unknown))},
            {"fields": {"lines": [_("Unknown lines.")]}, "unknown": unknown},
            status=404,
        )
    locked_batch = set(
        BatchLine.objects.filter(pk__in=ids, batch__status=Batch.Status.LOCKED).values_list(
            "pk", flat=True
        )
    )
    report = BulkReport()
    for pk in ids:
        if pk not in locked_batch:
            report.refused[pk] = _("Its batch is not locked.")
        elif found[pk] == LineStatus.AWAITING_PAYMENT:
            report.refused[pk] = _("Not paid yet.")
        elif found[pk] != LineStatus.READY:
            report.refused[pk] = _("Already %(status)s.") % {
                "status": LineStatus(found[pk]).label.lower()
            }
        else:
            report.done.append(pk)
    if report.done:
        now = now or clock.now()
        BatchLine.objects.filter(pk__in=report.done, status=LineStatus.READY).update(
            status=LineStatus.PREPARED,
            prepared_at=now,
            prepared_by=actor.user if actor.kind == ActorKind.USER else None,
            updated_at=now,
        )
    return report


@transaction.atomic
def line_unprepare(*, line: BatchLine, actor: Actor) -> BatchLine:
    """Take a box back out of the prepared pile (scanned by mistake)."""
    line = _locked_line(line)
    _require_locked_batch(line)
    if not can_proceed(line.unprepare):
        raise _conflict(line, _("taken back"))
    line.unprepare()
    line.prepared_at = None
    line.prepared_by = None
    _save(line)
    return line


@transaction.atomic
def line_exclude(*, line: BatchLine, actor: Actor, reason: str) -> BatchLine:
    """Leave a box out of its batch (out of stock, customer's request), with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            _("Say why the line is excluded."), {"fields": {"reason": [_("Required.")]}}
        )
    line = _locked_line(line)
    if line.batch.status not in (Batch.Status.OPEN, Batch.Status.LOCKED):
        raise ConflictError(
            _("The batch is %(status)s: its lines no longer change.")
            % {"status": line.batch.get_status_display().lower()}
        )
    if not can_proceed(line.exclude):
        raise _conflict(line, _("excluded"))
    line.exclude()
    line.reason = f"{reason} ({actor.label})"[:500] if actor.label else reason[:500]
    _save(line)
    return line


# --- Dispatch ---------------------------------------------------------------------------


@dataclass
class DispatchReport:
    shipped: int = 0
    rolled: int = 0
    excluded: int = 0
    next_batch: int | None = None


def _roll(batch: Batch, target: Batch, where: str, params: list, reason: str, now) -> int:
    """Move the lines matching `where` to `target`: each becomes `rolled` here, with a copy
    there that keeps its cycle, charge and content (re-read at the target's cut-off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_LINE_TABLE} AS l SET status = 'rolled', reason = %s, updated_at = %s
            FROM (SELECT id, status FROM {_LINE_TABLE} l WHERE l.batch_id = %s AND {where}
                  FOR UPDATE) AS o
            WHERE l.id = o.id
            RETURNING l.id, o.status
            """,
            [reason, now, batch.pk, *params],
        )
        moved = cursor.fetchall()
        if not moved:
            return 0
        cursor.execute(
            f"""
            INSERT INTO {_LINE_TABLE} (organization_id, batch_id, subscription_id, customer_id,
                kind, cycle, charge_id, status, address, items, preferences, reason,
                rolled_from_id, created_at, updated_at)
            SELECT l.organization_id, %s, l.subscription_id, l.customer_id, l.kind, l.cycle,
                l.charge_id,
                CASE WHEN m.status = 'prepared' THEN 'awaiting_payment' ELSE m.status END,
                l.address, l.items, l.preferences, '', l.id, %s, %s
            FROM {_LINE_TABLE} l JOIN unnest(%s::bigint[], %s::text[]) AS m(id, status)
                ON m.id = l.id
            """,
            [target.pk, now, now, [m[0] for m in moved], [m[1] for m in moved]],
        )
    return len(moved)


def _exclude(batch: Batch, where: str, params: list, reason: str, now) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_LINE_TABLE} AS l SET status = 'excluded', reason = %s, updated_at = %s
            WHERE l.batch_id = %s AND {where}
            """,
            [reason, now, batch.pk, *params],
        )
        return cursor.rowcount


# Paid, or owed to the customer (a replacement ships without a charge).
_PAID = f"""(l.kind = 'replacement'
    OR EXISTS (SELECT 1 FROM {_CHARGE_TABLE} c WHERE c.id = l.charge_id AND c.status = 'paid'))"""
_ENDED = f"""(EXISTS (SELECT 1 FROM {_SUBSCRIPTION_TABLE} s WHERE s.id = l.subscription_id
                AND s.status IN ('canceled', 'expired'))
           OR EXISTS (SELECT 1 FROM {_CHARGE_TABLE} c WHERE c.id = l.charge_id
                AND c.status IN ('voided', 'refunded')))"""
_OPEN_LINE = "l.status IN ('awaiting_payment', 'ready', 'prepared')"


@transaction.atomic
def batch_dispatch(
    *, batch: Batch, actor: Actor, carrier: str = "", now: datetime | None = None
) -> DispatchReport:
    """Hand the prepared boxes to the carrier: one `Shipment` per prepared, paid line.

    An unpaid line never ships. Lines still unpaid roll to the next batch or
    are excluded, as the organization's settings say; those of an ended
    subscription, or whose charge was voided or refunded, are excluded. Paid
    lines nobody prepared roll to the next batch.
    """
    now = now or clock.now()
    batch = _locked_batch(batch)
    if not can_proceed(batch.dispatch):
        raise _conflict(batch, _("dispatched"))
    settings_row = fulfillment_settings_for(organization=batch.organization)
    carrier = (carrier or settings_row.default_carrier or "").strip()[:100]
    lines_payment_refresh(batch=batch)
    report = DispatchReport()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_SHIPMENT_TABLE} (organization_id, batch_id, line_id, customer_id,
                carrier, tracking_number, tracking_url, status, address, created_at, updated_at)
            SELECT l.organization_id, l.batch_id, l.id, l.customer_id, %s, '', '', 'created',
                l.address, %s, %s
            FROM {_LINE_TABLE} l
            WHERE l.batch_id = %s AND l.status = 'prepared' AND {_PAID}
            RETURNING id, line_id
            """,
            [carrier, now, now, batch.pk],
        )
        created = cursor.fetchall()
        report.shipped = len(created)
        cursor.execute(
            f"""
            UPDATE {_LINE_TABLE} AS l SET status = 'shipped', updated_at = %s
            WHERE l.batch_id = %s AND l.status = 'prepared'
              AND EXISTS (SELECT 1 FROM {_SHIPMENT_TABLE} s WHERE s.line_id = l.id)
            """,
            [now, batch.pk],
        )
    _shipments_tracking_copy(dict(created), now)
    report.excluded += _exclude(
        batch,
        f"{_OPEN_LINE} AND NOT {_PAID} AND {_ENDED}",
        [],
        _("Not paid, and the subscription ended or its charge was canceled."),
        now,
    )
    target = None
    if settings_row.unpaid_lines == FulfillmentSettings.UnpaidLines.EXCLUDE:
        report.excluded += _exclude(
            batch, f"{_OPEN_LINE} AND NOT {_PAID}", [], _("Not paid at dispatch."), now
        )
    else:
        target = batch_open_next(organization=batch.organization, now=now)
        report.rolled += _roll(
            batch, target, f"{_OPEN_LINE} AND NOT {_PAID}", [], _("Not paid at dispatch."), now
        )
    if BatchLine.objects.filter(batch=batch, status=LineStatus.READY).exists():
        target = target or batch_open_next(organization=batch.organization, now=now)
        report.rolled += _roll(
            batch, target, "l.status = 'ready'", [], _("Paid but not prepared at dispatch."), now
        )
    if target is not None:
        lines_payment_refresh(batch=target)
    report.next_batch = target.pk if target else None
    batch.dispatch()
    batch.dispatched_at = now
    _save(batch)
    return report


def _tracking_of(parcel: parcels.LineParcel) -> dict[str, str]:
    return {
        "carrier": parcel.carrier[:100],
        "tracking_number": parcel.tracking_number[:100],
        "tracking_url": parcel.tracking_url[:1000],
    }


def _shipments_tracking_copy(line_by_shipment: dict[int, int], now: datetime) -> int:
    """Give each new shipment whose box was labelled on the carrier platform its parcel's
    carrier, tracking number and link (in place of the default carrier): what the
    customer's page, the cases and the surveys show. A fixed number of queries."""
    found = parcels.parcels_of_lines(line_ids=line_by_shipment.values())
    rows = []
    for shipment_id, line_id in line_by_shipment.items():
        parcel = found.get(line_id)
        if parcel is not None and parcel.labelled and parcel.tracking_number:
            rows.append(Shipment(pk=shipment_id, updated_at=now, **_tracking_of(parcel)))
    fields = ["carrier", "tracking_number", "tracking_url", "updated_at"]
    Shipment.objects.bulk_update(rows, fields, batch_size=1000)
    return len(rows)


@transaction.atomic
def batch_complete(*, batch: Batch, actor: Actor, now: datetime | None = None) -> Batch:
    """Close a dispatched batch once every shipment is delivered, returned or lost."""
    batch = _locked_batch(batch)
    if not can_proceed(batch.complete):
        raise _conflict(batch, _("completed"))
    still = batch.shipments.exclude(status__in=Shipment.CLOSED).count()
    if still:
        raise ConflictError(
            ngettext(
                "%(count)s shipment is not delivered, returned or lost yet: "
                "close it before completing the batch.",
                "%(count)s shipments are not delivered, returned or lost yet: "
                "close them before completing the batch.",
                still,
            )
            % {"count": still},
            {"open_shipments": still},
        )
    batch.complete()
    batch.completed_at = now or clock.now()
    _save(batch)
    return batch


@transaction.atomic
def batch_cancel(*, batch: Batch, actor: Actor, now: datetime | None = None) -> Batch:
    """No shipment run this cycle: the next batch opens and covers its cycles too."""
    now = now or clock.now()
    batch = _locked_batch(batch)
    if not can_proceed(batch.cancel):
        raise _conflict(batch, _("canceled"))
    original_cutoff = batch.cutoff_at
    carried = list(BatchLine.objects.filter(batch=batch).values_list("pk", flat=True))
    batch.cancel()
    _save(batch)
    target = batch_open_next(organization=batch.organization, now=max(now, original_cutoff))
    if carried:
        BatchLine.objects.filter(pk__in=carried).update(batch=target, updated_at=now)
    return batch


# --- Shipments --------------------------------------------------------------------------

_SHIPMENT_ACTIONS = {
    "ship": (_("shipped"), "shipped_at"),
    "deliver": (_("delivered"), "delivered_at"),
    "mark_returned": (_("marked returned"), None),
    "mark_lost": (_("marked lost"), None),
}


@transaction.atomic
def shipment_transition(
    *,
    shipment: Shipment,
    action: str,
    actor: Actor,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Shipment:
    """Move a shipment on (`ship`, `deliver`, `mark_returned`, `mark_lost`).

    The batch completes by itself when its last open shipment is closed.
    """
    if action not in _SHIPMENT_ACTIONS:
        raise ApplicationError(_("Unknown action."), {"fields": {"action": [action]}})
    label, stamp = _SHIPMENT_ACTIONS[action]
    now = now or clock.now()
    shipment = lock_row(Shipment.objects, shipment)
    if not can_proceed(getattr(shipment, action)):
        raise _conflict(shipment, label)
    getattr(shipment, action)()
    if action == "ship" and not shipment.tracking_number:
        # Shipped without the tracking copied at dispatch: the box's parcel's, if labelled.
        parcel = parcels.parcels_of_lines(line_ids=[shipment.line_id]).get(shipment.line_id)
        if parcel is not None and parcel.labelled and parcel.tracking_number:
            for name, value in _tracking_of(parcel).items():
                setattr(shipment, name, value)
    when = at or now
    if stamp:
        setattr(shipment, stamp, when)
    if action == "deliver" and shipment.shipped_at is None:
        shipment.shipped_at = when
    if shipment.is_closed:
        shipment.closed_at = now
    _save(shipment)
    if (
        shipment.is_closed
        and not shipment.batch.shipments.exclude(status__in=Shipment.CLOSED).exists()
    ):
        batch = _locked_batch(shipment.batch_id)
        if batch.status == Batch.Status.DISPATCHED:
            batch.complete()
            batch.completed_at = now
            _save(batch)
    return shipment


@transaction.atomic
def shipment_update(
    *, shipment: Shipment, actor: Actor, carrier: str | None = None, tracking_number=None
) -> Shipment:
    """Set the carrier or tracking number (a closed shipment keeps them)."""
    shipment = lock_row(Shipment.objects, shipment)
    if shipment.is_closed:
        raise _conflict(shipment, _("changed"))
    changed = []
    for name, value in (("carrier", carrier), ("tracking_number", tracking_number)):
        if value is not None and getattr(shipment, name) != value.strip()[:100]:
            setattr(shipment, name, value.strip()[:100])
            changed.append(name)
    if "tracking_number" in changed and shipment.tracking_url:
        # The carrier's link was the old number's page.
        shipment.tracking_url = ""
        changed.append("tracking_url")
    if changed:
        Shipment.objects.filter(pk=shipment.pk).update(
            **{name: getattr(shipment, name) for name in changed}, updated_at=clock.now()
        )
    return shipment


#: What a corrected line address must hold (the others may be empty).
ADDRESS_REQUIRED = ("name", "line1", "postcode", "city", "country")


@transaction.atomic
def line_address_correct(*, line: BatchLine, address: dict, actor: Actor) -> BatchLine:
    """Correct the address a box of a locked batch ships to (a carrier refused it).

    Only the line's frozen copy changes: the customer's own address is staff's
    to edit too, but the next boxes read it at their cut-off.
    """
    line = _locked_line(line)
    if line.batch.status != Batch.Status.LOCKED or line.status not in (
        LineStatus.READY,
        LineStatus.PREPARED,
    ):
        raise _conflict(line, _("readdressed"))
    cleaned = {name: str(address.get(name) or "").strip() for name in Address.CONTENT_FIELDS}
    missing = [name for name in ADDRESS_REQUIRED if not cleaned[name]]
    if missing:
        raise ApplicationError(
            _("Invalid input."),
            {"fields": {name: [_("This field is required.")] for name in missing}},
        )
    cleaned["country"] = cleaned["country"].upper()
    BatchLine.objects.filter(pk=line.pk).update(address=cleaned, updated_at=clock.now())
    line.address = cleaned
    logger.info("line %s readdressed by %s", line.pk, actor)
    return line
