"""The portal in the back office: each organization's portal settings (its administrators
decide, the others read), and who signed in (sign-in requests and sessions, read only; staff
may sign a customer out everywhere)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, show_refusal
from crm.tenant_admin import (
    ADMINS_DECIDE,
    ReadOnlyAdminMixin,
    TenantAdmin,
    organization_roles,
    when,
)
from portal import services
from portal.models import PortalSession, PortalSettings, SignInRequest


def portal_address(organization) -> str:
    return settings.SITE_URL + reverse("portal:home", kwargs={"organization": organization.slug})


@admin.register(PortalSettings)
class PortalSettingsAdmin(ServicePageAdminMixin, TenantAdmin):
    """One row per organization, made when the list is first opened; its administrators
    change it (`portal_settings_update` writes it), its other members read it."""

    required_roles = ADMINS_DECIDE
    list_display = ["organization", "portal_name", "enabled", "address"]
    readonly_fields = ["address", "updated_at"]
    fieldsets = [
        (gettext_lazy("Access"), {"fields": ["organization", "enabled", "address", "updated_at"]}),
        (gettext_lazy("Look"), {"fields": ["name", "primary_colour", "background_colour"]}),
        (
            gettext_lazy("What subscribers may do"),
            {
                "fields": [
                    "allow_preferences",
                    "allow_address",
                    "allow_skip",
                    "allow_pause",
                    "allow_frequency",
                    "allow_swap",
                    "allow_cancel",
                    "allow_cases",
                    "allow_surveys",
                ]
            },
        ),
        (
            gettext_lazy("Shop link"),
            {
                "fields": ["shop_account_url"],
                "description": gettext_lazy(
                    "Subscriptions the WooCommerce shop manages are paused, cancelled and "
                    "paid for there: the portal links to this page for them."
                ),
            },
        ),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "shop_account_url":
            kwargs["assume_scheme"] = "https"  # "shop.example/my-account/" is an HTTPS page
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request, *args):
        return False  # one row per organization, made with it

    def has_delete_permission(self, request, obj=None):
        return False  # without its row the portal would go back to the defaults

    def changelist_view(self, request, extra_context=None):
        services.portal_settings_ensure_all(organization_ids=organization_roles(request))
        return super().changelist_view(request, extra_context)

    def save_page(self, request, form, formsets, change):
        data = form.cleaned_data
        try:
            return services.portal_settings_update(
                organization=form.instance.organization,
                actor=Actor.for_user(request.user),
                **{name: data[name] for name in services.SETTINGS_FIELDS if name in data},
            )
        except ApplicationError as error:
            show_refusal(form, error)
            raise PageRefused from error

    @admin.display(description=gettext_lazy("portal name"))
    def portal_name(self, portal_settings):
        return portal_settings.display_name

    @admin.display(description=gettext_lazy("portal address"))
    def address(self, portal_settings):
        url = portal_address(portal_settings.organization)
        return format_html('<a href="{}" rel="noopener" target="_blank">{}</a>', url, url)


@admin.register(SignInRequest)
class SignInRequestAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Who asked for a sign-in code (an address no customer has shows no customer). The
    code and the link are never shown: only their hashes are kept, and not shown either."""

    list_display = ["email", "customer", "client", "created_at", "state", "attempts"]
    list_select_related = ["organization", "customer"]
    fields = [
        "organization",
        "email",
        "customer",
        "client",
        "created_at",
        "expires_at",
        "used_at",
        "attempts",
    ]
    search_fields = ["email", "client"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    @admin.display(description=gettext_lazy("state"))
    def state(self, sign_in):
        if sign_in.used_at:
            return _("Used %(when)s") % {"when": when(sign_in.used_at)}
        if sign_in.attempts >= services.SIGN_IN_ATTEMPTS:
            return _("Too many wrong codes")
        if sign_in.customer_id is None:
            return _("No customer with this address: nothing sent")
        return _("Sent")


@admin.register(PortalSession)
class PortalSessionAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """The devices a customer signed in on. "Sign out everywhere" ends every session of the
    customers chosen (a lost phone, a shared computer)."""

    list_display = ["customer", "created_at", "last_seen_at", "expires_at", "ended_at"]
    list_select_related = ["organization", "customer"]
    fields = ["organization", "customer", "created_at", "last_seen_at", "expires_at", "ended_at"]
    search_fields = ["customer__email", "customer__first_name", "customer__last_name"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    ordering = ["-last_seen_at"]
    actions = ["sign_out_everywhere"]

    def has_sign_out_permission(self, request):
        return self._has(request, "change")

    @admin.action(
        description=gettext_lazy("Sign these customers out everywhere"),
        permissions=["sign_out"],
    )
    def sign_out_everywhere(self, request, queryset):
        if not request.user.is_superuser:
            queryset = queryset.filter(organization_id__in=self._allowed(request, "change"))
        customers = {session.customer for session in queryset.select_related("customer")}
        ended = sum(services.portal_sessions_end_all(customer=c) for c in customers)
        self.message_user(
            request,
            ngettext("%(count)d session ended.", "%(count)d sessions ended.", ended)
            % {"count": ended},
            messages.SUCCESS,
        )
