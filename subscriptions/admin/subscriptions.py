"""A subscription's pages: the list, the change page, the add page.

`SubscriptionAdmin` is this app's part of the page: its fields, its own inlines
(items, charges, notes, history), the next cycles (`schedule`) and the status
buttons (`actions`). It is not registered here: the back office
(`dashboard.admin`) adds the other apps' inlines and registers the whole page.

Saving follows the service-form pattern (`crm.fsm_admin.ServicePageAdminMixin`):
the forms validate what staff typed, then `save_page` calls the services once
(`subscription_create`, `subscription_change_items`,
`subscription_change_details`); a refusal is shown on the page and nothing is
changed. WooCommerce subscriptions are read-only here: the shop manages them.
On a subscription's pages dates are shown, and entered, in its organization's
time zone.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import (
    PageRefused,
    ServiceActionsAdminMixin,
    ServicePageAdminMixin,
    add_formset_errors,
    form_errors,
    refusal_messages,
)
from crm.models import Address, Contract
from crm.tenant_admin import (
    LocalMonthListFilter,
    OrganizationTimeChangeViewMixin,
    TenantAdmin,
    money,
    save_notes,
    when,
)
from subscriptions import services
from subscriptions.admin.actions import SubscriptionActionsMixin
from subscriptions.admin.bulk import BulkActionsMixin
from subscriptions.admin.forms import SubscriptionAddForm, SubscriptionItemFormSet, shop_notice
from subscriptions.admin.inlines import (
    ChargeInline,
    EventInline,
    SubscriptionItemInline,
    SubscriptionNoteInline,
)
from subscriptions.admin.schedule import NextCyclesMixin
from subscriptions.forms import ReasonForm
from subscriptions.models import Subscription, SubscriptionItem, SubscriptionNote

Status = Subscription.Status

# On a subscription's page, the only fields staff edit directly; every other field
# shown is owned by the services (read-only here).
EDITABLE_FIELDS = ("contract", "shipping_address")


class SubscriptionChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .prefetch_related(
                Prefetch("items", queryset=SubscriptionItem.objects.select_related("product"))
            )
        )


class StartedListFilter(LocalMonthListFilter):
    title = gettext_lazy("started")
    parameter_name = "started"
    field_name = "started_at"


class EndedListFilter(LocalMonthListFilter):
    title = gettext_lazy("ended")
    parameter_name = "ended"
    field_name = "ended_at"


class RetiredVariantListFilter(admin.SimpleListFilter):
    """Subscriptions with an item on a retired (inactive) variant: for staff to review,
    e.g. after a variation was deleted in the shop."""

    title = gettext_lazy("variants")
    parameter_name = "variant"

    def lookups(self, request, model_admin):
        return [("retired", gettext_lazy("On a retired variant"))]

    def queryset(self, request, queryset):
        if self.value() == "retired":
            return queryset.filter(
                pk__in=SubscriptionItem.objects.filter(variant__active=False).values(
                    "subscription_id"
                )
            )
        return queryset


class SubscriptionAdmin(
    OrganizationTimeChangeViewMixin,
    BulkActionsMixin,
    NextCyclesMixin,
    SubscriptionActionsMixin,
    ServicePageAdminMixin,
    ServiceActionsAdminMixin,
    TenantAdmin,
):
    """This app's part of a subscription's page; registered by the back office (see module)."""

    organization_column = True  # for staff of several organizations
    fsm_forms = {"resume": ReasonForm, "skip": ReasonForm, "withdraw_cancellation": ReasonForm}
    default_action_form = ReasonForm
    action_form_object = "subscription"
    change_form_template = "admin/subscriptions/subscription/change_form.html"

    list_display = ["id", "customer_column", "status", "items_summary", "next_charge", "source"]
    list_display_links = ["id", "customer_column"]
    list_filter = [
        "status",
        StartedListFilter,
        EndedListFilter,
        "source",
        "billing_period",
        "cancel_at_period_end",
        RetiredVariantListFilter,
    ]
    # An item's SKU (its variant's or its simple product's), exactly, finds its subscriptions.
    search_fields = [
        "customer__email",
        "customer__first_name",
        "customer__last_name",
        "=items__variant__sku",
        "=items__product__sku",
    ]
    list_select_related = ["organization", "customer"]
    autocomplete_fields = ["customer"]
    inlines = [
        SubscriptionItemInline,
        ChargeInline,
        SubscriptionNoteInline,  # staff notes, written through the service
        EventInline,
    ]

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "customer",
                    "source",
                    "status",
                    "contract",
                    "shipping_address",
                    "billing_address",
                ]
            },
        ),
        (gettext_lazy("Next cycles"), {"fields": ["next_cycles"]}),
        (
            gettext_lazy("Schedule"),
            {
                "fields": [
                    "billing_period",
                    "billing_interval",
                    "billing_anchor",
                    "anchor_cycle",
                    "started_at",
                    "trial_ends_at",
                    "ends_at",
                    "skipped_cycles",
                ]
            },
        ),
        (
            gettext_lazy("Billing"),
            {
                "fields": [
                    "current_cycle",
                    "current_period_start",
                    "current_period_end",
                    "next_cycle",
                    "next_charge",
                    "adjustment",
                    "currency",
                ]
            },
        ),
        (
            gettext_lazy("Pause and cancellation"),
            {
                "fields": [
                    "paused_at",
                    "resume_at",
                    "cancel_at_period_end",
                    "canceled_at",
                    "ended_at",
                    "cancel_reason",
                ]
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["organization", "customer", "contract", "shipping_address"]}),
        (
            gettext_lazy("Schedule"),
            {
                "fields": [
                    "billing_period",
                    "billing_interval",
                    "started_at",
                    "trial_ends_at",
                    "ends_at",
                ],
                "description": gettext_lazy(
                    "Dates and times are in the organization's time zone. The first charge "
                    "is attempted at the start, or at the end of the trial."
                ),
            },
        ),
    ]

    # --- Changelist ----------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return SubscriptionChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "customer")

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, obj):
        customer = obj.customer
        if customer.full_name:
            return f"{customer.full_name} <{customer.email}>"
        return customer.email

    @admin.display(description=gettext_lazy("items"))
    def items_summary(self, obj):
        return ", ".join(str(item) for item in obj.items.all()) or "-"

    @admin.display(description=gettext_lazy("next charge at"), ordering="next_charge_at")
    def next_charge(self, obj):
        # The next charge that will happen (a paused one's: after its resume date), as
        # the next-cycles table shows it; not where the schedule stood when it paused.
        due_at = obj.next_due_at
        if due_at is None and obj.status == Status.PAUSED and obj.is_native:
            return _("paused, no resume date")
        return when(due_at, obj.organization.tzinfo)

    # --- Change page ----------------------------------------------------------

    def has_delete_permission(self, request, obj=None):
        # A subscription is canceled, never deleted: its charges and history stay.
        return False

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        extra = [name for name in flatten_fieldsets(self.fieldsets) if name not in EDITABLE_FIELDS]
        if not obj.is_native:
            extra.append("shipping_address")  # the shop's, synchronized
        return [*fields, *(name for name in extra if name not in fields)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionAddForm
        form = super().get_form(request, obj, change, **kwargs)
        address = form.base_fields.get("shipping_address")
        contract = form.base_fields.get("contract")
        if obj is None:
            if address is not None:
                address.queryset = address.queryset.filter(
                    kind=Address.Kind.SHIPPING
                ).select_related("customer")
                address.label_from_instance = lambda a: f"{a.customer.email}: {a}"
                address.help_text = _(
                    "One of the customer's addresses; leave empty for their first shipping address."
                )
            return form
        if address is not None:
            address.queryset = Address.objects.filter(
                Q(customer_id=obj.customer_id) | Q(pk=obj.shipping_address_id)
            )
        if contract is not None:
            contract.queryset = Contract.objects.filter(organization_id=obj.organization_id).filter(
                Q(customer_id=obj.customer_id) | Q(customer__isnull=True) | Q(pk=obj.contract_id)
            )
        return form

    def get_inlines(self, request, obj):
        return [SubscriptionItemInline] if obj is None else self.inlines

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # Read by the schedule table (a read-only field, which sees no request).
            obj.may_change_schedule = obj.is_native and self.has_change_permission(request, obj)
        return obj

    def change_context(self, request, subscription) -> dict:
        return {} if subscription.is_native else {"managed_by_shop": shop_notice()}

    # --- Saving: one call per service, once the whole page is valid ------------------

    def save_page(self, request, form, formsets, change):
        """Create the subscription, or write what changed on its page, through the services.

        Called by `ServicePageAdminMixin` in a savepoint once every part of the page
        is valid; a refusal goes on the form or inline concerned and nothing is kept.
        """
        actor = Actor.for_user(request.user)
        items = next((f for f in formsets if isinstance(f, SubscriptionItemFormSet)), None)
        if not change:
            return self._create(form, items, actor)
        subscription = form.instance
        if items is not None and items.has_changed():
            self._change_items(subscription, items, actor)
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if changed:
            # Neither field is part of the lifecycle: status untouched, an address change recorded.
            try:
                services.subscription_change_details(
                    subscription=subscription, actor=actor, **changed
                )
            except ApplicationError as error:
                if not form_errors(form, error):
                    form.add_error(None, error.message)
                raise PageRefused from error
        for formset in formsets:
            if formset is not items:
                self.save_formset(request, form, formset, change)
        return subscription

    def save_formset(self, request, form, formset, change):
        if formset.model is SubscriptionNote:
            save_notes(
                request,
                formset,
                lambda subscription, text, actor: services.subscription_note_add(
                    subscription=subscription, text=text, actor=actor
                ),
            )
            return
        super().save_formset(request, form, formset, change)

    @staticmethod
    def _create(form, items, actor) -> Subscription:
        data = form.cleaned_data
        try:
            return services.subscription_create(
                organization=data["organization"],
                customer=data["customer"],
                items=items.items(),
                actor=actor,
                billing_period=data["billing_period"],
                billing_interval=data["billing_interval"],
                start_at=data.get("started_at"),
                trial_ends_at=data.get("trial_ends_at"),
                ends_at=data.get("ends_at"),
                shipping_address=data.get("shipping_address"),
                contract=data.get("contract"),
            )
        except ApplicationError as error:
            # A field's error next to its input; the rest above the items.
            fields = error.extra.get("fields") or {}
            rest = []
            for name, messages_ in fields.items():
                name = "started_at" if name == "start_at" else name
                if name in form.fields:
                    for message in messages_:
                        form.add_error(name, message)
                else:
                    rest.extend(messages_)
            if not fields:
                rest.append(error.message)
            add_formset_errors(
                items, rest or [_("The subscription was not created: see the errors above.")]
            )
            raise PageRefused from error

    @staticmethod
    def _change_items(subscription, items, actor) -> None:
        before = subscription.adjustment
        try:
            updated = services.subscription_change_items(
                subscription=subscription, actor=actor, items=items.items()
            )
        except ApplicationError as error:
            add_formset_errors(items, refusal_messages(error))
            raise PageRefused from error
        net = updated.adjustment - before
        if net:
            message = _(
                "Items changed. A pro-rata adjustment of %(amount)s is carried to the next charge."
            ) % {"amount": money(net, updated.currency)}
        else:
            message = _("Items changed; the next charge uses them.")
        items.saved_messages.append(message)
