from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.errors import ApplicationError
from crm import services
from crm.fsm_admin import PageRefused, ServicePageAdminMixin, form_errors
from crm.models import (
    Address,
    ApiKey,
    Contract,
    Customer,
    CustomerNote,
    Membership,
    Organization,
    Product,
    Variant,
)
from crm.tenant_admin import (
    NoteInline,
    OrganizationListFilter,
    Role,
    TenantAdmin,
    TenantAdminMixin,
    TenantTabularInline,
    save_notes,
)

admin.site.site_header = _("Subscription back office")
admin.site.site_title = _("Back office")
admin.site.index_title = _("Administration")

ADMIN_ONLY = {"view": Role.ADMIN, "add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}


@admin.register(Organization)
class OrganizationAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Superusers create organizations; an organization's admins edit its settings."""

    organization_field = "pk"
    required_roles = {**ADMIN_ONLY, "view": Role.VIEWER}
    list_display = ["name", "slug", "timezone", "currency", "language", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["slug"]

    def get_prepopulated_fields(self, request, obj=None):
        # A read-only slug has no input to fill: naming it here is a KeyError (a 500).
        readonly = self.get_readonly_fields(request, obj)
        return {
            name: sources
            for name, sources in super().get_prepopulated_fields(request, obj).items()
            if name not in readonly
        }


@admin.register(Membership)
class MembershipAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Who works in which organization. Only an organization's admins manage it."""

    required_roles = ADMIN_ONLY
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", OrganizationListFilter)]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # Offer only people already working in one of the admin's
            # organizations: the user list of other organizations is private.
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(memberships__organization_id__in=self._allowed(request, "change"))
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ApiKey)
class ApiKeyAdmin(ServicePageAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Keys are created here with their scope; then only their prefix is shown.

    The clear key is shown once, on the page answering the creation itself: never in
    a message (the `messages` cookie is signed, not encrypted) nor anywhere it could
    be read again.
    """

    required_roles = ADMIN_ONLY
    list_display = [
        "name",
        "prefix",
        "scope",
        "organization",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [
        ("organization", OrganizationListFilter),
        "scope",
        ("revoked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    radio_fields = {"scope": admin.VERTICAL}  # no default: the least it needs, chosen
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "name", "scope"]
        return ["organization", "name", "scope", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return ["organization", "scope", *self.readonly_fields] if obj else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        # One way out of the form: the page showing the key.
        extra_context = {
            **(extra_context or {}),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
        }
        return super().add_view(request, form_url, extra_context)

    def save_page(self, request, form, formsets, change):
        if change:
            return super().save_page(request, form, formsets, change)
        data = form.cleaned_data
        try:
            api_key, key = services.api_key_create(
                organization=data["organization"],
                name=data["name"],
                scope=data["scope"],
                created_by=request.user,
            )
        except ApplicationError as error:
            if not form_errors(form, error):
                form.add_error(None, error.message)
            raise PageRefused from error
        api_key.clear_text = key  # for response_add, this response only; never stored
        return api_key

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(obj, "clear_text", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("API key created"),
            "api_key": obj,
            "key": key,
            "changelist_url": reverse("admin:crm_apikey_changelist"),
        }
        response = TemplateResponse(request, "admin/crm/apikey/created.html", context)
        add_never_cache_headers(response)  # a page holding a secret is never kept
        return response

    @admin.action(description=_("Revoke the selected API keys"), permissions=["delete"])
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(
            request,
            ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", revoked)
            % {"count": revoked},
        )


class AddressInline(TenantTabularInline):
    model = Address
    extra = 0
    fields = [
        "kind",
        "name",
        "company",
        "line1",
        "line2",
        "postcode",
        "city",
        "state",
        "country",
        "phone",
    ]


class CustomerNoteInline(NoteInline):
    model = CustomerNote


@admin.register(Customer)
class CustomerAdmin(TenantAdmin):
    list_display = ["email", "first_name", "last_name", "phone", "language", "created_at", "story"]
    list_filter = ["language", "created_at"]
    search_fields = ["email", "first_name", "last_name", "phone"]
    readonly_fields = ["story"]
    inlines = [AddressInline, CustomerNoteInline]
    date_hierarchy = "created_at"

    def save_formset(self, request, form, formset, change):
        if formset.model is CustomerNote:
            save_notes(
                request,
                formset,
                lambda customer, text, actor: services.customer_note_add(
                    customer=customer, text=text, actor=actor
                ),
            )
            return
        super().save_formset(request, form, formset, change)

    @admin.display(description=_("whole story"))
    def story(self, customer):
        """A link to the customer's page: subscriptions, charges, boxes, cases, answers."""
        if customer.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:customer_story", args=[customer.pk]),
            _("Open the customer's page"),
        )


class VariantInline(TenantTabularInline):
    """A product's variants on its page. Retire one (untick active) rather than delete it:
    a variant a subscription holds cannot be deleted."""

    model = Variant
    extra = 0
    fields = ["sku", "attributes", "unit_price", "net_weight_grams", "active", "position"]
    ordering = ["position", "id"]


@admin.register(Product)
class ProductAdmin(TenantAdmin):
    list_display = [
        "sku",
        "name",
        "unit_price",
        "net_weight_grams",
        "variant_count",
        "active",
        "updated_at",
    ]
    list_filter = ["active"]
    # A variant's SKU finds its product.
    search_fields = ["sku", "name", "variants__sku"]
    list_editable = ["active"]
    inlines = [VariantInline]

    def get_queryset(self, request):
        # A subquery, not a join with GROUP BY: the model's ordering (and search) stay as they are.
        variants = (
            Variant.objects.filter(product=OuterRef("pk"))
            .order_by()
            .values("product")
            .annotate(total=Count("pk"))
            .values("total")
        )
        return super().get_queryset(request).annotate(variant_total=Coalesce(Subquery(variants), 0))

    @admin.display(description=_("variants"), ordering="variant_total")
    def variant_count(self, obj) -> int:
        return obj.variant_total


@admin.register(Variant)
class VariantAdmin(TenantAdmin):
    """Variants are edited on their product's page; this list finds them and feeds the
    pickers (subscription items, replacements, returns)."""

    list_display = ["sku", "product", "label", "unit_price", "net_weight_grams", "active"]
    list_filter = ["active"]
    search_fields = ["sku", "product__name", "product__sku"]
    list_select_related = ["organization", "product"]
    autocomplete_fields = ["product"]
    ordering = ["product__name", "position", "id"]

    @admin.display(description=_("options"))
    def label(self, obj) -> str:
        return obj.label


@admin.register(Contract)
class ContractAdmin(TenantAdmin):
    list_display = ["reference", "title", "customer", "starts_on", "ends_on"]
    list_filter = ["starts_on", "ends_on"]
    search_fields = ["reference", "title", "customer__email"]
    autocomplete_fields = ["customer"]
    list_select_related = ["organization", "customer"]
