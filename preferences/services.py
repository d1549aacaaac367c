"""Writes of preferences: an organization's schema (its fields and their choices), and a
subscription's values, every value validated, recorded and dated to its cycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core import clock
from core.actors import Actor
from core.cycles import cycle_at
from core.errors import ApplicationError, ConflictError
from preferences import validation
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
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
    still ahead at `now` (`core.cycles.cycle_at`, answered by fulfillment).
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


# --- An organization's schema ----------------------------------------------------------

CHOICE_TYPES = (validation.CHOICE, validation.MULTI_CHOICE)


def default_from_text(
    field: PreferenceField, choices: Sequence[validation.ChoiceSpec], text: str | None
) -> tuple[Any, str | None]:
    """The default typed for `field` with `choices`, or the reason it does not fit."""
    text = (text or "").strip()
    if not text:
        return None, None
    spec = validation.FieldSpec(
        key=field.key or "default",
        label=field.label,
        type=field.type,
        choices=tuple(choices),
        min_value=field.min_value,
        max_value=field.max_value,
        max_length=field.max_length,
    )
    value, problem = validation.check_value(spec, validation.coerce_text(spec, text))
    if problem is not None:
        return None, error_message(problem)
    return value, None


def _refuse_renames(field: PreferenceField, choices: Sequence[PreferenceChoice]) -> None:
    """Stored values, the API and the shop's mapping name a field's key and type and a
    choice's value: once they exist, they stay."""
    stored = PreferenceField.objects.select_for_update().get(pk=field.pk)
    fields = {
        name: [str(_("This cannot change once the preference exists."))]
        for name in ("key", "type")
        if getattr(field, name) != getattr(stored, name)
    }
    values = dict(PreferenceChoice.objects.filter(field=stored).values_list("pk", "value"))
    if any(c.pk is not None and values.get(c.pk) != c.value for c in choices):
        fields["choices"] = [str(_("A choice's value cannot change once it exists."))]
    if fields:
        message = next(iter(fields.values()))[0]
        raise ConflictError(message, {"fields": fields})


@transaction.atomic
def preference_field_save(
    *,
    field: PreferenceField,
    choices: Sequence[PreferenceChoice],
    default: str | None,
) -> PreferenceField:
    """Create or change an organization's preference field with its choices.

    `field` and `choices` carry the new values (choices already stored keep
    their id); `default` is the default as staff type it, read according to the
    type and checked against the choices as submitted, so a default naming a
    choice added at the same time is accepted. Nothing is deleted here: a field
    or a choice is retired (`active=False`). Refused, nothing is written.
    """
    if field.pk is not None:
        _refuse_renames(field, choices)
    if field.type not in CHOICE_TYPES and any(choice.pk is None for choice in choices):
        message = str(
            _("Only a preference of type “%(one)s” or “%(several)s” has choices.")
            % {
                "one": PreferenceField.Type.CHOICE.label,
                "several": PreferenceField.Type.MULTI_CHOICE.label,
            }
        )
        raise ApplicationError(message, {"fields": {"choices": [message]}})
    specs = [validation.ChoiceSpec(c.value, c.label or "", c.active) for c in choices]
    value, problem = default_from_text(field, specs, default)
    if problem is not None:
        raise ApplicationError(problem, {"fields": {"default": [problem]}})
    field.default = value
    field.save()
    for choice in choices:
        choice.field = field
        choice.save()
    return field
