"""The WooCommerce sync in the back office: shops, their webhook deliveries, mappings, orders.

A shop's page gives the address to paste into WooCommerce and takes its
secrets, which are never sent back to the browser: their inputs are always
empty, an empty input keeps what is stored, and the page only says whether
each is set. Its buttons test the REST API credentials and queue a
reconciliation. Its inline maps the shop's meta keys and attributes to the
organization's preferences. Deliveries, mappings and orders are written by
the sync and only read here; a delivery can be sent to be processed again.

As everywhere in the admin, a staff member sees only their organizations' rows
(another's is a 404) and acts according to their role: viewers read; staff also
reprocess deliveries; a shop's connection (its URL, secrets and REST keys) and its
buttons, which send those keys to the shop, are its organization's administrators'
(staff read the shop's page and its webhook health).
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, Max, Prefetch, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.models import Customer, Product, Variant
from crm.tenant_admin import (
    ADMINS_DECIDE,
    ActionsOnlyTenantAdmin,
    TenantAdmin,
    TenantInlineFormSet,
    TenantTabularInline,
    money,
)
from operations.models import Operation
from subscriptions.models import Subscription
from woocommerce import reconcile
from woocommerce.models import (
    Resource,
    WebhookDelivery,
    WooCommerceStore,
    WooMapping,
    WooOrder,
    WooPreferenceMapping,
    WooRelatedOrder,
)
from woocommerce.tasks import enqueue_delivery, reconcile_start

Status = WebhookDelivery.Status
# Deliveries stored but not yet applied: what a shop's "waiting" count shows.
WAITING = WebhookDelivery.WAITING
SECRET_FIELDS = reconcile.SECRET_FIELDS
RECENT_DELIVERIES = 10
# A delivery's body is shown up to this many characters (bodies may reach 2 MB).
BODY_SHOWN = 100_000


def _changelist_url(model, **filters) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if filters:
        url += "?" + "&".join(f"{key}={quote(str(value))}" for key, value in filters.items())
    return url


def _change_url(model, pk) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def _secret_state(name: str, label):
    """A read-only column saying whether a secret is set, never what it is."""

    @admin.display(description=label)
    def state(self, store) -> str:
        return _("set") if getattr(store, name) else _("not set")

    return state


class ShopListFilter(admin.RelatedFieldListFilter):
    """The "by shop" filter, naming only the shops of the organizations the user may view."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        if request.user.is_superuser:
            return field.get_choices(include_blank=False, ordering=ordering)
        visible = model_admin._allowed(request, "view") | model_admin._allowed(request, "change")
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"organization_id__in": visible},
        )


class SyncAdmin(TenantAdmin):
    """Shared by the sync's admins: the organization column for people who see several."""

    organization_column = True  # for staff of several organizations


class ReadOnlySyncAdmin(SyncAdmin):
    """Rows the sync writes: everyone who may view them reads them, nobody edits them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Shops ------------------------------------------------------------------------------


def _formfield(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # "shop.example.com" is an HTTPS shop
    return db_field.formfield(**kwargs)


class WooCommerceStoreForm(forms.ModelForm):
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

    class Meta:
        model = WooCommerceStore
        fields = ["organization", "name", "base_url", "active", "weight_unit", *SECRET_FIELDS]
        # The admin builds its fields with formfield_for_dbfield; this is for the class itself.
        formfield_callback = staticmethod(_formfield)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        adding = self.instance._state.adding
        self._stored = {
            name: ("" if adding else getattr(self.instance, name) or "") for name in SECRET_FIELDS
        }
        for name in SECRET_FIELDS:
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
        typed = {name: cleaned.get(name) or "" for name in SECRET_FIELDS if name in self.fields}
        for name in typed:
            if not typed[name]:
                cleaned[name] = self._stored[name]
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
            self.root_queryset = self.root_queryset.annotate(
                last_delivery_at=Max("deliveries__received_at"),
                failed_count=Count("deliveries", filter=Q(deliveries__status=Status.FAILED)),
                waiting_count=Count("deliveries", filter=Q(deliveries__status__in=WAITING)),
            )
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
        url = _changelist_url(WebhookDelivery, store__id__exact=store.pk, status__exact="failed")
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

    webhook_secret_state = _secret_state("webhook_secret", gettext_lazy("webhook secret"))
    previous_webhook_secret_state = _secret_state(
        "previous_webhook_secret", gettext_lazy("previous webhook secret")
    )
    consumer_key_state = _secret_state("consumer_key", gettext_lazy("REST API consumer key"))
    consumer_secret_state = _secret_state(
        "consumer_secret", gettext_lazy("REST API consumer secret")
    )

    @admin.display(description=gettext_lazy("webhook health"))
    def webhook_health(self, store):
        stats = WebhookDelivery.objects.filter(store=store).aggregate(
            last=Max("received_at"),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            waiting=Count("pk", filter=Q(status__in=WAITING)),
        )
        last = _("never") if stats["last"] is None else display_for_value(stats["last"], "-")
        return format_html(
            '<span class="webhook-health">{}</span> <a href="{}">{}</a>',
            _("Last delivery: %(last)s. Failed: %(failed)d. Waiting: %(waiting)d.")
            % {"last": last, "failed": stats["failed"], "waiting": stats["waiting"]},
            _changelist_url(WebhookDelivery, store__id__exact=store.pk),
            _("All deliveries"),
        )

    @admin.display(description=gettext_lazy("recent deliveries"))
    def recent_deliveries(self, store):
        deliveries = (
            WebhookDelivery.objects.filter(store=store)
            .only("pk", "topic", "status", "received_at", "error")
            .order_by("-received_at", "-pk")[:RECENT_DELIVERIES]
        )
        rows = [
            (
                _change_url(WebhookDelivery, delivery.pk),
                delivery.pk,
                delivery.topic,
                delivery.get_status_display(),
                display_for_value(delivery.received_at, "-"),
                _short(delivery.error),
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
                "url": _changelist_url(WebhookDelivery, store__id__exact=store.pk),
            },
            {"label": _("Mappings"), "url": _changelist_url(WooMapping, store__id__exact=store.pk)},
            {"label": _("Orders"), "url": _changelist_url(WooOrder, store__id__exact=store.pk)},
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
        return HttpResponseRedirect(_change_url(WooCommerceStore, store.pk))

    def reconcile_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        store = self._store_to_act_on(request, object_id)
        if not store.active:
            self.message_user(
                request, _("This shop is inactive: activate it first."), messages.ERROR
            )
        elif not store.has_rest_credentials:
            self.message_user(
                request,
                _("Enter the shop's REST API consumer key and secret first."),
                messages.ERROR,
            )
        else:
            operation = reconcile_start(store=store, started_by=request.user)
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
            return HttpResponseRedirect(_change_url(Operation, operation.pk))
        return HttpResponseRedirect(_change_url(WooCommerceStore, store.pk))


# --- Webhook deliveries -----------------------------------------------------------------


def _short(error: str, length: int = 80) -> str:
    first_line = (error or "").strip().splitlines()[:1]
    return Truncator(first_line[0]).chars(length) if first_line else ""


class DeliveryChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The list never shows bodies (up to 2 MB each), headers or tracebacks.
        return (
            super().get_queryset(request, exclude_parameters).defer("body", "headers", "traceback")
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ActionsOnlyTenantAdmin, SyncAdmin):
    """What the shop sent and what became of it; read-only, but can be processed again."""

    list_display = [
        "id",
        "topic",
        "status",
        "store",
        "woo_id",
        "attempts",
        "received_at",
        "processed_at",
        "short_error",
    ]
    list_display_links = ["id", "topic"]
    list_filter = ["status", "topic", ("store", ShopListFilter), "resource"]
    search_fields = ["woo_id__exact", "delivery_id__exact", "topic"]
    search_help_text = gettext_lazy("WooCommerce id, delivery id or topic")
    list_select_related = ["organization", "store"]
    actions = ["reprocess"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "store",
                    "topic",
                    "resource",
                    "event",
                    "woo_id",
                    "status",
                    "attempts",
                ]
            },
        ),
        (
            gettext_lazy("Delivery"),
            {
                "fields": [
                    "webhook_id",
                    "delivery_id",
                    "received_at",
                    "queued_at",
                    "started_at",
                    "processed_at",
                    "updated_at",
                ]
            },
        ),
        (gettext_lazy("Content"), {"fields": ["headers_display", "body_display"]}),
        (gettext_lazy("Error"), {"fields": ["error", "traceback_display"]}),
    ]

    def get_changelist(self, request, **kwargs):
        return DeliveryChangeList

    @admin.display(description=gettext_lazy("error"))
    def short_error(self, delivery):
        return _short(delivery.error)

    @admin.display(description=gettext_lazy("headers"))
    def headers_display(self, delivery):
        text = json.dumps(delivery.headers or {}, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="delivery-headers">{}</pre>', text)

    @admin.display(description=gettext_lazy("body"))
    def body_display(self, delivery):
        text = delivery.body_text
        with contextlib.suppress(ValueError):  # not JSON: shown as received
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        note = ""
        if len(text) > BODY_SHOWN:
            note = _("(%(count)d more characters not shown)") % {"count": len(text) - BODY_SHOWN}
            text = text[:BODY_SHOWN]
        return format_html(
            '<pre class="delivery-body">{}</pre>{}',
            text,
            note,
        )

    @admin.display(description=gettext_lazy("traceback"))
    def traceback_display(self, delivery):
        if not delivery.traceback:
            return "-"
        return format_html('<pre class="delivery-traceback">{}</pre>', delivery.traceback)

    @admin.action(
        description=gettext_lazy("Reprocess the selected deliveries"), permissions=["change"]
    )
    def reprocess(self, request, queryset):
        """Start the selected deliveries over: received, no attempt, no error; then queue them."""
        ids = queryset.values_list("pk", flat=True)
        if not request.user.is_superuser:
            ids = ids.filter(organization_id__in=self._allowed(request, "change"))
        with transaction.atomic():
            # Locked: a worker applying one of them finishes first; one it has only
            # claimed sees it started over and leaves it to the new message.
            deliveries = list(
                WebhookDelivery.objects.select_for_update()
                .filter(pk__in=list(ids))
                .only("pk", "resource", "organization_id")
                .order_by("pk")
            )
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
                status=Status.RECEIVED,
                attempts=0,
                error="",
                traceback="",
                queued_at=None,
                started_at=None,
                processed_at=None,
                updated_at=timezone.now(),
            )
            for delivery in deliveries:
                enqueue_delivery(delivery)  # sent once this transaction commits
        count = len(deliveries)
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery will be processed again.",
                "%(count)d deliveries will be processed again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


# --- Mappings ---------------------------------------------------------------------------

# The admin page of the CRM row each resource's mapping points to.
CRM_PAGES = {
    Resource.CUSTOMER: "admin:crm_customer_change",
    Resource.PRODUCT: "admin:crm_product_change",
    Resource.VARIATION: "admin:crm_product_change",  # a variant is shown on its product's page
    Resource.SUBSCRIPTION: "admin:subscriptions_subscription_change",
    Resource.ORDER: "admin:woocommerce_wooorder_change",
}


def _labels(resource: str, ids: set[int], organizations: set[int]) -> dict[int, str]:
    """{CRM id: what staff recognize it by} for one resource, in one query."""
    if resource == Resource.CUSTOMER:
        rows = Customer.objects.filter(pk__in=ids, organization_id__in=organizations)
        return dict(rows.values_list("pk", "email"))
    if resource == Resource.PRODUCT:
        rows = Product.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {pk: f"{name} ({sku})" for pk, name, sku in rows.values_list("pk", "name", "sku")}
    if resource == Resource.VARIATION:
        rows = Variant.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {v.pk: f"{v.name} ({v.sku})" for v in rows.select_related("product")}
    if resource == Resource.SUBSCRIPTION:
        rows = Subscription.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {pk: f"#{pk} {email}" for pk, email in rows.values_list("pk", "customer__email")}
    if resource == Resource.ORDER:
        rows = WooOrder.objects.filter(pk__in=ids, organization_id__in=organizations)
        return {
            pk: f"#{number or woo_id}"
            for pk, number, woo_id in rows.values_list("pk", "number", "woo_id")
        }
    return {}


def attach_crm_labels(mappings) -> None:
    """Give each mapping the label of its CRM row: one query per resource, not per row."""
    wanted: dict[str, set[int]] = {}
    organizations: set[int] = set()
    for mapping in mappings:
        if mapping.object_id is not None:
            wanted.setdefault(mapping.resource, set()).add(mapping.object_id)
            organizations.add(mapping.organization_id)
    labels = {resource: _labels(resource, ids, organizations) for resource, ids in wanted.items()}
    products = dict(  # a variant's page is its product's
        Variant.objects.filter(
            pk__in=wanted.get(Resource.VARIATION, ()), organization_id__in=organizations
        ).values_list("pk", "product_id")
    )
    for mapping in mappings:
        mapping.crm_label = labels.get(mapping.resource, {}).get(mapping.object_id)
        mapping.crm_target = (
            products.get(mapping.object_id)
            if mapping.resource == Resource.VARIATION
            else mapping.object_id
        )


class MappingChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        attach_crm_labels(self.result_list)


@admin.register(WooMapping)
class WooMappingAdmin(ReadOnlySyncAdmin):
    list_display = [
        "resource",
        "woo_id",
        "crm_link",
        "woo_modified_at",
        "remote_status",
        "deleted_upstream_at",
        "store",
    ]
    list_filter = [
        "resource",
        ("store", ShopListFilter),
        ("deleted_upstream_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["woo_id__exact"]
    search_help_text = gettext_lazy("WooCommerce id")
    list_select_related = ["organization", "store"]
    fields = [
        "organization",
        "store",
        "resource",
        "woo_id",
        "crm_link",
        "woo_modified_at",
        "remote_status",
        "deleted_upstream_at",
        "updated_at",
    ]

    def get_changelist(self, request, **kwargs):
        return MappingChangeList

    @admin.display(description=gettext_lazy("CRM record"))
    def crm_link(self, mapping):
        if mapping.object_id is None:
            return "-"
        if not hasattr(mapping, "crm_label"):  # a mapping's own page
            attach_crm_labels([mapping])
        page = CRM_PAGES.get(mapping.resource)
        if page is None or mapping.crm_label is None:
            # Unknown resource, or the row is gone: nothing to link to.
            return f"#{mapping.object_id}"
        return format_html(
            '<a href="{}">{}</a>', reverse(page, args=[mapping.crm_target]), mapping.crm_label
        )


# --- Orders -----------------------------------------------------------------------------


@admin.register(WooOrder)
class WooOrderAdmin(ReadOnlySyncAdmin):
    list_display = [
        "order_number",
        "kind",
        "status",
        "subscriptions_column",
        "customer_column",
        "total_column",
        "ordered_at",
        "paid_at",
        "deleted_upstream",
        "store",
    ]
    list_filter = ["kind", "status", ("store", ShopListFilter), "deleted_upstream"]
    search_fields = ["number", "woo_id__exact", "customer__email"]
    search_help_text = gettext_lazy("Order number, WooCommerce id or customer e-mail")
    list_select_related = ["organization", "store", "customer", "billing_address"]
    fields = [
        "organization",
        "store",
        "woo_id",
        "number",
        "kind",
        "status",
        "subscriptions_column",
        "customer_column",
        "billing_address_column",
        "charges_column",
        "total_column",
        "ordered_at",
        "paid_at",
        "deleted_upstream",
        "updated_at",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "links",
                    queryset=WooRelatedOrder.objects.select_related("charge").order_by(
                        "woo_subscription_id"
                    ),
                )
            )
        )

    @admin.display(description=gettext_lazy("number"), ordering="number")
    def order_number(self, order):
        return str(order)

    @admin.display(description=gettext_lazy("subscriptions"))
    def subscriptions_column(self, order):
        """Every subscription the order belongs to (an initial order can start several)."""
        rows = list(order.links.all())
        if not rows:
            return "-"
        return format_html_join(
            ", ",
            "{}",
            (
                (
                    format_html(
                        '<a href="{}">#{}</a>',
                        _change_url(Subscription, row.subscription_id),
                        row.subscription_id,
                    )
                    if row.subscription_id
                    else _("WooCommerce #%(id)s (not received yet)")
                    % {"id": row.woo_subscription_id},
                )
                for row in rows
            ),
        )

    @admin.display(description=gettext_lazy("charges"))
    def charges_column(self, order):
        rows = [row for row in order.links.all() if row.charge_id]
        if not rows:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (
                    reverse("admin:subscriptions_charge_change", args=[row.charge_id]),
                    _("cycle %(cycle)s of #%(subscription)s: %(amount)s")
                    % {
                        "cycle": row.charge.cycle,
                        "subscription": row.subscription_id,
                        "amount": money(row.charge.amount, row.charge.currency),
                    },
                )
                for row in rows
            ),
        )

    @admin.display(description=gettext_lazy("billing address"))
    def billing_address_column(self, order):
        return str(order.billing_address) if order.billing_address_id else "-"

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, order):
        if order.customer_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', _change_url(Customer, order.customer_id), order.customer.email
        )

    @admin.display(description=gettext_lazy("total"), ordering="total")
    def total_column(self, order):
        if order.total is None:
            return "-"
        return money(order.total, order.currency)
