"""Reads for the portal's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import clock
from core.cycles import cycle_at
from crm.models import Customer, Organization
from subscriptions.models import BillingPeriod, Subscription
from subscriptions.selectors import items_prefetch


@dataclass(frozen=True)
class Reach:
    """Which box a change made now reaches, and which one after the cut-off."""

    cutoff_at: datetime  # in the organization's time zone
    this_box: date  # the day the box of the cycle still open ships
    next_box: date  # the day the following one ships

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


def customer_subscriptions(*, organization: Organization, customer: Customer) -> QuerySet:
    """The signed-in customer's own subscriptions, newest first, with their items (two
    queries). Every portal page finds a subscription through this: another customer's or
    organization's id is then simply not found."""
    return (
        Subscription.objects.filter(organization=organization, customer=customer)
        .select_related("organization", "customer", "shipping_address")
        .prefetch_related(items_prefetch())
        .order_by("-started_at", "-id")
    )


def change_reach(*, organization: Organization, now: datetime | None = None) -> Reach:
    """The cut-off rule as a subscriber reads it (core.cycles, answered by fulfillment)."""
    now = now or clock.now()
    first = cycle_at(organization=organization, at=now)
    after = cycle_at(organization=organization, at=first.cutoff_at + timedelta(microseconds=1))
    return Reach(
        cutoff_at=first.cutoff_at.astimezone(organization.tzinfo),
        # A box is named by the day it ships, as the subscriber's pages name it (a cycle's
        # own date is its cut-off's, which means nothing to them).
        this_box=first.ships_on,
        next_box=after.ships_on,
    )


def box_ships_on(*, organization: Organization, cutoff_at: datetime) -> date:
    """The day the box of the cycle whose cut-off is `cutoff_at` ships (a change's
    `effective_cutoff_at` names its box this way)."""
    return cycle_at(organization=organization, at=cutoff_at - timedelta(microseconds=1)).ships_on


# --- Words every portal page uses ------------------------------------------------------


def money(amount: Decimal, currency: str) -> str:
    """12,50 EUR in French, 12.50 EUR in English."""
    return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} {currency}"


def frequency_label(period: str, interval: int) -> str:
    """ "Every week", "Every 2 weeks", "Every month"... in the active language."""
    if period == BillingPeriod.WEEK:
        text = ngettext("Every week", "Every %(n)s weeks", interval)
    elif period == BillingPeriod.MONTH:
        text = ngettext("Every month", "Every %(n)s months", interval)
    elif period == BillingPeriod.YEAR:
        text = ngettext("Every year", "Every %(n)s years", interval)
    else:
        text = ngettext("Every day", "Every %(n)s days", interval)
    return text % {"n": interval}
