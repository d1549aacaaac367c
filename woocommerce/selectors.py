"""Reads of the WooCommerce sync: shops, their deliveries' health and backlog, mappings.

The receiver's shop is read through woocommerce/shop_cache.py (no query on the hot
path); everything else the back office, the tasks and the metrics read is here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from crm.models import Customer, Organization, Product, Variant
from subscriptions.models import Subscription
from woocommerce.models import (
    QUEUES,
    Resource,
    WebhookDelivery,
    WooCommerceStore,
    WooMapping,
    WooOrder,
)

Status = WebhookDelivery.Status
#: A shop's page lists this many of its latest deliveries.
RECENT_DELIVERIES = 10


# --- Shops ------------------------------------------------------------------------------


def store_get(*, organization: Organization | int, store_id: int) -> WooCommerceStore | None:
    """One shop of the organization (with it), or None: another organization's is unknown."""
    organization_id = getattr(organization, "pk", organization)
    return (
        WooCommerceStore.objects.select_related("organization")
        .filter(pk=store_id, organization_id=organization_id)
        .first()
    )


def store_list_with_health(
    *, stores: QuerySet[WooCommerceStore] | None = None
) -> QuerySet[WooCommerceStore]:
    """Shops with `last_delivery_at`, `failed_count` and `waiting_count`, in the same query."""
    stores = WooCommerceStore.objects.all() if stores is None else stores
    return stores.annotate(
        last_delivery_at=Max("deliveries__received_at"),
        failed_count=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
        waiting_count=Count("deliveries", filter=Q(deliveries__status__in=WebhookDelivery.WAITING)),
    )


def store_list_to_reconcile() -> list[WooCommerceStore]:
    """The active shops with REST credentials (what the hourly reconciliation reads)."""
    return [
        store
        for store in WooCommerceStore.objects.filter(active=True)
        if store.has_rest_credentials  # encrypted columns: compared once decrypted
    ]


@dataclass(frozen=True)
class DeliveryHealth:
    last_received_at: datetime | None
    failed: int
    waiting: int


def store_delivery_health(*, store: WooCommerceStore) -> DeliveryHealth:
    """The shop's last delivery, and how many of its deliveries failed or wait: one query."""
    stats = WebhookDelivery.objects.filter(store=store).aggregate(
        last=Max("received_at"),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        waiting=Count("pk", filter=Q(status__in=WebhookDelivery.WAITING)),
    )
    return DeliveryHealth(stats["last"], stats["failed"], stats["waiting"])


def store_recent_deliveries(
    *, store: WooCommerceStore, limit: int = RECENT_DELIVERIES
) -> QuerySet[WebhookDelivery]:
    """The shop's latest deliveries, newest first, without their bodies."""
    return (
        WebhookDelivery.objects.filter(store=store)
        .only("pk", "topic", "status", "received_at", "error", "reason")
        .order_by("-received_at", "-pk")[:limit]
    )


# --- Deliveries -------------------------------------------------------------------------


def stale_deliveries(now: datetime | None = None) -> QuerySet[WebhookDelivery]:
    """Deliveries the broker lost (`received`) or a worker dropped (`queued`/`processing`)."""
    now = now or timezone.now()
    window = timedelta(seconds=settings.WOOCOMMERCE_STALE_SECONDS)
    received_window = timedelta(seconds=settings.WOOCOMMERCE_RECEIVED_GRACE_SECONDS)
    # A delivery just received is about to be enqueued by its own request.
    return WebhookDelivery.objects.filter(
        Q(status=Status.RECEIVED, updated_at__lt=now - received_window)
        | Q(status__in=[Status.QUEUED, Status.PROCESSING], updated_at__lt=now - window)
    )


@dataclass(frozen=True)
class BacklogRow:
    """Deliveries not applied yet of one shop, queue and status, and the oldest's arrival."""

    store_id: int
    queue: str
    status: str
    count: int
    first_received_at: datetime


def delivery_backlog() -> list[BacklogRow]:
    """Every shop's waiting deliveries by queue and status (the unfinished rows' index only)."""
    rows = (
        WebhookDelivery.objects.filter(status__in=WebhookDelivery.WAITING)
        .values("store_id", "resource", "status")
        .annotate(count=Count("id"), first=Min("received_at"))
        .order_by()
    )
    return [
        BacklogRow(
            row["store_id"],
            QUEUES.get(row["resource"], "default"),
            row["status"],
            row["count"],
            row["first"],
        )
        for row in rows
    ]


# --- Mappings ---------------------------------------------------------------------------


def _labels(resource: str, ids: set[int], organizations: set[int]) -> dict[int, str]:
    """{CRM id: what staff recognize it by} for one resource, in one query."""
    if resource == Resource.CUSTOMER:
        rows = Customer.objects.filter(pk__in=ids, organization_id__in=organizations)
        return dict(rows.values_list("pk", "email"))
    if resource == Resource.PRODUCT:
        rows = Product.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {pk: f"{name} ({sku})" for pk, name, sku in rows.values_list("pk", "name", "sku")}
    if resource == Resource.VARIATION:
        rows = Variant.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {v.pk: f"{v.name} ({v.sku})" for v in rows.select_related("product")}
    if resource == Resource.SUBSCRIPTION:
        rows = Subscription.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {pk: f"#{pk} {email}" for pk, email in rows.values_list("pk", "customer__email")}
    if resource == Resource.ORDER:
        rows = WooOrder.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {
            pk: f"#{number or woo_id}"
            for pk, number, woo_id in rows.values_list("pk", "number", "woo_id")
        }
    return {}


def mappings_with_crm_labels(*, mappings: Iterable[WooMapping]) -> None:
    """Give each mapping `crm_label` (what staff recognize its CRM row by, None if gone) and
    `crm_target` (the id of the row whose page shows it: a variant's product): one query per
    resource, not per row, and only within the mappings' organizations."""
    mappings = list(mappings)
    wanted: dict[str, set[int]] = {}
    organizations: set[int] = set()
    for mapping in mappings:
        if mapping.object_id is not None:
            wanted.setdefault(mapping.resource, set()).add(mapping.object_id)
            organizations.add(mapping.organization_id)
    labels = {resource: _labels(resource, ids, organizations) for resource, ids in wanted.items()}
    products = dict(  # a variant's page is its product's
        Variant.objects.filter(
            pk__in=wanted.get(Resource.VARIATION, ()), organization_id__in=organizations
        ).values_list("pk", "product_id")
    )
    for mapping in mappings:
        mapping.crm_label = labels.get(mapping.resource, {}).get(mapping.object_id)
        mapping.crm_target = (
            products.get(mapping.object_id)
            if mapping.resource == Resource.VARIATION
            else mapping.object_id
        )
