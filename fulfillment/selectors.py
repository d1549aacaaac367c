"""Reads of the cycle calendar: which batch an instant belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Max

from crm.models import Organization
from fulfillment import calendar
from fulfillment.models import Batch, FulfillmentSettings


@dataclass(frozen=True)
class Cycle:
    """A cycle: its batch if it exists yet, else the cycle the calendar will create."""

    cycle_date: date
    cutoff_at: datetime
    ships_on: date
    batch: Batch | None = None


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
        return Cycle(batch.cycle_date, batch.cutoff_at, batch.ships_on, batch)
    settings = fulfillment_settings_for(organization=organization)
    latest = Batch.objects.filter(organization=organization).aggregate(latest=Max("cutoff_at"))
    base = max(at, latest["latest"]) if latest["latest"] else at
    cutoff_at = settings.next_cutoff(base)
    cycle_date = calendar.cycle_date(cutoff_at, organization.tzinfo)
    return Cycle(cycle_date, cutoff_at, Batch.ships_on_for(cutoff_at, settings))


def batch_open(*, organization: Organization) -> Batch | None:
    return Batch.objects.filter(organization=organization, status=Batch.Status.OPEN).first()
