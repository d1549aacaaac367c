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
from typing import Any

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
    params = [Status.PROCESSING, now, now, [delivery_id], *waiting]
    params.append(settings.WOOCOMMERCE_MAX_ATTEMPTS)

    def run_claim() -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(_claim_many_sql(False), params)
            return cursor.fetchone()

    # The task's first statement is its connection's check (core.connections): sent again
    # after it did commit, it matches no waiting row and the row lock below decides.
    claimed = checked_first(run_claim, what=f"delivery {delivery_id}")
    if claimed:
        _, store_id, resource, event, body = claimed
        return WebhookDelivery(
            pk=delivery_id,
            status=Status.PROCESSING,
            started_at=now,
            store_id=store_id,
            resource=resource,
            event=event,
            body=body,
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
    return _apply(claimed)


def _apply(claimed: WebhookDelivery) -> str | None:
    """Apply a delivery this worker claimed (`claim`), on its own: `process`'s second half."""
    delivery_id = claimed.pk
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
    ended = _unhandled(claimed)
    _close_many([ended], claimed.started_at)
    return ended[1]


def _unhandled(claimed: WebhookDelivery) -> tuple[int, str, reasons.Reason, int | None]:
    """How a claimed delivery of a resource no handler applies ends: (id, status, reason,
    woo id) for `_close_many`."""
    try:
        payload = json.loads(bytes(claimed.body))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return claimed.pk, Status.FAILED, reasons.reason("invalid_json", error=str(exc)), None
    outcome = handlers.Outcome.ignored("no_handler", resource=claimed.resource)
    return claimed.pk, outcome.status, outcome.reason, _woo_id(payload)


def _woo_id(payload: Any) -> int | None:
    woo_id = payload.get("id") if isinstance(payload, dict) else None
    return woo_id if isinstance(woo_id, int) and not isinstance(woo_id, bool) else None


# --- A message of several deliveries (the relay's), in bulk where it can (issue 26) --------

#: What `process_many` gives for a delivery that must be sent again on its own (a
#: transient error): not a status of the delivery, which stays `queued`.
RETRY = "retry"
#: The fewest deliveries of one shop and resource applied as a page: below this, the
#: page's fixed statements cost more than the one-by-one path.
PAGE_MIN = 2


def process_many(
    delivery_ids: list[int], *, top_up: list[str] | None = None
) -> dict[int, str | None]:
    """Apply the deliveries of one message; for each, what `process` would return, or
    `RETRY` when it must be sent again on its own (left `queued`).

    The effect is `process`'s for each delivery, in fewer statements:
    - one UPDATE claims every delivery waiting (the usual case); one it does not claim is
      left alone when it is finished (another message took it, below), else goes through
      `process`, which decides (busy, stale, out of attempts);
    - with `top_up` (the resources of the message's queue), a message of fewer than
      `relay.PER_MESSAGE` deliveries is topped up, in the same UPDATE, with the oldest
      deliveries of those resources waiting in the queue, never attempted and not locked
      by another worker: the further behind a worker is, the fuller its pages, whatever
      the rate the relay's messages were cut at. Their own messages, later, find them
      finished. A delivery with an attempt behind it waits for its own retry (its backoff);
    - the deliveries of resources no handler applies are closed together, in one UPDATE;
    - the deliveries of one shop and resource whose handler applies a page
      (`handlers.apply_page`) are applied as one, in one transaction under their row
      locks, with their bookkeeping: what the page leaves (an entity the CRM already has,
      a second delivery about one entity, a body that is not JSON...) is then applied
      one by one, in the message's order, as `process` applies it. Should the page fail
      (a row inserted meanwhile by another worker, a deadlock, `PageAbandoned`, a bug),
      it is rolled back and all of it is applied one by one: a page never decides less
      than the one-by-one path would.
    Deliveries about different entities may so be applied in another order than the
    message's (a shop's webhooks carry no order between entities anyway, and every
    handler takes them in any order: tests/woocommerce/test_arrival_order.py); those
    about one entity keep theirs (only the first of each entity is in a page, and the
    page is applied first).
    """
    from woocommerce.relay import PER_MESSAGE

    now = timezone.now()
    waiting = (Status.RECEIVED, Status.QUEUED)
    ids = list(delivery_ids)
    more = PER_MESSAGE - len(ids) if top_up else 0
    params: list[Any] = [Status.PROCESSING, now, now, ids]
    if more > 0:
        params += [Status.QUEUED, list(top_up), ids, more]
    params += [*waiting, settings.WOOCOMMERCE_MAX_ATTEMPTS]

    def run_claim() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(_claim_many_sql(more > 0), params)
            return cursor.fetchall()

    rows = {row[0]: row for row in checked_first(run_claim, what=f"{len(ids)} deliveries")}
    extra = sorted(set(rows) - set(ids))  # the top-up, oldest first
    claimed = {  # in the message's order (RETURNING gives the table's), then the top-up
        pk: WebhookDelivery(
            pk=pk,
            status=Status.PROCESSING,
            started_at=now,
            store_id=store_id,
            resource=resource,
            event=event,
            body=body,
        )
        for pk, store_id, resource, event, body in (rows[pk] for pk in [*ids, *extra] if pk in rows)
    }
    left = [pk for pk in ids if pk not in rows]
    if left:  # finished by another message's top-up, or for `process` to decide
        finished = set(
            WebhookDelivery.objects.filter(pk__in=left, status__in=(*FINISHED, Status.FAILED))
            .order_by()
            .values_list("pk", flat=True)
        )
        left = [pk for pk in left if pk not in finished]
    results: dict[int, str | None] = {}
    ended = [_unhandled(d) for d in claimed.values() if d.resource not in handlers.HANDLERS]
    _close_many(ended, now)
    results.update({pk: status for pk, status, _, _ in ended})

    pages: dict[tuple[int, str], list[WebhookDelivery]] = {}
    for delivery in claimed.values():
        if handlers.pages(delivery.resource):
            pages.setdefault((delivery.store_id, delivery.resource), []).append(delivery)
    for page in pages.values():
        if len(page) >= PAGE_MIN:
            results.update(_apply_page(page, now))

    for pk in [*ids, *extra]:
        if pk in results or (pk not in claimed and pk not in left):
            continue
        delivery = claimed.get(pk)
        try:
            results[pk] = _apply(delivery) if delivery is not None else process(pk)
        except (Transient, OperationalError, InterfaceError):
            connection.close_if_unusable_or_obsolete()  # not used again if it failed
            results[pk] = RETRY
    return {pk: results.get(pk) for pk in [*ids, *extra]}


def _apply_page(page: list[WebhookDelivery], started_at) -> dict[int, str | None]:
    """Apply claimed deliveries of one shop and resource as a page (`process_many`); the
    status of each it decided (None: taken over by another worker meanwhile). What it
    leaves, or all of it if the page fails, is for the one-by-one path."""
    ids = [delivery.pk for delivery in page]
    try:
        with transaction.atomic():
            # Under the deliveries' row locks, as `process`: the ones still this claim's.
            locked = {
                d.pk: d
                for d in WebhookDelivery.objects.select_for_update(of=("self",))
                .select_related("store__organization")
                .defer("body", "headers", "traceback")
                .filter(pk__in=ids, status=Status.PROCESSING, started_at=started_at)
                .order_by("pk")
            }
            decided: dict[int, str | None] = {pk: None for pk in ids if pk not in locked}
            if not locked:
                return decided
            store = next(iter(locked.values())).store
            by_event: dict[str, list[tuple[int, Any]]] = {}
            for delivery in page:
                if delivery.pk not in locked:
                    continue
                try:
                    payload = json.loads(bytes(delivery.body))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue  # failed by the one-by-one path, with why
                by_event.setdefault(locked[delivery.pk].event, []).append((delivery.pk, payload))
            ended = []
            for event, deliveries in by_event.items():
                outcomes = handlers.apply_page(
                    store, page[0].resource, event, [payload for _, payload in deliveries]
                )
                for (pk, payload), outcome in zip(deliveries, outcomes, strict=True):
                    if isinstance(outcome, PayloadError):
                        ended.append((pk, Status.FAILED, outcome.reason, _woo_id(payload)))
                    elif outcome is not None:
                        ended.append((pk, outcome.status, outcome.reason, _woo_id(payload)))
            _close_many(ended, started_at)
    except (*TRANSIENT, handlers.PageAbandoned):
        logger.info("deliveries %s: applied one by one", ids, exc_info=True)
        return {}
    except Exception:  # a bug: the one-by-one path records it on the delivery it concerns
        logger.exception("deliveries %s: page failed, applied one by one", ids)
        return {}
    decided.update({pk: status for pk, status, _, _ in ended})
    return decided


@functools.cache
def _claim_many_sql(top_up: bool) -> str:
    """The claim's one statement (`claim`, `process_many`), written once from the model: the
    deliveries of a list of ids waiting with attempts left, and with `top_up` the oldest
    deliveries of some resources waiting in their queue never attempted (read from the
    index of unfinished deliveries, in the order they were queued; `SKIP LOCKED`: never
    one another worker is claiming)."""
    meta, column = WebhookDelivery._meta, _column
    table, status, attempts, pk = (
        f'"{meta.db_table}"',
        column("status"),
        column("attempts"),
        column("id"),
    )
    ids = "%s::bigint[]"
    if top_up:
        ids = (
            f"(%s::bigint[] || ARRAY(SELECT {pk} FROM {table} WHERE {status} = %s "  # noqa: S608
            f"AND {attempts} = 0 AND {column('resource')} = ANY(%s::text[]) "
            f"AND {pk} <> ALL(%s::bigint[]) ORDER BY {column('updated_at')}, {pk} "
            "LIMIT %s FOR UPDATE SKIP LOCKED))"
        )
    # Only the model's own table and column names are interpolated.
    return (
        f"UPDATE {table} SET {status} = %s, {attempts} = {attempts} + 1, "  # noqa: S608
        f"{column('started_at')} = %s, {column('updated_at')} = %s "
        f"WHERE {pk} = ANY({ids}) AND {status} IN (%s, %s) "
        f"AND {attempts} < %s "
        f"RETURNING {pk}, {column('store')}, {column('resource')}, "
        f"{column('event')}, {column('body')}"
    )


def _refuse(delivery_id: int, started_at, woo_id: int | None, reason: reasons.Reason) -> None:
    """A payload that can never be applied: `failed` with why (this claim's only)."""
    _close(delivery_id, started_at, woo_id, reason)


def _close(
    delivery_id: int,
    started_at,
    woo_id: int | None,
    reason: reasons.Reason | None,
    *,
    status: str = Status.FAILED,
) -> None:
    """Record how this claim ended, in one UPDATE that touches this claim only."""
    _close_many([(delivery_id, status, reason, woo_id)], started_at)


def _close_many(
    ended: list[tuple[int, str, reasons.Reason | None, int | None]], started_at
) -> None:
    """Record how these claims ended, (id, status, reason, woo id) each, in one UPDATE that
    touches claims started at `started_at` only (written once: the ORM's build of a
    delivery's UPDATE was a third of an ignored delivery's time)."""
    if not ended:
        return
    now = timezone.now()
    ids, statuses, errors, reasons_json, woo_ids = zip(
        *(
            (pk, status, reasons.english(reason), None if reason is None else json.dumps(reason),
             woo_id)
            for pk, status, reason, woo_id in ended
        ),
        strict=True,
    )  # fmt: skip
    params = [
        now,
        now,
        list(ids),
        list(statuses),
        list(errors),
        list(reasons_json),
        list(woo_ids),
        Status.PROCESSING,
        started_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_close_sql(), params)


@functools.cache
def _close_sql() -> str:
    """`_close_many`'s one statement, written once from the model."""
    meta, column = WebhookDelivery._meta, _column
    # Only the model's own table and column names are interpolated.
    return (
        f'UPDATE "{meta.db_table}" AS d SET {column("status")} = v.status, '  # noqa: S608
        f"{column('error')} = v.error, {column('reason')} = v.reason::jsonb, "
        f"{column('traceback')} = '', {column('woo_id')} = v.woo_id, "
        f"{column('processed_at')} = %s, {column('updated_at')} = %s "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
        "AS v(id, status, error, reason, woo_id) "
        f"WHERE d.{column('id')} = v.id AND d.{column('status')} = %s "
        f"AND d.{column('started_at')} = %s"
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
