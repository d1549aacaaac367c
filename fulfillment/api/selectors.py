"""Reads the fulfillment API shows: batches with their line counts, lines, shipments,
and the boxes of a batch (live while open, from its lines afterwards).

Every list is scoped to one organization and reads a bounded number of
queries whatever its length. An invalid filter is refused (400), never
silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from crm.models import Organization
from fulfillment.api.filters import BatchFilter, BatchLineFilter, ShipmentFilter
from fulfillment.models import Batch, BatchLine, Shipment
from preferences import validation

PREFERENCE_PARAMETER = "pref."


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(_("Invalid input."), {"fields": fields})


def _filtered(
    filterset_class: type[django_filters.FilterSet],
    filters: Mapping[str, Any] | None,
    queryset: QuerySet,
) -> QuerySet:
    if filters is None:
        return queryset
    filterset = filterset_class(filters, queryset=queryset)
    if not filterset.is_valid():
        raise _invalid({name: list(errors) for name, errors in filterset.errors.items()})
    return filterset.qs


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
    return _filtered(BatchFilter, filters, queryset)


# --- Lines -------------------------------------------------------------------------------


def _preference_value(spec: validation.FieldSpec, raw: str) -> Any:
    """The stored JSON a `pref.<key>=<raw>` parameter stands for; ValueError if none can."""
    if spec.type == validation.BOOLEAN:
        word = raw.strip().lower()
        if word in validation.TRUE_WORDS:
            return True
        if word in validation.FALSE_WORDS:
            return False
        raise ValueError(_("Expected true or false."))
    if spec.type == validation.INTEGER:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(_("Expected a whole number.")) from None
    if spec.type == validation.MULTI_CHOICE:
        return [raw]  # the line's list holds this choice (among others)
    return raw


def preference_filter(
    filters: Mapping[str, Any], schema: list[validation.FieldSpec] | None
) -> Q | None:
    """`pref.<key>=<value>` parameters as one condition on the lines' preference snapshots.

    Several keys must all match; a key repeated matches any of its values; a
    multi-choice matches lines whose list holds the value. A key the
    organization's schema does not know, or a value of the wrong type, is
    refused. `schema` may be None when there is no such parameter.
    """
    names = [name for name in filters if name.startswith(PREFERENCE_PARAMETER)]
    if not names:
        return None
    specs = {spec.key: spec for spec in schema or []}
    condition, errors = Q(), {}
    for name in names:
        key = name[len(PREFERENCE_PARAMETER) :]
        raws = filters.getlist(name) if hasattr(filters, "getlist") else [filters[name]]
        raws = [raw for raw in raws if raw != ""]
        if not raws:
            continue
        spec = specs.get(key)
        if spec is None:
            errors[name] = [_("There is no such preference.")]
            continue
        any_value = Q()
        for raw in raws:
            try:
                any_value |= Q(preferences__contains={key: _preference_value(spec, raw)})
            except ValueError as exc:
                errors.setdefault(name, []).append(str(exc))
        condition &= any_value
    if errors:
        raise _invalid(errors)
    return condition


def has_preference_filter(filters: Mapping[str, Any] | None) -> bool:
    return bool(filters) and any(name.startswith(PREFERENCE_PARAMETER) for name in filters)


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
    queryset = _filtered(BatchLineFilter, filters, queryset)
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
    return _filtered(ShipmentFilter, filters, queryset)
