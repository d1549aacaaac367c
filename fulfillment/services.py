"""Writes of the cycle calendar."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Organization
from fulfillment.models import Batch
from fulfillment.selectors import batch_open, cycle_at


def batch_open_next(*, organization: Organization, now: datetime | None = None) -> Batch:
    """The organization's open batch, created for the next cycle if there is none.

    Safe to run twice at once: the database keeps one open batch per organization.
    """
    existing = batch_open(organization=organization)
    if existing is not None:
        return existing
    cycle = cycle_at(organization=organization, at=now or timezone.now())
    try:
        with transaction.atomic():
            return Batch.objects.create(
                organization=organization,
                cycle_date=cycle.cycle_date,
                cutoff_at=cycle.cutoff_at,
                ships_on=cycle.ships_on,
            )
    except IntegrityError:  # another process created it first
        return Batch.objects.get(organization=organization, status=Batch.Status.OPEN)
