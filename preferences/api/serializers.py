"""Explicit input and output serializers of the preferences API.

A subscription's values are written as a plain JSON object of preference key
to value (`{"grind": "espresso", "decaf": true}`); the organization's schema,
not a serializer, decides what is valid (`preferences.services`), so there is
no input serializer for them.
"""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.actors import ActorKind
from preferences.models import PreferenceChange, PreferenceChoice, PreferenceField


def _one_of(choices) -> str:
    return ", ".join(str(value) for value, _label in choices)


# --- The schema ----------------------------------------------------------------


class PreferenceFieldQuerySerializer(serializers.Serializer):
    include_retired = serializers.BooleanField(
        default=False,
        help_text=_("Also list retired preferences and choices (their `active` is false)."),
    )


class PreferenceChoiceSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="display_label", help_text=_("In the request's language (Accept-Language).")
    )
    labels = serializers.DictField(
        child=serializers.CharField(), help_text=_("The label per language code.")
    )

    class Meta:
        model = PreferenceChoice
        fields = ["value", "label", "labels", "active"]
        read_only_fields = fields


class PreferenceFieldSerializer(serializers.ModelSerializer):
    label = serializers.CharField(
        source="display_label", help_text=_("In the request's language (Accept-Language).")
    )
    labels = serializers.DictField(
        child=serializers.CharField(), help_text=_("The label per language code.")
    )
    default = serializers.JSONField(
        allow_null=True, help_text=_("The value used while a subscription has none.")
    )
    choices = PreferenceChoiceSerializer(
        many=True, help_text=_("For `choice` and `multi_choice` preferences; empty otherwise.")
    )

    class Meta:
        model = PreferenceField
        fields = [
            "key",
            "label",
            "labels",
            "type",
            "required",
            "default",
            "help_text",
            "min_value",
            "max_value",
            "max_length",
            "active",
            "choices",
        ]
        read_only_fields = fields


# --- A subscription's preferences -----------------------------------------------


class PreferenceChangeActorSerializer(serializers.Serializer):
    # A plain string, not an enum: the same choices are already the schema's
    # `ActorKindEnum` (of `actor_kind`), and a second name for them is a warning.
    kind = serializers.CharField(
        source="actor_kind",
        help_text=format_lazy(_("One of: {choices}."), choices=_one_of(ActorKind.choices)),
    )
    label = serializers.CharField(source="actor_label", help_text=_("Who, by name."))


class PreferenceChangeSerializer(serializers.ModelSerializer):
    # A plain string: a `source` enum here would rename the subscriptions' `SourceEnum`.
    source = serializers.CharField(
        help_text=format_lazy(
            _("Where the change was made, one of: {choices}."),
            choices=_one_of(PreferenceChange.Source.choices),
        )
    )
    actor = PreferenceChangeActorSerializer(source="*")
    old_values = serializers.DictField(child=serializers.JSONField(), help_text=_("Before."))
    new_values = serializers.DictField(child=serializers.JSONField(), help_text=_("After."))
    changed_keys = serializers.ListField(
        child=serializers.CharField(), help_text=_("The keys whose value changed.")
    )
    effective_cycle = serializers.DateField(
        help_text=_("The cycle (cut-off date) the change first counts for.")
    )
    effective_cutoff_at = serializers.DateTimeField(help_text=_("That cycle's cut-off."))

    class Meta:
        model = PreferenceChange
        fields = [
            "id",
            "changed_at",
            "source",
            "actor",
            "old_values",
            "new_values",
            "changed_keys",
            "effective_cycle",
            "effective_cutoff_at",
        ]
        read_only_fields = fields


class PreferenceRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField(help_text=_("In the request's language (Accept-Language)."))
    value = serializers.JSONField(allow_null=True)
    display = serializers.CharField(help_text=_("The value as a person reads it."))
    retired = serializers.BooleanField(
        help_text=_("The preference is retired (or no longer exists): read-only.")
    )


class PreferenceCycleSerializer(serializers.Serializer):
    cycle_date = serializers.DateField()
    cutoff_at = serializers.DateTimeField()
    ships_on = serializers.DateField()
    batch = serializers.IntegerField(
        source="batch.pk",
        allow_null=True,
        help_text=_("The batch's id, or null while the calendar has not opened it yet."),
    )


class SubscriptionPreferencesSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(help_text=_("The subscription's id."))
    values = serializers.DictField(
        child=serializers.JSONField(),
        help_text=_("Preference key to value, defaults filled in."),
    )
    display = PreferenceRowSerializer(
        many=True, help_text=_("The values in the schema's order, as a person reads them.")
    )
    applies_to = PreferenceCycleSerializer(
        help_text=_("The cycle a change made now counts for: its cut-off is still ahead.")
    )
    updated_at = serializers.DateTimeField(
        allow_null=True, help_text=_("Last written; null if never.")
    )


class SubscriptionPreferencesUpdateSerializer(SubscriptionPreferencesSerializer):
    change = PreferenceChangeSerializer(
        allow_null=True, help_text=_("The change this request made; null if nothing changed.")
    )
