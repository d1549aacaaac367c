"""The admin's preference forms: the schema an organization edits, and a subscription's values.

Schema: a field's and a choice's translated labels are one text input per
language of `settings.LANGUAGES`, packed into `labels`; the default is typed as
text; `preferences.services.preference_field_save` reads it according to the
field's type and checks it against the choices submitted with it, so a default
naming a choice added in the same submission is accepted and one that fits no
choice is refused with nothing saved.

Values: `SubscriptionPreferencesForm` has one input per active field of the
organization, the widget chosen by its type. It only collects what staff
changed; `preferences.services.preferences_update` decides what is valid.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.forms.models import BaseInlineFormSet
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from preferences import validation
from preferences.models import PreferenceChoice, PreferenceField, SubscriptionPreference

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]
LABEL_FIELDS = [f"label_{code}" for code in LANGUAGE_CODES]
CHOICE_TYPES = (validation.CHOICE, validation.MULTI_CHOICE)


# --- Translated labels ---------------------------------------------------------------


def _label_in(language: str) -> str:
    return gettext("Label (%(language)s)") % {"language": gettext(language)}


def with_language_labels(form_class):
    """Add a "Label (<language>)" input per language of `settings.LANGUAGES` to a form.

    Added after the class is built (the languages are settings, not code) to
    both `declared_fields`, which the admin's `modelform_factory` inherits,
    and `base_fields`.
    """
    for code, name in settings.LANGUAGES:
        for fields in (form_class.declared_fields, form_class.base_fields):
            fields[f"label_{code}"] = forms.CharField(
                label=lazy(_label_in, str)(str(name)),
                required=False,
                max_length=100,
                help_text=_("Leave empty to show the label above in this language."),
            )
    return form_class


class TranslatedLabelsMixin:
    """The `label_<code>` inputs start from, and are packed into, the instance's `labels`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = self.instance.labels or {}
        for code in LANGUAGE_CODES:
            self.initial.setdefault(f"label_{code}", labels.get(code, ""))

    def _post_clean(self):
        # Before the model's own checks, which then see the labels as saved.
        if hasattr(self, "cleaned_data"):
            labels = {
                code: text
                for code, text in (self.instance.labels or {}).items()
                if code not in LANGUAGE_CODES  # a language no longer offered is kept as it was
            }
            for code in LANGUAGE_CODES:
                text = (self.cleaned_data.get(f"label_{code}") or "").strip()
                if text:
                    labels[code] = text
            self.instance.labels = labels
        super()._post_clean()


# --- The schema ---------------------------------------------------------------------


def default_as_text(value: Any) -> str:
    """A stored default as staff type it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@with_language_labels
class PreferenceFieldForm(TranslatedLabelsMixin, forms.ModelForm):
    # Typed as text; `preferences.services.preference_field_save` reads it according
    # to the type and checks it against the submitted choices.
    default = forms.CharField(
        label=_("Default"),
        required=False,
        max_length=500,
        help_text=_(
            "Used when a subscription has no value. One choice: its value or label; several "
            "choices: values separated by commas; yes / no: yes or no; whole number: a "
            "number; text: the text. Leave empty for no default."
        ),
    )

    class Meta:
        model = PreferenceField
        fields = [
            "organization",
            "key",
            "label",
            "type",
            "help_text",
            "required",
            "default",
            "min_value",
            "max_value",
            "max_length",
            "active",
            "position",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["default"] = default_as_text(self.instance.default)


@with_language_labels
class PreferenceChoiceForm(TranslatedLabelsMixin, forms.ModelForm):
    class Meta:
        model = PreferenceChoice
        fields = ["value", "label", "active", "position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "value" in self.fields:
            # Stored values and the history refer to it.
            self.fields["value"].disabled = True


class PreferenceChoiceFormSet(BaseInlineFormSet):
    """A field's choices: validated here, saved with the field by its service."""

    def submitted_choices(self) -> list[PreferenceChoice]:
        """The choices as posted (new ones unsaved), those left empty left out."""
        return [
            form.instance
            for form in self.forms
            if (getattr(form, "cleaned_data", None) or {}).get("value")
        ]


# --- A subscription's values ----------------------------------------------------------


class AnyChoiceField(forms.ChoiceField):
    """Posted values are the service's to judge, so its message names a retired choice."""

    def valid_value(self, value):
        return True


class AnyMultipleChoiceField(forms.MultipleChoiceField):
    def valid_value(self, value):
        return True


class YesNoSelect(forms.NullBooleanSelect):
    def __init__(self, attrs=None, *, required: bool = False):
        super().__init__(attrs)
        choices = [("true", _("Yes")), ("false", _("No"))]
        self.choices = choices if required else [("unknown", "—"), *choices]


def _retired(label: str) -> str:
    return gettext("%(label)s (retired)") % {"label": label}


def _options(spec: validation.FieldSpec, held: list[str]) -> list[tuple[str, str]]:
    """The active choices, and the retired (or unknown) ones the subscription holds."""
    options = [(c.value, c.label) for c in spec.choices if c.active]
    for value in held:
        choice = spec.choice(value)
        if choice is None or not choice.active:
            options.append((value, _retired(choice.label if choice else value)))
    return options


def preference_form_field(
    spec: validation.FieldSpec, current: Any, help_text: str = ""
) -> forms.Field:
    """The input for one active field, starting from the subscription's current value."""
    common = {"label": spec.label, "required": False, "help_text": help_text, "initial": current}
    if spec.type == validation.CHOICE:
        held = [current] if isinstance(current, str) and current else []
        return AnyChoiceField(choices=[("", "—"), *_options(spec, held)], **common)
    if spec.type == validation.MULTI_CHOICE:
        held = [v for v in current if isinstance(v, str)] if isinstance(current, list) else []
        return AnyMultipleChoiceField(
            choices=_options(spec, held), widget=forms.CheckboxSelectMultiple, **common
        )
    if spec.type == validation.BOOLEAN:
        return forms.NullBooleanField(widget=YesNoSelect(required=spec.required), **common)
    if spec.type == validation.INTEGER:
        attrs = {}
        if spec.min_value is not None:
            attrs["min"] = spec.min_value
        if spec.max_value is not None:
            attrs["max"] = spec.max_value
        # No range validator here: the service's message says what is allowed.
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
    attrs = {"maxlength": spec.max_length} if spec.max_length is not None else {}
    return forms.CharField(widget=forms.TextInput(attrs=attrs), **common)


def _stored(spec: validation.FieldSpec, value: Any) -> Any:
    """A cleaned form value as the service takes it; None clears the field."""
    if validation.is_empty(value):
        return None
    if spec.type == validation.MULTI_CHOICE:
        order = {choice.value: position for position, choice in enumerate(spec.choices)}
        return sorted(value, key=lambda item: order.get(item, len(order)))
    return value


def _same(spec: validation.FieldSpec, new: Any, old: Any) -> bool:
    if validation.is_empty(new) and validation.is_empty(old):
        return True
    if spec.type == validation.MULTI_CHOICE and isinstance(new, list) and isinstance(old, list):
        return sorted(new) == sorted(old)  # the checkboxes' order is the schema's
    return new == old


class SubscriptionPreferencesForm(forms.ModelForm):
    """One input per active field of the organization (`panel` gives them and the values).

    The form writes nothing itself (no model validation, no save): the
    formset hands `changed_values()` to `preferences.services.preferences_update`.
    """

    class Meta:
        model = SubscriptionPreference
        fields = []

    def __init__(self, *args, panel=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.specs: dict[str, validation.FieldSpec] = {}
        self.current: dict[str, Any] = {}
        self.required_keys: set[str] = set()
        if panel is None:
            return
        self.current = panel.current
        for field, spec in zip(panel.fields, panel.schema, strict=True):
            if not spec.active:
                continue
            self.specs[spec.key] = spec
            self.fields[spec.key] = preference_form_field(
                spec, panel.current.get(spec.key), field.help_text
            )
            if spec.required:
                self.required_keys.add(spec.key)

    def _post_clean(self):
        pass  # the values are the service's to validate and write

    def changed_values(self) -> dict[str, Any]:
        """{key: new value} of the inputs staff changed (None: cleared)."""
        data = getattr(self, "cleaned_data", None) or {}
        changed = {}
        for key, spec in self.specs.items():
            if key not in data:
                continue
            widget = self.fields[key].widget
            if widget.value_omitted_from_data(self.data, self.files, self.add_prefix(key)):
                continue  # not on the page that was posted: left as it is
            new = _stored(spec, data[key])
            if not _same(spec, new, self.current.get(key)):
                changed[key] = new
        return changed
