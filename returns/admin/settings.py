"""The after-sales settings' pages: the organization's rules and its reasons, chosen by its
administrators; everyone may read them."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from crm.admin_display import person
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, show_refusal
from crm.models import Organization
from crm.tenant_admin import (
    ADMINS_DECIDE,
    TenantAdmin,
    labels_text,
    organization_roles,
)
from preferences.forms import LABEL_FIELDS, TranslatedLabelsMixin, with_language_labels
from returns import services
from returns.models import ReturnConfig, ReturnReason

# --- Settings and reasons ---------------------------------------------------------------


class ReturnConfigForm(forms.ModelForm):
    class Meta:
        model = ReturnConfig
        fields = ["organization", "window_days", "service_level_days", "default_assignee"]


@admin.register(ReturnConfig)
class ReturnConfigAdmin(ServicePageAdminMixin, TenantAdmin):
    """An organization's after-sales rules: its administrators choose (`return_config_update`
    writes them)."""

    form = ReturnConfigForm
    required_roles = ADMINS_DECIDE
    list_display = ["organization", "window_days", "service_level_days", "default_assignee_column"]
    fields = [
        "organization",
        "window_days",
        "service_level_days",
        "default_assignee",
        "overdue_list_sent_on",
    ]
    readonly_fields = ["overdue_list_sent_on"]

    def has_delete_permission(self, request, obj=None):
        # Without its row an organization would get the defaults back at the next case.
        return False

    def changelist_view(self, request, extra_context=None):
        services.return_configs_ensure(organization_ids=organization_roles(request))
        return super().changelist_view(request, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        field = form_class.base_fields.get("default_assignee")
        if field is not None:
            if obj is not None:
                organizations = [obj.organization_id]
            elif request.user.is_superuser:
                organizations = Organization.objects.values_list("pk", flat=True)
            else:
                organizations = self._allowed(request, "add")
            field.queryset = services.assignable_users(organization_ids=organizations)
            field.label_from_instance = person
        return form_class

    def save_page(self, request, form, formsets, change):
        data = form.cleaned_data
        try:
            # Created with the default reasons, as an organization's first case would.
            return services.return_config_update(
                organization=data.get("organization") or form.instance.organization,
                window_days=data["window_days"],
                service_level_days=data["service_level_days"],
                default_assignee=data.get("default_assignee"),
            )
        except ApplicationError as error:
            show_refusal(form, error)
            raise PageRefused from error

    @admin.display(description=gettext_lazy("default assignee"))
    def default_assignee_column(self, config):
        return person(config.default_assignee) if config.default_assignee_id else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "default_assignee")


@with_language_labels
class ReturnReasonForm(TranslatedLabelsMixin, forms.ModelForm):
    class Meta:
        model = ReturnReason
        fields = ["organization", "code", "label", "active", "position"]


@admin.register(ReturnReason)
class ReturnReasonAdmin(ServicePageAdminMixin, TenantAdmin):
    """The reasons a case gives. Retired (active unchecked), never deleted: past cases keep them."""

    form = ReturnReasonForm
    required_roles = ADMINS_DECIDE
    list_display = ["label_column", "code", "translated_labels", "active", "position"]
    list_display_links = ["label_column"]
    list_editable = ["active", "position"]
    list_filter = ["active"]
    search_fields = ["code", "label"]
    ordering = ["organization", "position", "id"]
    readonly_fields = ["translated_labels"]  # shown instead of the inputs to viewers
    fieldsets = [
        (
            None,
            {
                "fields": ["organization", "code", "label", *LABEL_FIELDS, "active", "position"],
                "description": gettext_lazy(
                    "Reasons are never deleted: uncheck “active” to retire one. A retired "
                    "reason can no longer be chosen for a new case; the cases that gave it "
                    "keep showing it."
                ),
            },
        ),
    ]

    def changelist_view(self, request, extra_context=None):
        services.return_configs_ensure(organization_ids=organization_roles(request))
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_page(self, request, form, formsets, change):
        try:
            return self._save_reason(form)
        except ApplicationError as error:
            show_refusal(form, error)
            raise PageRefused from error

    def save_model(self, request, obj, form, change):
        # The list's editable columns (active, order): the same service.
        self._save_reason(form)

    @staticmethod
    def _save_reason(form) -> ReturnReason:
        """The reason's page or list row, written by `return_reason_save`."""
        reason = form.instance if form.instance.pk is not None else None
        values = {
            name: form.cleaned_data[name]
            for name in services.REASON_FIELDS
            if name in form.cleaned_data
        }
        if any(name in form.fields for name in LABEL_FIELDS):
            values["labels"] = form.instance.labels  # packed by TranslatedLabelsMixin
        return services.return_reason_save(
            organization=reason.organization if reason else form.cleaned_data["organization"],
            reason=reason,
            **values,
        )

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fieldsets
        # Read-only, the inputs per language give way to one line listing the labels.
        fields = [name for name in self.fieldsets[0][1]["fields"] if name not in LABEL_FIELDS]
        fields.insert(fields.index("label") + 1, "translated_labels")
        return [(None, {**self.fieldsets[0][1], "fields": fields})]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "code" not in fields:
            fields.append("code")  # the API and past cases name it
        return fields

    @admin.display(description=gettext_lazy("label"), ordering="label")
    def label_column(self, reason):
        return reason.display_label

    @admin.display(description=gettext_lazy("translated labels"))
    def translated_labels(self, reason):
        return labels_text(reason)
