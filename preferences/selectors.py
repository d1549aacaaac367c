"""Reads of preferences: the schema, the values now, and the values at any instant.

The values at an instant come from the history (`PreferenceChange.new_values`
of the last change made before it), which is what a batch snapshots at its
cut-off. "Before" is strict: a change made exactly at a cut-off counts for the
next cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from core import clock
from core.cycles import Cycle, cycle_at
from crm.models import Organization
from preferences import validation
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
from subscriptions.models import Subscription


def preference_field_list(
    *, organization: Organization, include_retired: bool = True
) -> QuerySet[PreferenceField]:
    """The organization's fields in order, each with its choices prefetched."""
    fields = PreferenceField.objects.filter(organization=organization)
    choices = PreferenceChoice.objects.order_by("position", "id")
    if not include_retired:
        fields = fields.filter(active=True)
        choices = choices.filter(active=True)
    return fields.prefetch_related(Prefetch("choices", queryset=choices)).order_by("position", "id")


def preference_schema(*, organization: Organization) -> list[validation.FieldSpec]:
    """Every field of the organization, retired ones included (two queries)."""
    return [field.spec() for field in preference_field_list(organization=organization)]


def preferences_current(
    *, subscription: Subscription, schema: list[validation.FieldSpec] | None = None
) -> dict[str, Any]:
    """The subscription's values now, defaults filled in."""
    if schema is None:
        schema = preference_schema(organization=subscription.organization)
    stored = (
        SubscriptionPreference.objects.filter(subscription=subscription)
        .values_list("values", flat=True)
        .first()
    )
    return validation.resolve(schema, stored or {})


def preferences_at(
    *,
    subscription: Subscription,
    at: datetime,
    schema: list[validation.FieldSpec] | None = None,
) -> dict[str, Any]:
    """The values in force at `at`: those written by the last change before it."""
    return preferences_at_many(
        organization=subscription.organization,
        subscription_ids=[subscription.pk],
        at=at,
        schema=schema,
    )[subscription.pk]


def preferences_at_many(
    *,
    organization: Organization,
    subscription_ids: Iterable[int],
    at: datetime,
    schema: list[validation.FieldSpec] | None = None,
) -> dict[int, dict[str, Any]]:
    """`preferences_at` for many subscriptions in one query (plus the schema's two)."""
    ids = list(subscription_ids)
    if schema is None:
        schema = preference_schema(organization=organization)
    latest = (
        PreferenceChange.objects.filter(
            organization=organization, subscription_id__any=ids, changed_at__lt=at
        )
        .order_by("subscription_id", "-changed_at", "-id")
        .distinct("subscription_id")
        .values_list("subscription_id", "new_values")
    )
    stored = dict(latest)
    return {pk: validation.resolve(schema, stored.get(pk, {})) for pk in ids}


def preference_subscription_list(*, organization: Organization) -> QuerySet[Subscription]:
    """The organization's subscriptions, with the organization its schema and calendar read."""
    return Subscription.objects.for_organization(organization).select_related("organization")


def preferences_updated_at(*, subscription: Subscription) -> datetime | None:
    """When its preferences were last written; None if never."""
    return (
        SubscriptionPreference.objects.filter(subscription=subscription)
        .values_list("updated_at", flat=True)
        .first()
    )


def preference_change_list(*, subscription: Subscription) -> QuerySet[PreferenceChange]:
    """The subscription's changes, newest first."""
    return PreferenceChange.objects.filter(
        organization_id=subscription.organization_id, subscription=subscription
    ).select_related("actor_user", "actor_api_key")


def display_value(spec: validation.FieldSpec | None, value: Any) -> str:
    """A value as staff read it, in the active language."""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return validation.display(spec, value)


@dataclass(frozen=True)
class PreferenceRow:
    key: str
    label: str
    value: Any
    display: str
    retired: bool


def preference_rows(
    schema: list[validation.FieldSpec], values: dict[str, Any]
) -> list[PreferenceRow]:
    """Values in the schema's order, for a page; stored keys of deleted fields last."""
    specs = {spec.key: spec for spec in schema}
    rows = []
    for spec in schema:
        if spec.key in values or spec.active:
            value = values.get(spec.key)
            rows.append(
                PreferenceRow(
                    spec.key, spec.label, value, display_value(spec, value), not spec.active
                )
            )
    for key in sorted(values.keys() - specs.keys()):
        rows.append(PreferenceRow(key, key, values[key], display_value(None, values[key]), True))
    return rows


def change_cycle(*, subscription: Subscription, at: datetime | None = None) -> Cycle:
    """The cycle a change made now (or at `at`) first counts for."""
    return cycle_at(organization=subscription.organization, at=at or clock.now())
