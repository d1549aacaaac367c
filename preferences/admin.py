"""The back office's preference pages: the organization's schema, and a subscription's values.

`PreferenceFieldAdmin` edits an organization's fields with their choices
inline; once the page is valid, `preferences.services.preference_field_save`
writes them (and refuses what the rules below forbid). Nothing is deleted: a
field or a choice is retired (`active=False`), so stored values and the history
keep their labels; a field's key and type, and a choice's value, cannot change
once they exist.

On a subscription's page (the back office, `dashboard.admin`, adds the two
inlines below), `SubscriptionPreferenceInline` shows a form generated from the
organization's active fields and the batch a change made now applies to, and
`PreferenceChangeInline` the history. The form only collects what staff changed;
once the whole page is valid, its saving calls
`preferences.services.preferences_update` once
(`crm.fsm_admin.ServicePageAdminMixin`): a refusal is shown next to its field
and nothing on the page is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils import formats
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.actors import Actor
from core.cycles import Cycle
from core.errors import ApplicationError
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, add_formset_errors, form_errors
from crm.tenant_admin import (
    ReadOnlyTenantInline,
    TenantAdmin,
    TenantAdminMixin,
    TenantStackedInline,
    TenantTabularInline,
    labels_text,
    when,
)
from preferences import selectors, services, validation
from preferences.forms import (
    CHOICE_TYPES,
    LABEL_FIELDS,
    PreferenceChoiceForm,
    PreferenceChoiceFormSet,
    PreferenceFieldForm,
    SubscriptionPreferencesForm,
)
from preferences.models import (
    PreferenceChange,
    PreferenceChoice,
    PreferenceField,
    SubscriptionPreference,
)
from subscriptions.models import Subscription

RETIRE_NOTE = gettext_lazy(
    "Preferences and their choices are never deleted: uncheck “active” to retire one. A retired "
    "preference or choice can no longer be chosen, but the values already stored and the "
    "history keep showing it."
)


# --- The organization's schema ---------------------------------------------------------


def _readable_labels(model_admin, request, obj, fields) -> list[str]:
    """Read-only, the inputs per language give way to one line listing the labels."""
    fields = list(fields)
    if model_admin.has_change_permission(request, obj) or not set(LABEL_FIELDS) & set(fields):
        return fields
    position = next(i for i, name in enumerate(fields) if name in LABEL_FIELDS)
    rest = [name for name in fields if name not in LABEL_FIELDS]
    return [*rest[:position], "translated_labels", *rest[position:]]


class PreferenceChoiceInline(TenantTabularInline):
    model = PreferenceChoice
    form = PreferenceChoiceForm
    formset = PreferenceChoiceFormSet
    fields = ["value", "label", *LABEL_FIELDS, "active", "position"]
    readonly_fields = ["translated_labels"]  # shown instead of the inputs to viewers
    ordering = ["position", "id"]
    extra = 1
    can_delete = False

    def has_delete_permission(self, request, obj=None):
        return False  # retired (active unchecked), never deleted: see RETIRE_NOTE

    def get_fields(self, request, obj=None):
        return _readable_labels(self, request, obj, super().get_fields(request, obj))

    def get_extra(self, request, obj=None, **kwargs):
        # No empty choice row under a field that takes no choices.
        return 0 if obj is not None and obj.type not in CHOICE_TYPES else 1

    @admin.display(description=gettext_lazy("translated labels"))
    def translated_labels(self, obj):
        return labels_text(obj)

    def get_queryset(self, request):
        # A choice has no organization column: it is its field's.
        queryset = super(TenantAdminMixin, self).get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(field__organization_id__in=self._allowed(request, "view"))


def _schema_refusal(form, choices, error: ApplicationError) -> PageRefused:
    """A refusal of the schema's service: next to the field's inputs, the rest above the choices."""
    fields = error.extra.get("fields") or {}
    rest = [m for name, found in fields.items() if name not in form.fields for m in found]
    if not form_errors(form, error) and not rest:
        rest.append(error.message)
    if "default" in fields:
        rest.append(_("Nothing was saved: the default does not fit (see above)."))
    add_formset_errors(choices, rest)
    return PageRefused()


@admin.register(PreferenceField)
class PreferenceFieldAdmin(ServicePageAdminMixin, TenantAdmin):
    form = PreferenceFieldForm
    inlines = [PreferenceChoiceInline]
    list_display = ["label_column", "key", "type", "required", "active", "position"]
    list_filter = ["type", "active"]
    search_fields = ["key", "label"]
    ordering = ["position", "id"]
    readonly_fields = ["translated_labels"]  # shown instead of the inputs to viewers
    fieldsets = [
        (
            None,
            {
                "fields": ["organization", "key", "label", *LABEL_FIELDS, "type", "help_text"],
                "description": RETIRE_NOTE,
            },
        ),
        (
            gettext_lazy("Value"),
            {
                "fields": ["required", "default", "min_value", "max_value", "max_length"],
                "description": gettext_lazy(
                    "Minimum and maximum apply to a whole number only, the maximum length to "
                    "text only."
                ),
            },
        ),
        (gettext_lazy("Display"), {"fields": ["active", "position"]}),
    ]

    @admin.display(description=gettext_lazy("label"), ordering="label")
    def label_column(self, obj):
        return obj.display_label

    @admin.display(description=gettext_lazy("translated labels"))
    def translated_labels(self, obj):
        return labels_text(obj)

    def get_fieldsets(self, request, obj=None):
        return [
            (name, {**options, "fields": _readable_labels(self, request, obj, options["fields"])})
            for name, options in super().get_fieldsets(request, obj)
        ]

    def has_delete_permission(self, request, obj=None):
        return False  # retired (active unchecked), never deleted: see RETIRE_NOTE

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # Stored values, the API and the shop's mapping name the key and rely on the type.
            fields += [name for name in ("key", "type") if name not in fields]
        return fields

    def save_page(self, request, form, formsets, change):
        """The field and its choices, written by the service once the page is valid."""
        choices = next(f for f in formsets if isinstance(f, PreferenceChoiceFormSet))
        submitted = choices.submitted_choices()
        # What Django's history of the row says was saved.
        choices.new_objects = [choice for choice in submitted if choice.pk is None]
        choices.changed_objects = [
            (f.instance, f.changed_data) for f in choices.initial_forms if f.has_changed()
        ]
        choices.deleted_objects = []
        try:
            return services.preference_field_save(
                field=form.instance, choices=submitted, default=form.cleaned_data.get("default")
            )
        except ApplicationError as error:
            raise _schema_refusal(form, choices, error) from error


# --- A subscription's page ---------------------------------------------------------------


@dataclass
class PreferencePanel:
    """What a subscription's page shows of its preferences, read once per request."""

    subscription: Subscription
    fields: list[PreferenceField]
    schema: list[validation.FieldSpec]
    current: dict[str, Any]
    cycle: Cycle | None
    editable: bool = False
    specs: dict[str, validation.FieldSpec] = field(default_factory=dict)

    def __post_init__(self):
        self.specs = {spec.key: spec for spec in self.schema}

    @property
    def ended(self) -> bool:
        return self.subscription.status in services.ENDED

    @property
    def has_fields(self) -> bool:
        return any(spec.active for spec in self.schema)

    @property
    def notice(self) -> str:
        if self.ended:
            return _("The subscription has ended: its preferences can no longer change.")
        if self.cycle is None:
            return ""
        tz = self.subscription.organization.tzinfo
        return _("A change made now applies to the batch of %(date)s (cut-off %(cutoff)s).") % {
            "date": formats.date_format(self.cycle.cycle_date, "DATE_FORMAT"),
            "cutoff": when(self.cycle.cutoff_at, tz),
        }

    @property
    def readonly_rows(self) -> list[selectors.PreferenceRow]:
        """Every value when the form is not offered; else those of retired fields."""
        rows = selectors.preference_rows(self.schema, self.current)
        return rows if not self.editable else [row for row in rows if row.retired]


def preference_panel(request, subscription: Subscription) -> PreferencePanel:
    panels = request.__dict__.setdefault("_preference_panels", {})
    if subscription.pk not in panels:
        fields = list(selectors.preference_field_list(organization=subscription.organization))
        schema = [row.spec() for row in fields]
        ended = subscription.status in services.ENDED
        panels[subscription.pk] = PreferencePanel(
            subscription=subscription,
            fields=fields,
            schema=schema,
            current=selectors.preferences_current(subscription=subscription, schema=schema),
            cycle=None if ended else selectors.change_cycle(subscription=subscription),
        )
    return panels[subscription.pk]


def describe_change(change: PreferenceChange, specs: dict[str, validation.FieldSpec]) -> list[str]:
    """ "Grind: Filter → Espresso" per changed field, with the labels of the schema."""
    lines = []
    for key in change.changed_keys:
        spec = specs.get(key)
        old = selectors.display_value(spec, change.old_values.get(key)) or "—"
        new = selectors.display_value(spec, change.new_values.get(key)) or "—"
        lines.append(
            _("%(field)s: %(old)s → %(new)s")
            % {"field": spec.label if spec else key, "old": old, "new": new}
        )
    return lines


def _refusal(formset, form, error: ApplicationError) -> PageRefused:
    """Put the service's field errors next to their inputs; the rest above the form."""
    fields = error.extra.get("fields") or {}
    rest = []
    for key, messages_ in fields.items():
        if key in form.fields:
            for message in messages_:
                form.add_error(key, message)
        else:
            rest.extend(messages_)
    if not fields:
        rest.append(error.message)
    add_formset_errors(
        formset, rest or [_("The preferences were not saved: see the errors below.")]
    )
    return PageRefused()


class SubscriptionPreferenceFormSet(BaseInlineFormSet):
    """The preferences form; saving it hands its changes to the service (see the module)."""

    panel: PreferencePanel | None = None  # set per request by the inline's get_formset
    request = None

    def __init__(self, *args, **kwargs):
        self.change: PreferenceChange | None = None
        #: What the service did, said once the whole page is saved.
        self.saved_messages: list[str] = []
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "panel": self.panel}

    def save(self, commit=True):
        """Written by the service; a refusal goes on the form (`PageRefused`)."""
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        if self.panel is None or not self.panel.editable or not self.forms:
            return []
        form = self.forms[0]
        values = form.changed_values()
        if not values:
            return []
        try:
            _preference, self.change = services.preferences_update(
                subscription=self.instance,
                values=values,
                actor=Actor.for_user(self.request.user),
                source=PreferenceChange.Source.ADMIN,
                partial=True,
            )
        except ApplicationError as error:
            raise _refusal(self, form, error) from error
        self.saved_messages.append(
            _("Preferences changed; the change applies to the batch of %(date)s.")
            % {"date": formats.date_format(self.change.effective_cycle, "DATE_FORMAT")}
        )
        return []


class SubscriptionPreferenceInline(TenantStackedInline):
    """The form generated from the organization's fields (see the module's docstring)."""

    model = SubscriptionPreference
    form = SubscriptionPreferencesForm
    formset = SubscriptionPreferenceFormSet
    template = "admin/preferences/subscriptionpreference/preferences_inline.html"
    verbose_name = gettext_lazy("preferences")
    verbose_name_plural = gettext_lazy("preferences")
    extra = 1
    can_delete = False

    def _editable(self, request, obj) -> bool:
        # An ended subscription's preferences are history (the service refuses them).
        return (
            isinstance(obj, Subscription)
            and obj.status not in services.ENDED
            and self._has(request, "change", obj)
        )

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["fields"] = []  # the inputs are the organization's fields, added by the form
        formset = super().get_formset(request, obj, **kwargs)
        if obj is None:
            return formset
        panel = preference_panel(request, obj)
        panel.editable = self._editable(request, obj)
        return type(formset.__name__, (formset,), {"panel": panel, "request": request})


class PreferenceChangeInline(ReadOnlyTenantInline):
    """The history of a subscription's preferences, newest first; read-only."""

    model = PreferenceChange
    verbose_name_plural = gettext_lazy("preference history")
    fields = ["changed_at", "actor", "source", "what_changed", "effective_cycle"]
    readonly_fields = fields
    ordering = ["-changed_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user", "actor_api_key")

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            # The labels for every row, read once (the schema keeps retired fields).
            self._specs = preference_panel(request, obj).specs
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=gettext_lazy("actor"))
    def actor(self, change):
        return change.actor_display()

    @admin.display(description=gettext_lazy("what changed"))
    def what_changed(self, change):
        lines = describe_change(change, getattr(self, "_specs", {}))
        return format_html_join(
            mark_safe("<br>"), '<span class="preference-change">{}</span>', ((x,) for x in lines)
        )
