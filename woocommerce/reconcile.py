"""Reconciliation: pull from the shop's REST API what the webhooks may have missed.

Each resource is listed oldest change first and every item goes through the
same handlers as a webhook with the event `reconciled`: an item already
applied at the same modification time is skipped, so a second run over an
unchanged shop changes nothing. Products, orders and subscriptions are asked
only for what changed since the last run (`modified_after`, minus a small
overlap for clock skew), read by keyset (see `pages`); the customers endpoint
has no such filter (WooCommerce issue #41371), so every customer is listed and
the unchanged ones are skipped. `full=True` lists everything: the first import
of a live shop. A page of customers, orders or subscriptions is applied in bulk
(`apply_page`): the first import costs a handful of statements per page, not per item
(products are still applied one by one). docs/woocommerce.md has the whole story.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Product, Variant
from subscriptions.models import Subscription, SubscriptionItem
from woocommerce import client, handlers, payloads
from woocommerce.handlers.base import PageAbandoned
from woocommerce.models import Resource, WooCommerceStore, WooMapping
from woocommerce.payloads import PayloadError

logger = logging.getLogger(__name__)

# (REST endpoint, resource); customers and products first so that
# subscriptions and orders find them mapped, orders before subscriptions so that
# an on-hold subscription's latest renewal is known when it is first applied
# (any order converges; this one writes no transient status in the history).
ENDPOINTS = (
    ("customers", "customer"),
    ("products", "product"),
    ("orders", "order"),
    ("subscriptions", "subscription"),
)
ENDPOINT_OF = {resource: endpoint for endpoint, resource in ENDPOINTS}
MODIFIED_AFTER = frozenset({"products", "subscriptions", "orders"})
PER_PAGE = 100
ENDED = (Subscription.Status.CANCELED, Subscription.Status.EXPIRED)
OVERLAP = timedelta(minutes=5)
# A page applied in bulk that meets these (a row a webhook inserted meanwhile) is applied
# again one by one, each item in its own transaction.
TRANSIENT = (IntegrityError, OperationalError, PageAbandoned)


class ShopError(Exception):
    """The shop did not answer as expected (network error, HTTP error, not JSON)."""


SECRET_FIELDS = ("webhook_secret", "previous_webhook_secret", "consumer_key", "consumer_secret")
REDACTED = "•••"


def redact(text: str, store: WooCommerceStore) -> str:
    """`text` without the shop's secrets, as they could appear in it (e.g. in a URL).

    Over plain HTTP the client signs with OAuth 1.0a and puts the consumer key
    in the address, which a network error repeats: every message about a shop
    goes through this before it is logged or shown.
    """
    for name in SECRET_FIELDS:
        secret = getattr(store, name, "") or ""
        if len(secret) < 4:  # too short to be told apart from ordinary text
            continue
        for spelling in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(spelling, REDACTED)
    return text


@contextmanager
def _redacted(store: WooCommerceStore):
    try:
        yield
    except ShopError as exc:
        raise ShopError(redact(str(exc), store)) from None


@dataclass
class Report:
    store: str
    since: datetime | None
    counts: Counter = field(default_factory=Counter)  # "<resource> <outcome>" -> n
    errors: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # for staff: what a retirement left

    def summary(self) -> str:
        parts = [f"{key}: {n}" for key, n in sorted(self.counts.items())]
        text = f"{self.store}: " + (", ".join(parts) or _("nothing to do"))
        return "\n".join([text, *self.review])


def api_for(store: WooCommerceStore):
    if not store.has_rest_credentials:
        raise ShopError(_("%(store)s: no REST API consumer key and secret") % {"store": store})
    return client.api(store.base_url, store.consumer_key, store.consumer_secret)


def _get(api, endpoint: str, params: dict[str, Any] | None = None):
    try:
        response = api.get(endpoint, params=params or {})
    except requests.RequestException as exc:
        # Never the exception's text: it repeats the URL (with the key, over HTTP).
        raise ShopError(f"GET {endpoint}: {client.describe_error(exc)}") from exc
    return response


def _json(response, endpoint: str) -> Any:
    if response.status_code != 200:
        # The status and WooCommerce's error code, never the shop's body.
        raise ShopError(f"GET {endpoint}: {client.describe_answer(response)}")
    try:
        return response.json()
    except ValueError as exc:
        raise ShopError(f"GET {endpoint}: the answer is not JSON") from exc


def _fetch(api, endpoint: str, params: dict[str, Any]) -> tuple[list, int]:
    response = _get(api, endpoint, params)
    items = _json(response, endpoint)
    if not isinstance(items, list):
        raise ShopError(f"GET {endpoint}: expected a list")
    try:
        total = int(response.headers.get("X-WP-TotalPages") or 1)
    except ValueError:
        total = 1
    return items, total


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _modified(item: Any) -> datetime | None:
    try:
        return payloads.gmt(item.get("date_modified_gmt")) if isinstance(item, dict) else None
    except PayloadError:
        return None


def pages(api, endpoint: str, since: datetime | None):
    """Yield (new items, request number, estimated requests) for `endpoint`.

    Products, subscriptions and orders are read oldest change first by
    *keyset*: after each full page the next request asks again from page 1
    for what changed after the page's last change (minus a second, the
    resolution of the dates). Offset pages would skip an item whenever one
    already read changes meanwhile and moves to the end; this way an item is
    at worst read twice, and the copy already seen is left out. A page whose
    items all changed within one second is followed by offset instead.
    Customers (no `modified_after`) are read by id, `role=all`: subscribers
    do not have the default `customer` role.
    """
    if endpoint not in MODIFIED_AFTER:
        params = {"per_page": PER_PAGE, "role": "all", "orderby": "id", "order": "asc"}
        page = 1
        while True:
            items, total = _fetch(api, endpoint, {**params, "page": page})
            yield items, page, max(total, page)
            if page >= total or len(items) < PER_PAGE:
                return
            page += 1
    cursor = since - OVERLAP if since is not None else None
    seen: set[tuple[Any, Any]] = set()
    page, request, estimate = 1, 0, None
    while True:
        params: dict[str, Any] = {
            "per_page": PER_PAGE,
            "orderby": "modified",
            "order": "asc",
            "page": page,
        }
        if cursor is not None:
            params["modified_after"] = _gmt(cursor)
            params["dates_are_gmt"] = "true"
        items, total = _fetch(api, endpoint, params)
        request += 1
        estimate = total if estimate is None else estimate
        keys = [(_id(i), _modified(i)) for i in items]
        fresh = [item for item, key in zip(items, keys, strict=True) if key not in seen]
        seen.update(keys)
        yield fresh, request, max(estimate, request)
        if len(items) < PER_PAGE:
            return
        last = _modified(items[-1])
        next_cursor = last - timedelta(seconds=1) if last else None
        if next_cursor is None or (cursor is not None and next_cursor <= cursor):
            page += 1
        else:
            cursor, page = next_cursor, 1


def apply_item(store: WooCommerceStore, resource: str, item: Any, event: str = "reconciled"):
    """Apply one pulled item in its own transaction; a bad item is reported, not fatal."""
    try:
        with transaction.atomic():
            return handlers.apply(store, resource, event, item).status
    except PayloadError as exc:
        logger.warning("%s %s: %s", store, resource, exc)
        return f"failed: {exc}"


def apply_page(
    store: WooCommerceStore, resource: str, items: list[Any], event: str = "reconciled"
) -> list[str]:
    """Apply a page of pulled items; each one's outcome as `apply_item` gives it.

    A resource whose handler has `upsert_page` (customers, orders, subscriptions) applies what it
    can in bulk, in one transaction with a bounded number of statements (issue 26), and
    leaves the rest to `apply_item`, in page order; should the bulk transaction fail (a row
    inserted meanwhile by a webhook, or `PageAbandoned`), the whole page is applied one by
    one.
    """
    results: list[Any] = [None] * len(items)
    if handlers.pages(resource) and items:
        try:
            with transaction.atomic():
                results = handlers.apply_page(store, resource, event, items)
        except TRANSIENT:
            logger.warning("%s %s: page applied one by one", store, resource, exc_info=True)
            results = [None] * len(items)
    outcomes = []
    for item, result in zip(items, results, strict=True):
        if result is None:
            outcomes.append(apply_item(store, resource, item, event))
        elif isinstance(result, PayloadError):
            logger.warning("%s %s: %s", store, resource, result)
            outcomes.append(f"failed: {result}")
        else:
            outcomes.append(result.status)
    return outcomes


def _try_lock(store: WooCommerceStore) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [0x57C0, store.pk])
        return cursor.fetchone()[0]


def _unlock(store: WooCommerceStore) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [0x57C0, store.pk])


def reconcile(
    store: WooCommerceStore,
    *,
    since: datetime | None = None,
    full: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Pull and apply what changed since `since` (default: the last run); `full`: everything.

    `progress(resource, page, total_pages)` is called after each page. The
    shop's `last_reconciled_at` moves to this run's start only when every
    resource was listed completely. One run per shop at a time (an advisory
    lock); a second one returns at once with an error in its report.
    """
    started = timezone.now()
    since = None if full else (since or store.last_reconciled_at)
    report = Report(store=str(store), since=since)
    if not _try_lock(store):
        report.errors.append(_("a reconciliation of this shop is already running"))
        return report
    variable: set[int] = set()  # variable products read in this run
    try:
        api = api_for(store)
        for endpoint, resource in ENDPOINTS:
            for items, page, total in pages(api, endpoint, since):
                for item in items:
                    if resource == "product" and _is_variable(item):
                        variable.add(item["id"])
                for item, outcome in zip(items, apply_page(store, resource, items), strict=True):
                    if outcome.startswith("failed"):
                        report.errors.append(f"{resource} {_id(item)}: {outcome}")
                        outcome = "failed"
                    report.counts[f"{resource} {outcome}"] += 1
                if progress:
                    progress(resource, page, total)
            if resource == "product":
                variations(store, api, report, seen=variable)
        WooCommerceStore.objects.filter(pk=store.pk).update(last_reconciled_at=started)
        store.last_reconciled_at = started
    except ShopError as exc:
        report.errors.append(redact(str(exc), store))
    finally:
        _unlock(store)
    return report


def variable_products(store: WooCommerceStore, seen: set[int]) -> list[int]:
    """The WooCommerce ids of the shop's variable products: those read in this run, and
    those whose variants are mapped (a variation's change or deletion moves nothing in
    the products list), leaving out products deleted in the shop or never applied."""
    variant_products = Variant.objects.filter(
        organization_id=store.organization_id,
        pk__in=WooMapping.objects.filter(store=store, resource=Resource.VARIATION).values(
            "object_id"
        ),
    ).values("product_id")
    known = WooMapping.objects.filter(
        store=store, resource=Resource.PRODUCT, object_id__in=variant_products
    ).values_list("woo_id", flat=True)
    applied = set(  # a parent whose own payload failed has no product to hold variants
        WooMapping.objects.filter(
            store=store,
            resource=Resource.PRODUCT,
            woo_id__in=seen | set(known),
            object_id__isnull=False,
            deleted_upstream_at__isnull=True,
        ).values_list("woo_id", flat=True)
    )
    return sorted(applied)


def variations(store: WooCommerceStore, api, report: Report, *, seen: set[int]) -> None:
    """Read every variation of every variable product (`GET /products/{id}/variations`,
    every page), apply each, and retire the variants of variations no longer listed.

    The whole list is read each run: a variation has no `modified_after` of its own in
    the products list, and a deleted one sends no webhook. A product the shop no longer
    has (404) is left to the product's own deletion; a list not read to the end retires
    nothing."""
    for parent in variable_products(store, seen):
        endpoint = f"products/{parent}/variations"
        listed: list[int] = []
        page = 1
        while True:
            response = _get(api, endpoint, {"per_page": PER_PAGE, "page": page})
            if response.status_code == 404:
                listed = None
                break
            items = _json(response, endpoint)
            if not isinstance(items, list):
                raise ShopError(f"GET {endpoint}: expected a list")
            for item in items:
                if not isinstance(item, dict):
                    continue
                listed.append(item.get("id"))
                outcome = apply_item(
                    store, "product", {**item, "type": "variation", "parent_id": parent}
                )
                if outcome.startswith("failed"):
                    report.errors.append(f"variation {item.get('id')}: {outcome}")
                    outcome = "failed"
                report.counts[f"variation {outcome}"] += 1
            try:
                total = int(response.headers.get("X-WP-TotalPages") or 1)
            except ValueError:
                total = 1
            if page >= total or len(items) < PER_PAGE:
                break
            page += 1
        if listed is None:
            continue
        _retire(store, report, parent, [i for i in listed if isinstance(i, int)])


def _retire(store: WooCommerceStore, report: Report, parent: int, listed: list[int]) -> None:
    from woocommerce.handlers import base, product

    with transaction.atomic():
        mapping = base.lock_mapping(store, Resource.PRODUCT, parent)
        item = Product.objects.filter(
            pk=mapping.object_id, organization_id=store.organization_id
        ).first()
        if item is None:
            return
        retired = product.retire_unlisted(store, item, listed, None)
    if not retired:
        return
    report.counts["variation retired"] += retired
    for sku, subscription_id in (
        SubscriptionItem.objects.filter(
            variant__product=item,
            variant__active=False,
        )
        .exclude(subscription__status__in=ENDED)
        .order_by("subscription_id")
        .values_list("variant__sku", "subscription_id")
    ):
        report.review.append(
            _("Subscription %(subscription)s keeps the retired variant %(sku)s: review its items.")
            % {"subscription": subscription_id, "sku": sku}
        )


def _is_variable(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "variable"
        and isinstance(item.get("id"), int)
    )


def _id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def refetch(store: WooCommerceStore, resource: str, woo_id: int) -> str:
    """Fetch one entity again (after a body that held only its id); gone means deleted."""
    endpoint = ENDPOINT_OF[resource]
    with _redacted(store):
        response = _get(api_for(store), f"{endpoint}/{woo_id}")
        if response.status_code == 404:
            with transaction.atomic():
                return handlers.HANDLERS[resource].delete(store, woo_id).status
        item = _json(response, endpoint)
    return apply_item(store, resource, item)


def test_connection(store: WooCommerceStore) -> str:
    """Ask the shop for one subscription; how many it has (`X-WP-Total`), or "?"."""
    with _redacted(store):
        response = _get(api_for(store), "subscriptions", {"per_page": 1})
        _json(response, "subscriptions")
    return response.headers.get("X-WP-Total", "?")
