"""How the fulfillment pages show a box: its preferences, its address; and the
list filters by batch and by preference value."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.db.models import Prefetch
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.admin_display import (
    visible_organizations,
)
from crm.models import Organization
from preferences import validation
from preferences.models import PreferenceChoice, PreferenceField
from preferences.selectors import display_value


def preferences_text(values: dict[str, Any] | None, specs: dict[str, validation.FieldSpec]) -> str:
    """A snapshot's preferences as "Grind: Espresso, Decaf: No" (empty values left out)."""
    values = values or {}
    order = {key: index for index, key in enumerate(specs)}
    parts = []
    for key in sorted(values, key=lambda k: (order.get(k, len(order)), k)):
        value = values[key]
        if validation.is_empty(value):
            continue
        spec = specs.get(key)
        parts.append(f"{spec.label if spec else key}: {display_value(spec, value)}")
    return ", ".join(parts) or "-"


def address_html(address: dict[str, str] | None):
    """A snapshot's address as the lines of a label."""
    if not address:
        return _("No shipping address.")
    lines = [
        address.get("name"),
        address.get("company"),
        address.get("line1"),
        address.get("line2"),
        " ".join(part for part in (address.get("postcode"), address.get("city")) if part),
        address.get("state"),
        address.get("country"),
        address.get("phone"),
    ]
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines if line))


def schemas_for(organization_ids) -> dict[int, dict[str, validation.FieldSpec]]:
    """Each organization's preference fields by key, in order (two queries for all)."""
    fields = (
        PreferenceField.objects.filter(organization_id__in=set(organization_ids))
        .prefetch_related(
            Prefetch("choices", queryset=PreferenceChoice.objects.order_by("position", "id"))
        )
        .order_by("organization_id", "position", "id")
    )
    schemas: dict[int, dict[str, validation.FieldSpec]] = defaultdict(dict)
    for field in fields:
        schemas[field.organization_id][field.key] = field.spec()
    return schemas


class TenantRelatedListFilter(admin.RelatedFieldListFilter):
    """A "by batch" filter naming only the batches of the organizations the user sees."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        visible = visible_organizations(request, model_admin)
        limit = {} if visible is None else {"organization_id__in": visible}
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=limit)


class PreferenceValueListFilter(admin.SimpleListFilter):
    """Lines whose preferences hold a value of a choice or yes/no field ("grind=espresso")."""

    title = gettext_lazy("preference")
    parameter_name = "preference"

    def lookups(self, request, model_admin):
        visible = visible_organizations(request, model_admin)
        organization_ids = (
            visible if visible is not None else Organization.objects.values_list("pk", flat=True)
        )
        self.types: dict[str, str] = {}
        choices: dict[str, str] = {}
        for specs in schemas_for(organization_ids).values():
            for spec in specs.values():
                if spec.type == "choice":
                    values = [(choice.value, choice.label) for choice in spec.choices]
                elif spec.type == "boolean":
                    values = [("true", _("Yes")), ("false", _("No"))]
                else:
                    continue
                self.types.setdefault(spec.key, spec.type)
                for value, label in values:
                    choices.setdefault(f"{spec.key}={value}", f"{spec.label}: {label}")
        return list(choices.items())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        key, sep, raw = self.value().partition("=")
        if not sep or not key:
            return queryset.none()
        value: Any = raw
        if getattr(self, "types", {}).get(key) == "boolean":
            if raw not in ("true", "false"):
                return queryset.none()
            value = raw == "true"
        return queryset.filter(preferences__contains={key: value})
