"""Reads of subscriptions, always scoped to one organization."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from crm.errors import ApplicationError
from crm.models import Organization
from subscriptions.api.filters import SubscriptionFilter
from subscriptions.models import Charge, Subscription, SubscriptionEvent, SubscriptionItem


def subscription_list(
    *, organization: Organization, filters: Mapping[str, Any] | None = None
) -> QuerySet[Subscription]:
    """The organization's subscriptions with their customer and items (constant queries).

    `filters` are the list's query parameters (see `SubscriptionFilter`); an
    invalid one is refused (400) rather than silently ignored.
    """
    queryset = (
        Subscription.objects.for_organization(organization)
        .select_related("customer", "organization")  # its time zone dates a paused one's next
        .prefetch_related(
            Prefetch(
                "items",
                queryset=SubscriptionItem.objects.select_related(
                    "product", "variant__product"
                ).order_by("id"),
            )
        )
    )
    if filters is None:
        return queryset
    filterset = SubscriptionFilter(filters, queryset=queryset)
    if not filterset.is_valid():
        raise ApplicationError(
            _("Invalid input."),
            {"fields": {name: list(errors) for name, errors in filterset.errors.items()}},
        )
    return filterset.qs


def subscription_event_list(*, subscription: Subscription) -> QuerySet[SubscriptionEvent]:
    """Its history, newest first."""
    return SubscriptionEvent.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).order_by("-created_at", "-id")


def subscription_charge_list(*, subscription: Subscription) -> QuerySet[Charge]:
    """One charge per billed cycle, latest cycle first."""
    return Charge.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).order_by("-cycle")
