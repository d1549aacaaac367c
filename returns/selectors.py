"""Reads of after-sales: the cases (the API's list, filtered), overdue lists, a case's
timeline, and the reasons.

Every list is scoped to one organization and reads a bounded number of
queries whatever its length. An invalid filter is refused (400), never
silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Count, ExpressionWrapper, Prefetch, Q, QuerySet

from core import clock
from crm.api.filters import filtered
from crm.models import Organization
from fulfillment.models import BatchLine, Shipment
from returns.api.filters import ReturnRequestFilter
from returns.models import ReturnNote, ReturnReason, ReturnRequest


def cases_overdue(
    *, organization: Organization | None = None, now: datetime | None = None
) -> QuerySet[ReturnRequest]:
    """Open cases past their due date, the most late first."""
    cases = ReturnRequest.objects.filter(
        status__in=ReturnRequest.OPEN, due_at__lt=now or clock.now()
    )
    if organization is not None:
        cases = cases.filter(organization=organization)
    return cases.select_related("customer", "reason", "assignee").order_by("due_at", "pk")


def case_timeline(*, case: ReturnRequest) -> QuerySet[ReturnNote]:
    """The case's notes and status changes, oldest first, with who wrote each."""
    return case.notes.select_related("actor_user").order_by("created_at", "id")


def shipment_cases(*, shipment: Shipment) -> list[ReturnRequest]:
    """The after-sales cases about a shipment, oldest first, with their reason."""
    return list(
        ReturnRequest.objects.filter(shipment=shipment)
        .select_related("reason")
        .order_by("opened_at", "id")
    )


def case_may_open(*, shipment: Shipment, cases: list[ReturnRequest]) -> bool:
    """Whether a case may be opened about `shipment` (its `cases`): it has left, and none
    of its cases is open. `services.return_open` refuses otherwise."""
    return shipment.status != Shipment.Status.CREATED and not any(case.is_open for case in cases)


def replacement_case(*, line: BatchLine) -> ReturnRequest | None:
    """The case a replacement box was added by; None for any other box."""
    if line.kind != BatchLine.Kind.REPLACEMENT:
        return None
    return ReturnRequest.objects.filter(replacement_line=line).first()


def shipments_with_cases_count(shipments: QuerySet[Shipment]) -> QuerySet[Shipment]:
    """`shipments`, each with `cases_count`: its after-sales cases, counted in the query."""
    return shipments.annotate(cases_count=Count("return_requests"))


# --- What the API lists ------------------------------------------------------------


def return_request_list(
    *,
    organization: Organization,
    filters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> QuerySet[ReturnRequest]:
    """The organization's cases, newest first, with their customer, reason, assignee,
    replacement line and timeline (constant queries).

    Each is annotated with `overdue`: `ReturnRequest.is_overdue(now)` in SQL, so
    that the list can be filtered on it. `filters` are the list's query
    parameters (see `ReturnRequestFilter`).
    """
    overdue = Q(status__in=ReturnRequest.OPEN, due_at__lt=now or clock.now())
    queryset = (
        ReturnRequest.objects.for_organization(organization)
        .select_related("customer", "reason", "assignee", "replacement_line")
        .prefetch_related(
            Prefetch("notes", queryset=ReturnNote.objects.order_by("created_at", "id"))
        )
        .annotate(overdue=ExpressionWrapper(overdue, output_field=BooleanField()))
        .order_by("-opened_at", "-id")
    )
    return filtered(ReturnRequestFilter, filters, queryset)


def return_reason_list(*, organization: Organization) -> QuerySet[ReturnReason]:
    """The organization's active reasons, in their order."""
    reasons = ReturnReason.objects.for_organization(organization).filter(active=True)
    return reasons.order_by("position", "id")
