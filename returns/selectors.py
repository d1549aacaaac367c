"""Reads of after-sales cases: overdue lists, a case's timeline, a shipment's or a box's cases."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, QuerySet
from django.utils import timezone

from crm.models import Organization
from fulfillment.models import BatchLine, Shipment
from returns.models import ReturnNote, ReturnRequest


def cases_overdue(
    *, organization: Organization | None = None, now: datetime | None = None
) -> QuerySet[ReturnRequest]:
    """Open cases past their due date, the most late first."""
    cases = ReturnRequest.objects.filter(
        status__in=ReturnRequest.OPEN, due_at__lt=now or timezone.now()
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
