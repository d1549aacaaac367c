"""A shop's pages: the webhook address, write-only secrets, the preference mapping inline,
its webhook health and its buttons (test the connection, reconcile now).

A shop's connection (its URL, secrets and REST keys) and its buttons, which send
those keys to the shop, are its organization's administrators'; staff read the page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from crm.admin_secrets import SecretFieldsForm, secret_state
from crm.tenant_admin import ADMINS_DECIDE, TenantInlineFormSet, TenantTabularInline
from operations.models import Operation
from woocommerce import reconcile, selectors, services
from woocommerce.admin.common import SyncAdmin, change_url, changelist_url, first_line_of
from woocommerce.models import (
    WebhookDelivery,
    WooCommerceStore,
    WooMapping,
    WooOrder,
    WooPreferenceMapping,
)

SECRET_FIELDS = reconcile.SECRET_FIELDS


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # "shop.example.com" is an HTTPS shop
    return db_field.formfield(**kwargs)


class WooCommerceStoreForm(SecretFieldsForm):
    """A shop's settings; its secrets are write-only.

    The secret inputs never hold the stored value (not even in the form's
    initial data, so nothing renders it); left empty, the stored one is kept.
    """

    keep_replaced_secret = forms.BooleanField(
        label=gettext_lazy("Keep the replaced secret as the previous one"),
        required=False,
        initial=True,
        help_text=gettext_lazy(
            "When a new webhook secret is entered, deliveries signed with the one it replaces "
            "are still kept until you clear it, so no delivery is lost while each webhook of "
            "the shop is updated."
        ),
    )
    clear_previous_webhook_secret = forms.BooleanField(
        label=gettext_lazy("Clear the previous webhook secret"),
        required=False,
        help_text=gettext_lazy(
            "Once every webhook of the shop uses the new secret: deliveries signed with the "
            "previous one are then refused."
        ),
    )

    secret_fields = SECRET_FIELDS

    class Meta:
        model = WooCommerceStore
        fields = ["organization", "name", "base_url", "active", "weight_unit", *SECRET_FIELDS]
        # The admin builds its fields with formfield_for_dbfield; this is for the class itself.
        formfield_callback = staticmethod(_formfield)

    def clean(self):
        cleaned = super().clean()
        typed = self.typed_secrets
        if "previous_webhook_secret" not in typed:
            return cleaned
        if cleaned.get("clear_previous_webhook_secret"):
            if typed["previous_webhook_secret"]:
                self.add_error(
                    "clear_previous_webhook_secret",
                    _("Either enter a previous webhook secret or clear it, not both."),
                )
            else:
                cleaned["previous_webhook_secret"] = ""
        elif (
            cleaned.get("keep_replaced_secret")
            and typed.get("webhook_secret")
            and self._stored["webhook_secret"]
            and typed["webhook_secret"] != self._stored["webhook_secret"]
            and not typed["previous_webhook_secret"]
        ):
            cleaned["previous_webhook_secret"] = self._stored["webhook_secret"]
        return cleaned


class StoreChangeList(ChangeList):
    """The shops' list, each with its webhook health counted in the same query."""

    def get_queryset(self, request, exclude_parameters=None):
        if "last_delivery_at" not in self.root_queryset.query.annotations:
            self.root_queryset = selectors.store_list_with_health(stores=self.root_queryset)
        return super().get_queryset(request, exclude_parameters)


class PreferenceMappingFormSet(TenantInlineFormSet):
    """Each row offers only the preferences of the shop's organization."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        field = form.fields.get("field")
        organization_id = getattr(self.instance, "organization_id", None)
        if field is None or not organization_id:
            return
        field.queryset = field.queryset.filter(organization_id=organization_id)
        field.label_from_instance = lambda preference: (
            f"{preference.display_label} ({preference.key})"
            if preference.active
            else _("%(label)s (%(key)s, retired)")
            % {"label": preference.display_label, "key": preference.key}
        )


class PreferenceMappingInline(TenantTabularInline):
    model = WooPreferenceMapping
    required_roles = ADMINS_DECIDE  # part of the shop's settings
    formset = PreferenceMappingFormSet
    fields = ["woo_key", "field"]
    extra = 1


@admin.register(WooCommerceStore)
class WooCommerceStoreAdmin(SyncAdmin):
    # The connection and its buttons: administrators only (everyone reads the page).
    required_roles = ADMINS_DECIDE
    form = WooCommerceStoreForm
    inlines = [PreferenceMappingInline]
    list_display = [
        "name",
        "base_url",
        "active",
        "last_reconciled_at",
        "last_delivery",
        "failed_deliveries",
        "waiting_deliveries",
    ]
    list_filter = ["active"]
    search_fields = ["name", "base_url"]
    # Shown on an existing shop's page, never edited there.
    computed_fields = [
        "webhook_url",
        "webhook_health",
        "recent_deliveries",
        "last_reconciled_at",
        "created_at",
    ]
    # What a reader sees instead of each secret.
    secret_states = {
        "webhook_secret": "webhook_secret_state",
        "previous_webhook_secret": "previous_webhook_secret_state",
        "consumer_key": "consumer_key_state",
        "consumer_secret": "consumer_secret_state",
    }

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_inlines(self, request, obj):
        # The preferences offered are those of the shop's organization: known once saved.
        return self.inlines if obj is not None else []

    # --- Changelist ---------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return StoreChangeList

    @admin.display(description=gettext_lazy("last delivery"), ordering="last_delivery_at")
    def last_delivery(self, store):
        return store.last_delivery_at

    @admin.display(description=gettext_lazy("failed deliveries"), ordering="failed_count")
    def failed_deliveries(self, store):
        if not store.failed_count:
            return 0
        url = changelist_url(WebhookDelivery, store__id__exact=store.pk, status__exact="failed")
        return format_html('<a href="{}" class="failed-deliveries">{}</a>', url, store.failed_count)

    @admin.display(description=gettext_lazy("waiting deliveries"), ordering="waiting_count")
    def waiting_deliveries(self, store):
        return store.waiting_count

    # --- Change page --------------------------------------------------------------------

    def _editable(self, request, obj) -> bool:
        if obj is None:
            return self.has_add_permission(request)
        return self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        editable = self._editable(request, obj)
        webhooks = ["webhook_secret", "previous_webhook_secret"]
        rest = ["consumer_key", "consumer_secret"]
        if not editable:
            webhooks = [self.secret_states[name] for name in webhooks]
            rest = [self.secret_states[name] for name in rest]
        elif obj is not None:
            webhooks = [
                "webhook_secret",
                "keep_replaced_secret",
                "previous_webhook_secret",
                "clear_previous_webhook_secret",
            ]
        if obj is not None:
            webhooks.insert(0, "webhook_url")
        fieldsets = [
            (None, {"fields": ["organization", "name", "base_url", "active", "weight_unit"]}),
            (
                _("Webhooks"),
                {"fields": webhooks, "description": self.webhook_instructions()},
            ),
            (
                _("REST API"),
                {
                    "fields": rest,
                    "description": _(
                        "A key with read access (WooCommerce → Settings → Advanced → REST API). "
                        "It is used to reconcile the shop and to test the connection."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    _("Activity"),
                    {
                        "fields": [
                            "webhook_health",
                            "recent_deliveries",
                            "last_reconciled_at",
                            "created_at",
                        ]
                    },
                )
            )
        return fieldsets

    @staticmethod
    def webhook_instructions() -> str:
        # Fieldset descriptions are rendered as HTML: every part is escaped here.
        return format_html(
            "<p>{}</p><p>{}</p>",
            _(
                "In WooCommerce (Settings → Advanced → Webhooks), add one webhook for each "
                "topic the shop offers for customers, products, orders and subscriptions "
                "(customer.*, product.*, order.*, subscription.*: created, updated, deleted, "
                "restored...)."
            ),
            _(
                "For each: status Active, delivery URL the webhook URL below, secret the "
                "webhook secret entered here, API version “WP REST API Integration v3”."
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        extra = [*self.computed_fields, *self.secret_states.values()]
        return [*fields, *(name for name in extra if name not in fields)]

    def get_object(self, request, object_id, from_field=None):
        store = super().get_object(request, object_id, from_field)
        # The address WooCommerce must post to, as this request reached the site.
        store.webhook_url_absolute = request.build_absolute_uri(store.webhook_path())
        return store

    @admin.display(description=gettext_lazy("webhook URL"))
    def webhook_url(self, store):
        url = getattr(store, "webhook_url_absolute", None) or store.webhook_path()
        return format_html(
            '<code class="webhook-url">{}</code><div class="help">{}</div>',
            url,
            _("Paste it as the delivery URL of each webhook of the shop."),
        )

    webhook_secret_state = secret_state("webhook_secret", gettext_lazy("webhook secret"))
    previous_webhook_secret_state = secret_state(
        "previous_webhook_secret", gettext_lazy("previous webhook secret")
    )
    consumer_key_state = secret_state("consumer_key", gettext_lazy("REST API consumer key"))
    consumer_secret_state = secret_state(
        "consumer_secret", gettext_lazy("REST API consumer secret")
    )

    @admin.display(description=gettext_lazy("webhook health"))
    def webhook_health(self, store):
        health = selectors.store_delivery_health(store=store)
        last = (
            _("never")
            if health.last_received_at is None
            else display_for_value(health.last_received_at, "-")
        )
        return format_html(
            '<span class="webhook-health">{}</span> <a href="{}">{}</a>',
            _("Last delivery: %(last)s. Failed: %(failed)d. Waiting: %(waiting)d.")
            % {"last": last, "failed": health.failed, "waiting": health.waiting},
            changelist_url(WebhookDelivery, store__id__exact=store.pk),
            _("All deliveries"),
        )

    @admin.display(description=gettext_lazy("recent deliveries"))
    def recent_deliveries(self, store):
        deliveries = selectors.store_recent_deliveries(store=store)
        rows = [
            (
                change_url(WebhookDelivery, delivery.pk),
                delivery.pk,
                delivery.topic,
                delivery.get_status_display(),
                display_for_value(delivery.received_at, "-"),
                first_line_of(delivery.message()),
            )
            for delivery in deliveries
        ]
        if not rows:
            return _("No delivery received yet.")
        return format_html(
            '<table class="recent-deliveries"><thead><tr>'
            "<th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            _("Topic"),
            _("Status"),
            _("Received at"),
            _("Error"),
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                rows,
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        store = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {})}
        opts = self.opts
        if self.has_change_permission(request, store):
            context["store_actions"] = [
                {
                    "name": name,
                    "label": label,
                    "url": reverse(
                        f"admin:{opts.app_label}_{opts.model_name}_{view}",
                        args=[store.pk],
                        current_app=self.admin_site.name,
                    ),
                }
                for name, label, view in (
                    ("test-connection", _("Test connection"), "test_connection"),
                    ("reconcile", _("Reconcile now"), "reconcile"),
                )
            ]
        context["store_links"] = [
            {
                "label": _("Deliveries"),
                "url": changelist_url(WebhookDelivery, store__id__exact=store.pk),
            },
            {"label": _("Mappings"), "url": changelist_url(WooMapping, store__id__exact=store.pk)},
            {"label": _("Orders"), "url": changelist_url(WooOrder, store__id__exact=store.pk)},
        ]
        return super().change_view(request, object_id, form_url, context)

    def response_add(self, request, obj, post_url_continue=None):
        # The first thing to do with a new shop: paste its address into WooCommerce.
        self.message_user(
            request,
            _("Paste this webhook URL into each webhook of the shop: %(url)s")
            % {"url": request.build_absolute_uri(obj.webhook_path())},
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

    # --- Buttons ------------------------------------------------------------------------

    def get_urls(self):
        opts = self.opts
        name = f"{opts.app_label}_{opts.model_name}"
        return [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name=f"{name}_test_connection",
            ),
            path(
                "<path:object_id>/reconcile/",
                self.admin_site.admin_view(self.reconcile_view),
                name=f"{name}_reconcile",
            ),
            *super().get_urls(),
        ]

    def _store_to_act_on(self, request, object_id) -> WooCommerceStore:
        store = self.get_object(request, unquote(object_id))  # 404 for another organization's
        if not self.has_change_permission(request, store):
            raise PermissionDenied
        return store

    def test_connection_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        store = self._store_to_act_on(request, object_id)
        try:
            total = reconcile.test_connection(store)
        except reconcile.ShopError as error:
            self.message_user(
                request,
                _("The connection test failed: %(error)s") % {"error": error},
                messages.ERROR,
            )
        else:
            self.message_user(
                request,
                _("The connection works: %(url)s answers, with %(count)s subscriptions.")
                % {"url": store.base_url, "count": total},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(change_url(WooCommerceStore, store.pk))

    def reconcile_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        store = self._store_to_act_on(request, object_id)
        try:
            operation = services.reconciliation_start(store=store, started_by=request.user)
        except ApplicationError as refused:
            self.message_user(request, refused.message, messages.ERROR)
        else:
            if store.last_reconciled_at is None:
                message = _(
                    "A reconciliation of “%(shop)s” is queued: everything in the shop will be "
                    "read, in the background."
                ) % {"shop": store}
            else:
                message = _(
                    "A reconciliation of “%(shop)s” is queued: what changed in the shop since "
                    "%(since)s will be read, in the background."
                ) % {
                    "shop": store,
                    "since": display_for_value(store.last_reconciled_at, "-"),
                }
            self.message_user(request, message, messages.SUCCESS)
            # Its page shows how far it got, refreshing itself until it is done.
            return HttpResponseRedirect(change_url(Operation, operation.pk))
        return HttpResponseRedirect(change_url(WooCommerceStore, store.pk))
