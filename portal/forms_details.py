"""The subscriber's forms for their preferences and shipping address (portal/views/details.py).

Preferences: one input per active field of the organization's schema, in its order, with
the choice labels the organization wrote (`preferences.forms.preference_form_field`, the
inputs staff get). The form only collects what the subscriber changed;
`preferences.services.preferences_update` decides what is valid, and its messages are put
back on their fields (`add_service_errors`).

Address: the fields of `crm.models.Address` a parcel needs; countries are Address's own
(the product has no list of the countries an organization ships to).
"""

from __future__ import annotations

from typing import Any

from django import forms

from crm.models import Address
from preferences import validation
from preferences.forms import preference_form_field
from preferences.models import PreferenceField


def _stored(spec: validation.FieldSpec, value: Any) -> Any:
    """A cleaned value as the service takes it: None clears; several choices in the schema's
    order."""
    if validation.is_empty(value):
        return None
    if spec.type == validation.MULTI_CHOICE:
        order = {choice.value: position for position, choice in enumerate(spec.choices)}
        return sorted(value, key=lambda item: order.get(item, len(order)))
    return value


def _same(new: Any, old: Any) -> bool:
    if validation.is_empty(new) and validation.is_empty(old):
        return True
    return new == old


class ServiceErrorsMixin:
    def add_service_errors(self, error) -> None:
        """A service's refusal on the inputs it names (`extra.fields`), else above the form."""
        named = (getattr(error, "extra", None) or {}).get("fields") or {}
        placed = False
        for key, messages in named.items():
            if key in self.fields and isinstance(messages, list):
                for message in messages:
                    self.add_error(key, str(message))
                placed = True
        if not placed:
            self.add_error(None, str(error.message))


class PreferencesForm(ServiceErrorsMixin, forms.Form):
    """The organization's preferences for one subscription, starting from its values now."""

    def __init__(
        self,
        *args,
        fields: list[PreferenceField],
        schema: list[validation.FieldSpec],
        current: dict[str, Any],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.specs: dict[str, validation.FieldSpec] = {}
        self.current = current
        for field, spec in zip(fields, schema, strict=True):
            if not spec.active:
                continue
            self.specs[spec.key] = spec
            self.fields[spec.key] = preference_form_field(
                spec, current.get(spec.key), field.help_text
            )

    def changed_values(self) -> dict[str, Any]:
        """{key: new value} of the inputs the subscriber changed (None: cleared)."""
        data = getattr(self, "cleaned_data", None) or {}
        changed = {}
        for key, spec in self.specs.items():
            if key not in data:
                continue
            widget = self.fields[key].widget
            if widget.value_omitted_from_data(self.data, self.files, self.add_prefix(key)):
                continue  # not in what was posted: left as it is (unticked boxes are posted)
            new = _stored(spec, data[key])
            if not _same(new, self.current.get(key)):
                changed[key] = new
        return changed


class AddressForm(ServiceErrorsMixin, forms.ModelForm):
    """Where the subscription's boxes go. Validated by the model's rules (as staff's are)."""

    class Meta:
        model = Address
        fields = list(Address.CONTENT_FIELDS)
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
            "company": forms.TextInput(attrs={"autocomplete": "organization"}),
            "line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "state": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        }

    def content(self) -> dict[str, str]:
        """The address as typed, for the service."""
        return {name: self.cleaned_data.get(name) or "" for name in self.Meta.fields}
