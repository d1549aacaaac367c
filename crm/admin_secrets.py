"""Secrets on an admin form (a shop's keys, a carrier account's keys): write-only.

The field is a password input that never renders the stored value; left empty, the stored
secret stays; the help text says whether one is set. The list and page show "set" or "not
set" (`secret_state`), never the secret.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext as _


class SecretFieldsForm(forms.ModelForm):
    """A model form whose `secret_fields` are write-only. After `clean()`, `typed_secrets`
    holds what was typed in each (empty: nothing typed, the stored value kept)."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        adding = self.instance._state.adding
        self._stored = {
            name: ("" if adding else getattr(self.instance, name) or "")
            for name in self.secret_fields
        }
        for name in self.secret_fields:
            self.initial.pop(name, None)
            field = self.fields.get(name)
            if field is None:
                continue
            field.required = False
            field.initial = None
            field.widget = forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password"}
            )
            if adding:
                continue
            state = (
                _("Currently set: leave empty to keep it.")
                if self._stored[name]
                else _("Currently not set.")
            )
            field.help_text = " ".join(text for text in (str(field.help_text), state) if text)

    def clean(self):
        cleaned = super().clean()
        self.typed_secrets = {
            name: cleaned.get(name) or "" for name in self.secret_fields if name in self.fields
        }
        for name, typed in self.typed_secrets.items():
            if not typed:
                cleaned[name] = self._stored[name]
        return cleaned


def secret_state(name: str, label):
    """A read-only column saying whether a secret is set, never what it is."""

    @admin.display(description=label)
    def state(self, obj) -> str:
        return _("set") if getattr(obj, name) else _("not set")

    return state
