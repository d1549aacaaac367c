"""Reads of after-sales cases: overdue lists, a case's timeline."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from core import clock
from crm.models import Organization
from returns.models import ReturnNote, ReturnRequest


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
