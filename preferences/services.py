"""Writes of preferences: every write validated, recorded and dated to its cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core import clock
from core.actors import Actor
from core.errors import ApplicationError, ConflictError
from fulfillment.selectors import cycle_at
from preferences import validation
from preferences.models import PreferenceChange, SubscriptionPreference
from preferences.selectors import preference_schema
from subscriptions.models import Subscription

ENDED = (Subscription.Status.CANCELED, Subscription.Status.EXPIRED)

# `preferences.validation` error codes, in the reader's language.
MESSAGES = {
    "unknown_field": _("There is no such preference."),
    "retired_field": _("This preference is retired and cannot be set any more."),
    "required": _("A value is required."),
    "not_a_choice": _("“%(value)s” is not one of the choices (%(choices)s)."),
    "retired_choice": _("The choice “%(value)s” is retired and cannot be chosen any more."),
    "not_a_list": _("Expected a list of choices."),
    "duplicate_choice": _("“%(value)s” is listed twice."),
    "not_a_string": _("Expected text."),
    "not_a_boolean": _("Expected true or false."),
    "not_an_integer": _("Expected a whole number."),
    "too_small": _("Must be at least %(minimum)s."),
    "too_large": _("Must be at most %(maximum)s."),
    "too_long": _("At most %(max_length)s characters."),
    "not_an_object": _("Preferences must be an object of preference keys to values."),
}


def error_message(error: validation.PreferenceError) -> str:
    return str(MESSAGES[error.code]) % dict(error.params)


def as_application_error(
    errors: validation.PreferenceErrors, schema: list[validation.FieldSpec]
) -> ApplicationError:
    """One error naming each field at fault: `extra.fields[key]` lists its messages."""
    labels = {spec.key: spec.label for spec in schema}
    fields: dict[str, list[str]] = {}
    named = []
    for key, problems in errors.by_key().items():
        fields[key or "non_field_errors"] = [error_message(p) for p in problems]
        if key:
            named.append(f"{labels.get(key, key)} ({key})")
    message = _("Invalid preferences: %(fields)s.") % {"fields": ", ".join(named)}
    if not named:
        message = error_message(errors.errors[0])
    return ApplicationError(str(message), {"fields": fields})


def _locked_preference(subscription: Subscription) -> SubscriptionPreference:
    """The row to write, locked; a new unsaved one for a first write.

    The subscription's row is locked first (the order every service uses), so
    two first writes at once are serialized instead of both inserting.
    """
    Subscription.objects.select_for_update().filter(pk=subscription.pk).first()
    preference = (
        SubscriptionPreference.objects.select_for_update().filter(subscription=subscription).first()
    )
    return preference or SubscriptionPreference(
        organization_id=subscription.organization_id, subscription=subscription
    )


@transaction.atomic
def preferences_update(
    *,
    subscription: Subscription,
    values: Any,
    actor: Actor,
    source: str,
    partial: bool = True,
    shop_values: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[SubscriptionPreference, PreferenceChange | None]:
    """Write `values` over the subscription's preferences (all of them unless `partial`).

    Refuses (nothing written) a value the organization's schema does not
    allow, and any write to an ended subscription. A write that changes
    nothing records nothing. The change counts for the cycle whose cut-off is
    still ahead at `now` (`fulfillment.selectors.cycle_at`).
    """
    if subscription.status in ENDED:
        raise ConflictError(
            str(_("The subscription has ended; its preferences can no longer change.")),
            {"status": subscription.status},
        )
    schema = preference_schema(organization=subscription.organization)
    preference = _locked_preference(subscription)
    current = validation.resolve(schema, preference.values)
    try:
        new = validation.validate(schema, current, values, partial=partial)
    except validation.PreferenceErrors as errors:
        raise as_application_error(errors, schema) from None
    update_fields = []
    if shop_values is not None and shop_values != preference.shop_values:
        preference.shop_values = shop_values
        update_fields.append("shop_values")
    change = None
    if new != current:
        now = now or clock.now()
        cycle = cycle_at(organization=subscription.organization, at=now)
        change = PreferenceChange.objects.create(
            organization_id=subscription.organization_id,
            subscription=subscription,
            old_values=current,
            new_values=new,
            source=source,
            changed_at=now,
            effective_cycle=cycle.cycle_date,
            effective_cutoff_at=cycle.cutoff_at,
            **actor.as_fields(),
        )
        preference.values = new
        update_fields.append("values")
    if preference._state.adding:
        if update_fields:
            preference.save()
    elif update_fields:
        preference.save(update_fields=[*update_fields, "updated_at"])
    return preference, change
