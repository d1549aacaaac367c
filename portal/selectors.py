"""Reads for the portal's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import formats
from django.utils.translation import gettext as _

from core import clock
from core.cycles import cycle_at
from crm.models import Organization


@dataclass(frozen=True)
class Reach:
    """Which box a change made now reaches, and which one after the cut-off."""

    cutoff_at: datetime  # in the organization's time zone
    this_box: date
    next_box: date

    def text(self) -> str:
        """ "Changes before Wednesday 9 December, 12:00 reach the box of 10 December; after
        that, the box of 17 December." in the active language."""
        return _(
            "Changes before %(cutoff)s reach the box of %(this)s; after that, the box of %(next)s."
        ) % {
            "cutoff": formats.date_format(self.cutoff_at, "l j F, H:i"),
            "this": formats.date_format(self.this_box, "j F"),
            "next": formats.date_format(self.next_box, "j F"),
        }


def change_reach(*, organization: Organization, now: datetime | None = None) -> Reach:
    """The cut-off rule as a subscriber reads it (core.cycles, answered by fulfillment)."""
    now = now or clock.now()
    first = cycle_at(organization=organization, at=now)
    after = cycle_at(organization=organization, at=first.cutoff_at + timedelta(microseconds=1))
    return Reach(
        cutoff_at=first.cutoff_at.astimezone(organization.tzinfo),
        this_box=first.cycle_date,
        next_box=after.cycle_date,
    )
