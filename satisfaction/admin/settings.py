"""The survey settings' page (chosen by each organization's administrators) and the
customers who receive no surveys."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, show_refusal
from crm.tenant_admin import (
    ADMINS_DECIDE,
    TenantAdmin,
    organization_roles,
)
from satisfaction import services
from satisfaction.models import SatisfactionConfig, SurveyOptOut

#: A band's badge: readable on the light and the dark theme alike.
PLACEHOLDER_HELP = gettext_lazy(
    "The texts may hold {first_name} (the customer's first name), {organization} (the "
    "organization's name) and {link} (the survey's link, required in the e-mail text). A "
    "blank text uses the default wording, translated."
)


# --- Settings ---------------------------------------------------------------------------


@admin.register(SatisfactionConfig)
class SatisfactionConfigAdmin(ServicePageAdminMixin, TenantAdmin):
    """An organization's survey rules and texts: its administrators choose
    (`satisfaction_config_update` writes them)."""

    required_roles = ADMINS_DECIDE
    list_display = [
        "organization",
        "enabled",
        "delay_days",
        "cooling_days",
        "expiry_days",
        "own_texts",
    ]
    readonly_fields = ["updated_at"]
    rules = [
        "organization",
        "enabled",
        "delay_days",
        "cooling_days",
        "expiry_days",
        "from_email",
        "updated_at",
    ]

    def has_delete_permission(self, request, obj=None):
        # Without its row the organization's texts and rules would silently go back to the
        # defaults.
        return False

    def changelist_view(self, request, extra_context=None):
        services.satisfaction_configs_ensure(organization_ids=organization_roles(request))
        return super().changelist_view(request, extra_context)

    def save_page(self, request, form, formsets, change):
        data = form.cleaned_data
        try:
            return services.satisfaction_config_update(
                organization=data.get("organization") or form.instance.organization,
                **{name: data[name] for name in services.SETTINGS_FIELDS if name in data},
            )
        except ApplicationError as error:
            show_refusal(form, error)
            raise PageRefused from error

    def get_fieldsets(self, request, obj=None):
        names = dict(settings.LANGUAGES)
        fieldsets: list[tuple[Any, dict[str, Any]]] = [(None, {"fields": self.rules})]
        for code, _name in settings.LANGUAGES:
            fieldsets.append(
                (
                    _("Texts in %(language)s") % {"language": names[code]},
                    {
                        "fields": [f"{kind}_{code}" for kind in SatisfactionConfig.TEXT_FIELDS],
                        "description": PLACEHOLDER_HELP,
                        "classes": ["satisfaction-texts", f"language-{code}"],
                    },
                )
            )
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            # The default question, in each language, where the organization's own would go.
            for code, _name in settings.LANGUAGES:
                field = form_class.base_fields.get(f"question_{code}")
                if field is not None:
                    with translation.override(code):
                        field.widget.attrs["placeholder"] = services.default_question(
                            obj.organization
                        )
        return form_class

    @admin.display(description=gettext_lazy("own texts"))
    def own_texts(self, config):
        """The languages in which the organization wrote texts of its own."""
        names = dict(settings.LANGUAGES)
        written = [
            str(names[code])
            for code, _name in settings.LANGUAGES
            if any(
                getattr(config, f"{kind}_{code}").strip() for kind in SatisfactionConfig.TEXT_FIELDS
            )
        ]
        return ", ".join(written) or _("Default wording")


# --- Opt-outs ------------------------------------------------------------------------------


class SurveyOptOutForm(forms.ModelForm):
    class Meta:
        model = SurveyOptOut
        fields = ["customer"]


@admin.register(SurveyOptOut)
class SurveyOptOutAdmin(TenantAdmin):
    """Customers who receive no surveys: from the link in an e-mail, or added by staff when a
    customer asks on the phone. Deleting one lets the surveys resume."""

    form = SurveyOptOutForm
    list_display = ["customer", "customer_email", "created_at"]
    search_fields = ["customer__email", "customer__first_name", "customer__last_name"]
    autocomplete_fields = ["customer"]
    list_select_related = ["organization", "customer"]

    @admin.display(description=gettext_lazy("e-mail"), ordering="customer__email")
    def customer_email(self, opt_out):
        return opt_out.customer.email

    def get_readonly_fields(self, request, obj=None):
        return ["customer", "created_at"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        # The customer field offers only the organizations the user may add to.
        if not change:
            obj.pk = services.customer_opt_out(customer=form.cleaned_data["customer"]).pk

    def delete_model(self, request, obj):
        services.customers_opt_in(opt_outs=[obj])

    def delete_queryset(self, request, queryset):
        services.customers_opt_in(opt_outs=queryset)
