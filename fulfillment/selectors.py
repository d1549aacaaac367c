"""Reads of fulfillment: which batch an instant belongs to (the cycle calendar), and the
batches, lines and shipments the API lists.

Every list is scoped to one organization and reads a bounded number of
queries whatever its length. An invalid filter is refused (400), never
silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from core.cycles import Cycle
from crm.api.filters import filtered
from crm.models import Organization
from fulfillment import calendar
from fulfillment.api.filters import (
    BatchFilter,
    BatchLineFilter,
    ShipmentFilter,
    preference_filter,
)
from fulfillment.models import Batch, BatchLine, FulfillmentSettings, Shipment
from preferences import validation


def fulfillment_settings_for(*, organization: Organization) -> FulfillmentSettings:
    """The organization's settings; the defaults (unsaved) if it never set any."""
    settings = FulfillmentSettings.objects.filter(organization=organization).first()
    return settings or FulfillmentSettings(organization=organization)


def cycle_at(*, organization: Organization, at: datetime) -> Cycle:
    """The cycle something done at `at` first counts for.

    Decided by time, not by status: the open batch whose cut-off is still
    ahead; otherwise (its cut-off passed, locked or not) the calendar's next
    cut-off after both `at` and the latest batch.
    """
    batch = (
        Batch.objects.filter(organization=organization, status=Batch.Status.OPEN, cutoff_at__gt=at)
        .order_by("cutoff_at")
        .first()
    )
    if batch is not None:
        return _cycle_of(batch)
    latest = Batch.objects.filter(organization=organization).aggregate(latest=Max("cutoff_at"))
    return calendar_cycle_after(organization=organization, at=at, latest_cutoff=latest["latest"])


def calendar_cycle_after(
    *, organization: Organization, at: datetime, latest_cutoff: datetime | None
) -> Cycle:
    """The calendar's cycle whose cut-off is the next one after both `at` and the latest
    batch's cut-off (`latest_cutoff`, None without a batch): `cycle_at` when no open batch
    has its cut-off ahead (one query, the settings)."""
    settings = fulfillment_settings_for(organization=organization)
    base = max(at, latest_cutoff) if latest_cutoff else at
    cutoff_at = settings.next_cutoff(base)
    cycle_date = calendar.cycle_date(cutoff_at, organization.tzinfo)
    return Cycle(cycle_date, cutoff_at, Batch.ships_on_for(cutoff_at, settings))


def _cycle_of(batch: Batch) -> Cycle:
    return Cycle(
        batch.cycle_date, batch.cutoff_at, batch.ships_on, batch.pk, str(batch.status), batch
    )


def cycle_finder(*, organization: Organization, first: datetime) -> Callable[[datetime], Cycle]:
    """A function giving the cycle a subscription cycle starting at an instant ships in.

    A batch holds the cycles starting in `[starts_at, cutoff_at)` (fulfillment.snapshots);
    past the last batch, the calendar's next cut-off after the instant closes it. Two
    queries, whatever the number of calls.
    """
    batches = list(
        Batch.objects.filter(organization=organization, cutoff_at__gt=first)
        .exclude(status=Batch.Status.CANCELED)
        .order_by("cutoff_at")
    )
    settings = fulfillment_settings_for(organization=organization)
    tz = organization.tzinfo
    last = batches[-1].cutoff_at if batches else None

    def find(at: datetime) -> Cycle:
        for batch in batches:
            if batch.starts_at <= at < batch.cutoff_at:
                return _cycle_of(batch)
        cutoff = calendar.next_cutoff(
            max(at, last) if last and at < last else at,
            weekday=settings.cutoff_weekday,
            at=settings.cutoff_time,
            tz=tz,
        )
        cycle_date = calendar.cycle_date(cutoff, tz)
        return Cycle(cycle_date, cutoff, cycle_date + timedelta(days=settings.shipping_offset_days))

    return find


def locked_cycles(
    *, organization_id: int, subscription_id: int, cycles: Iterable[int]
) -> dict[int, date]:
    """The subscription's cycles among `cycles` a batch line holds, with its batch's date."""
    return dict(
        BatchLine.objects.filter(
            organization_id=organization_id, subscription_id=subscription_id, cycle__in=cycles
        )
        .exclude(status=BatchLine.Status.ROLLED)
        .values_list("cycle", "batch__cycle_date")
    )


class DeliveryCalendar:
    """The implementation of `core.cycles.DeliveryCalendar` (installed by the app's ready())."""

    cycle_at = staticmethod(cycle_at)
    cycle_finder = staticmethod(cycle_finder)
    locked_cycles = staticmethod(locked_cycles)


def batch_open(*, organization: Organization) -> Batch | None:
    return Batch.objects.filter(organization=organization, status=Batch.Status.OPEN).first()


# --- What the API lists ------------------------------------------------------------


# --- Batches ---------------------------------------------------------------------------


def line_count_name(status: str) -> str:
    return f"lines_{status}"


def batch_list(
    *, organization: Organization, filters: Mapping[str, Any] | None = None
) -> QuerySet[Batch]:
    """The organization's batches, latest cut-off first, each annotated with its number of
    lines per status (`lines_<status>`): one query for the whole page."""
    counts = {
        line_count_name(status): Count("lines", filter=Q(lines__status=status))
        for status in BatchLine.Status.values
    }
    queryset = (
        Batch.objects.for_organization(organization)
        .select_related("organization")
        .annotate(**counts)
        .order_by("-cutoff_at", "-id")
    )
    return filtered(BatchFilter, filters, queryset)


# --- Lines -------------------------------------------------------------------------------


def batch_line_list(
    *,
    organization: Organization,
    batch: Batch | None = None,
    filters: Mapping[str, Any] | None = None,
    schema: list[validation.FieldSpec] | None = None,
) -> QuerySet[BatchLine]:
    """The organization's lines (of `batch` if given) in order, with their customer and charge.

    `filters`: `status`, `product` (see `BatchLineFilter`) and `pref.<key>`
    (see `preference_filter`, which needs the organization's `schema`).
    """
    queryset = (
        BatchLine.objects.for_organization(organization)
        .select_related("customer", "charge")
        .order_by("id")
    )
    if batch is not None:
        queryset = queryset.filter(batch=batch)
    if filters is None:
        return queryset
    queryset = filtered(BatchLineFilter, filters, queryset)
    condition = preference_filter(filters, schema)
    return queryset if condition is None else queryset.filter(condition)


# --- Shipments ---------------------------------------------------------------------------


def shipment_list(
    *, organization: Organization, filters: Mapping[str, Any] | None = None
) -> QuerySet[Shipment]:
    """The organization's shipments, newest first, with their customer."""
    queryset = (
        Shipment.objects.for_organization(organization)
        .select_related("customer")
        .order_by("-created_at", "-id")
    )
    return filtered(ShipmentFilter, filters, queryset)
