"""The back office's subscription pages: every lifecycle write goes through the services.

The status buttons come from django-fsm-2's `FSMAdminMixin`, through
`crm.fsm_admin.ServiceActionsAdminMixin`: a button never calls a model
transition and saves, it opens a small form (`subscriptions.forms`) whose
submission calls the matching service, which checks, records the event with the
staff member as actor and schedules what follows. Items edited on the change
page are handed, as a whole new list, to `subscription_change_items` (which
computes the pro-rata), and a new subscription is created by
`subscription_create`; a refusal of either is shown on the form and nothing is
changed. WooCommerce subscriptions are read-only here: the shop manages them.
The page also lists the subscription's after-sales cases (`returns.admin`).

On a subscription's pages dates are shown, and entered, in its organization's
time zone.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers, widgets
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.fsm_admin import ServiceActionsAdminMixin, refusal_messages
from crm.models import Address, Contract
from crm.tenant_admin import (
    ActionsOnlyTenantAdmin,
    LocalMonthListFilter,
    NoteInline,
    ReadOnlyTenantInline,
    Role,
    TenantAdmin,
    TenantInlineFormSet,
    TenantTabularInline,
    money,
    save_notes,
    when,
)
from fulfillment.models import BatchLine, Shipment
from preferences.admin import PreferenceChangeInline, SubscriptionPreferenceInline
from returns.admin import SubscriptionCaseInline
from satisfaction.admin import SubscriptionSurveyInline
from subscriptions import selectors, services
from subscriptions.forms import ChargeFailureForm, MoveNextDateForm, ReasonForm
from subscriptions.models import (
    BillingPeriod,
    BillingSettings,
    Charge,
    Subscription,
    SubscriptionEvent,
    SubscriptionItem,
    SubscriptionNote,
)
from subscriptions.selectors import CycleState

Status = Subscription.Status
ZERO = Decimal("0.00")
UPCOMING = selectors.SCHEDULE_ROWS

# On a subscription's page, the only fields staff edit directly; every other field
# shown is owned by the services (read-only here).
EDITABLE_FIELDS = ("contract", "shipping_address")


def shop_notice() -> str:
    return _(
        "This subscription is managed in the WooCommerce shop: pause, cancel or change it "
        "there, and the change will be synchronized here. It cannot be changed from this page."
    )


# --- Forms -------------------------------------------------------------------


class SubscriptionAddForm(forms.ModelForm):
    """What `subscription_create` takes, besides the items (the inline)."""

    started_at = forms.SplitDateTimeField(
        label=gettext_lazy("Start"),
        required=False,
        widget=widgets.AdminSplitDateTime,
        help_text=gettext_lazy("Leave empty to start now."),
    )

    class Meta:
        model = Subscription
        fields = [
            "organization",
            "customer",
            "contract",
            "shipping_address",
            "billing_period",
            "billing_interval",
            "started_at",
            "trial_ends_at",
            "ends_at",
        ]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if organization is not None:
            # The widgets read dates in the current time zone; staff mean the organization's.
            for name in ("started_at", "trial_ends_at", "ends_at"):
                value = cleaned.get(name)
                if value is not None:
                    cleaned[name] = timezone.make_aware(
                        timezone.make_naive(value), organization.tzinfo
                    )
        return cleaned


class SubscriptionItemFormSet(TenantInlineFormSet):
    """The items inline; once its rows are valid it hands them to the admin's service call."""

    def __init__(self, *args, apply_items=None, **kwargs):
        self.apply_items = apply_items
        super().__init__(*args, **kwargs)

    def items(self) -> list[dict]:
        """The new item list as the services take it (deleted and empty rows left out)."""
        items = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or (self.can_delete and self._should_delete_form(form)):
                continue
            items.append(
                {
                    "product": data.get("product"),
                    "variant": data.get("variant"),
                    "quantity": data["quantity"],
                    "unit_price": data.get("unit_price"),
                }
            )
        return items

    def clean(self):
        super().clean()
        if any(self.errors) or self.apply_items is None:
            return
        self.apply_items(self)


# --- Inlines -----------------------------------------------------------------


class SubscriptionItemInline(TenantTabularInline):
    model = SubscriptionItem
    formset = SubscriptionItemFormSet
    fields = ["product", "variant", "quantity", "unit_price", "line_total"]
    readonly_fields = ["line_total"]
    min_num = 1

    def _editable(self, request, obj) -> bool:
        return (obj is None or obj.is_native) and self._has(request, "change", obj)

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Removing an item is a change of the subscription, done by staff.
        return self._editable(request, obj)

    def get_extra(self, request, obj=None, **kwargs):
        return 0

    def get_min_num(self, request, obj=None, **kwargs):
        return 1 if self._editable(request, obj) else 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, validate_min=True, **kwargs)
        product = formset.form.base_fields.get("product")
        if obj is not None and product is not None:
            product.queryset = product.queryset.filter(organization_id=obj.organization_id)
        variant = formset.form.base_fields.get("variant")
        if variant is not None:
            variant.queryset = variant.queryset.select_related("product").order_by(
                "product__name", "position", "id"
            )
            if obj is not None:
                variant.queryset = variant.queryset.filter(organization_id=obj.organization_id)
        return formset

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "unit_price" and field is not None:
            field.required = False
            field.help_text = _("Leave empty for the variant's or the product's price.")
        if db_field.name == "product" and field is not None:
            # A variant names its product: choosing the variant is enough.
            field.required = False
            field.help_text = _("A simple product, or leave empty when choosing a variant.")
        return field

    @admin.display(description=gettext_lazy("total"))
    def line_total(self, item):
        if item.unit_price is None or item.quantity is None:
            return "-"
        return formats.number_format(item.total, 2, use_l10n=True, force_grouping=True)


class ChargeInline(ReadOnlyTenantInline):
    model = Charge
    fields = [
        "cycle",
        "period",
        "amount_with_currency",
        "adjustment",
        "refunded_amount",
        "status",
        "attempts",
        "next_retry_at",
        "failure_reason",
        "external_reference",
        "paid_at",
    ]
    readonly_fields = fields
    ordering = ["-cycle"]
    show_change_link = True

    @admin.display(description=gettext_lazy("period"))
    def period(self, charge):
        return f"{when(charge.period_start)} - {when(charge.period_end)}"

    @admin.display(description=gettext_lazy("amount"))
    def amount_with_currency(self, charge):
        # A shop can charge in another currency than the organization's: always say which.
        return money(charge.amount, charge.currency)


class BoxInline(ReadOnlyTenantInline):
    """The subscription's boxes: in which batch each cycle went, and its parcel."""

    model = BatchLine
    verbose_name = gettext_lazy("box")
    verbose_name_plural = gettext_lazy("boxes")
    fields = ["batch", "cycle", "status", "reason", "carrier", "tracking_number", "delivered"]
    readonly_fields = fields
    ordering = ["-batch__cutoff_at", "-id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("batch", "shipment")

    def _shipment(self, line) -> Shipment | None:
        return getattr(line, "shipment", None)

    @admin.display(description=gettext_lazy("carrier"))
    def carrier(self, line):
        shipment = self._shipment(line)
        return shipment.carrier if shipment else "-"

    @admin.display(description=gettext_lazy("tracking number"))
    def tracking_number(self, line):
        shipment = self._shipment(line)
        return (shipment.tracking_number or "-") if shipment else "-"

    @admin.display(description=gettext_lazy("delivered at"))
    def delivered(self, line):
        shipment = self._shipment(line)
        return when(shipment.delivered_at) if shipment else "-"


def _cycle_state_label(row) -> str:
    labels = {
        CycleState.DUE: _("to charge"),
        CycleState.SKIPPED: _("skipped"),
        CycleState.PAUSED: _("paused"),
        CycleState.CHARGING: _("being charged"),
        CycleState.PAID: _("paid"),
    }
    text = labels.get(row.state, row.state)
    if row.locked:
        text += ", " + _("in a locked batch")
    return text


def _batch_text(batch) -> str:
    """The batch a cycle ships in: a link to it, or the one the calendar will open."""
    name = _("batch of %(date)s") % {"date": formats.date_format(batch.cycle_date)}
    if batch.id is None:
        return format_html("{} ({})", name, _("not open yet"))
    url = reverse("admin:fulfillment_batch_change", args=[batch.id])
    return format_html('<a href="{}">{}</a>', url, name)


def _event_details(event: SubscriptionEvent) -> str:
    data = event.data or {}
    Kind = SubscriptionEvent.Kind

    def instant(key):
        value = data.get(key)
        return when(datetime.fromisoformat(value)) if value else None

    def amount(value):
        # Stored as text ("12.90"): shown as the staff member's locale writes it.
        if value in (None, ""):
            return value
        return formats.number_format(Decimal(str(value)), 2, use_l10n=True, force_grouping=True)

    if event.kind == Kind.ITEMS_CHANGED:
        text = _("total %(old)s → %(new)s") % {
            "old": amount(data.get("old_total")),
            "new": amount(data.get("new_total")),
        }
        proration = data.get("proration")
        if proration:
            text += ", " + _("pro-rata %(net)s") % {"net": amount(proration.get("net"))}
        return text
    if data.get("unsettled_adjustment"):
        # Pro-rata or credit no later charge carries: staff settle it (a charge or a refund).
        left = Decimal(str(data["unsettled_adjustment"]))
        if left > 0:
            return _("%(amount)s still owed, not charged") % {"amount": amount(left)}
        return _("credit of %(amount)s not used") % {"amount": amount(-left)}
    if event.kind == Kind.PAUSED and data.get("resume_at"):
        return _("resumes on %(date)s") % {"date": instant("resume_at")}
    if event.kind in (Kind.SKIPPED, Kind.UNSKIPPED) and data.get("cycle_date"):
        return _("cycle of %(date)s") % {"date": instant("cycle_date")}
    if event.kind == Kind.SCHEDULE_CHANGED and data.get("new"):
        new = data["new"]
        period = new.get("period")
        if period in BillingPeriod.values:
            period = BillingPeriod(period).label
        return _("every %(interval)s %(period)s") % {
            "interval": new.get("interval"),
            "period": period,
        }
    if data.get("failure_reason"):
        return str(data["failure_reason"])
    if data.get("amount") and data.get("cycle") is None:  # a credit, an adjustment: no cycle
        return amount(data["amount"])
    if data.get("amount"):
        return _("cycle %(cycle)s, %(amount)s") % {
            "cycle": data.get("cycle"),
            "amount": amount(data["amount"]),
        }
    if data.get("next_charge_at"):
        return _("next charge %(date)s") % {"date": instant("next_charge_at")}
    return ""


class SubscriptionNoteInline(NoteInline):
    model = SubscriptionNote


#: Reasons the services record themselves (codes), as staff read them.
SYSTEM_REASONS = {"trial": gettext_lazy("trial")}


class EventInline(ReadOnlyTenantInline):
    model = SubscriptionEvent
    fields = ["created_at", "kind", "transition", "actor", "why", "details"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    @admin.display(description=gettext_lazy("reason"))
    def why(self, event):
        return str(SYSTEM_REASONS.get(event.reason, event.reason)) or "-"

    @admin.display(description=gettext_lazy("status"))
    def transition(self, event):
        before = event.get_from_status_display() or "-"
        after = event.get_to_status_display() or "-"
        return before if before == after else f"{before} → {after}"

    @admin.display(description=gettext_lazy("actor"))
    def actor(self, event):
        return event.actor_display()

    @admin.display(description=gettext_lazy("details"))
    def details(self, event):
        return _event_details(event)


# --- Subscriptions -------------------------------------------------------------


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


@admin.register(Subscription)
class SubscriptionAdmin(ServiceActionsAdminMixin, TenantAdmin):
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
        SubscriptionPreferenceInline,  # written through preferences.services (see its module)
        PreferenceChangeInline,
        ChargeInline,
        BoxInline,
        SubscriptionCaseInline,  # after-sales cases (returns.admin)
        SubscriptionSurveyInline,  # satisfaction surveys (satisfaction.admin)
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

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, SubscriptionItemInline) and request.method == "POST":
            kwargs["apply_items"] = lambda formset: self._apply_items(request, formset)
        return kwargs

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # Read by the schedule table (a read-only field, which sees no request).
            obj.may_change_schedule = obj.is_native and self.has_change_permission(request, obj)
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {})}
        if not obj.is_native:
            context["managed_by_shop"] = shop_notice()
        with timezone.override(obj.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if request.method == "POST" and getattr(request, "_subscription_written", False):
            # A service ran while validating, but the page is shown again with
            # errors (another part of the form was wrong): undo it.
            transaction.set_rollback(True)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_form(self, request, form, change):
        # Only called for a valid form, before the inlines are validated.
        request._subscription_form = form
        return super().save_form(request, form, change)

    def save_model(self, request, obj, form, change):
        if not change:
            # The items formset created it through the service (see _apply_items).
            created = request._subscription_created
            for field in obj._meta.concrete_fields:
                obj.__dict__[field.attname] = getattr(created, field.attname)
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        changed = {name: getattr(obj, name) for name in form.changed_data}
        if changed:
            # Neither field is part of the lifecycle: status untouched, an address change recorded.
            services.subscription_change_details(
                subscription=obj, actor=Actor.for_user(request.user), **changed
            )

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
        if formset.model is SubscriptionItem:
            # Written by the service when the formset was validated.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        updated = getattr(request, "_subscription_items_changed", None)
        if updated is None:
            return
        net = updated.adjustment - form.instance.adjustment
        if net:
            message = _(
                "Items changed. A pro-rata adjustment of %(amount)s is carried to the next charge."
            ) % {"amount": money(net, updated.currency)}
        else:
            message = _("Items changed; the next charge uses them.")
        self.message_user(request, message, messages.SUCCESS)

    def _apply_items(self, request, formset) -> None:
        """Create the subscription, or replace its items, through the service.

        Called once the item rows are valid; a refusal becomes form errors, so the
        page is shown again with nothing changed.
        """
        form = getattr(request, "_subscription_form", None)
        if form is None:  # the subscription's own fields are wrong: they are shown first
            return
        actor = Actor.for_user(request.user)
        subscription = formset.instance
        if subscription.pk is None:
            data = form.cleaned_data
            try:
                created = services.subscription_create(
                    organization=data["organization"],
                    customer=data["customer"],
                    items=formset.items(),
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
                raise self._refusal(error, form) from error
            request._subscription_created = created
            request._subscription_written = True
            return
        if not formset.has_changed():
            return
        try:
            updated = services.subscription_change_items(
                subscription=subscription, actor=actor, items=formset.items()
            )
        except ApplicationError as error:
            raise ValidationError(refusal_messages(error)) from error
        request._subscription_items_changed = updated
        request._subscription_written = True

    @staticmethod
    def _refusal(error: ApplicationError, form) -> ValidationError:
        """Put a service's field errors on the form; the rest goes on the items."""
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
        return ValidationError(
            rest or [_("The subscription was not created: see the errors above.")]
        )

    # --- Next cycles ------------------------------------------------------------

    @admin.display(description=gettext_lazy("next cycles"))
    def next_cycles(self, obj):
        """The delivery schedule (`selectors.subscription_schedule`): each cycle's date,
        amount, state and batch, with a Skip or Unskip button where the rules allow, and
        the form moving the next date. The buttons submit the `subscription-schedule`
        form written after the change form (no form inside a form)."""
        if not obj.is_native:
            return _("Charged by the shop.")
        if obj.status in (Status.CANCELED, Status.EXPIRED):
            return _("No upcoming charge: the subscription has ended.")
        if obj.cancel_at_period_end:
            return _("No upcoming charge: the subscription ends with its paid period.")
        tz = obj.organization.tzinfo
        rows = selectors.subscription_schedule(subscription=obj, count=UPCOMING)
        if not rows:
            return _("No upcoming charge.")
        notes = [_("Times in %(timezone)s.") % {"timezone": obj.organization.timezone}]
        if obj.status == Status.PAUSED:
            notes.append(_("Paused: cycles whose date passes before it resumes are not charged."))
            if obj.resume_at is None:
                notes.append(_("No resume date: these cycles follow if it is resumed now."))
        may_act = getattr(obj, "may_change_schedule", False)
        skip_url = self._schedule_url(obj, "skip")
        unskip_url = self._schedule_url(obj, "unskip")
        explained = False
        cells = []
        for row in rows:
            if row.amount is None:
                text = "-"
            else:
                text = money(row.amount, obj.currency)
                if obj.adjustment and row.state == CycleState.DUE and not explained:
                    explained = True
                    items_total = sum((item.total for item in obj.items.all()), ZERO)
                    text += " " + _("(items %(items)s, adjustment %(adjustment)s)") % {
                        "items": money(items_total, obj.currency),
                        "adjustment": money(obj.adjustment, obj.currency),
                    }
            button = ""
            if may_act and (row.can_skip or row.can_unskip):
                button = format_html(
                    '<button type="submit" class="button" form="subscription-schedule" '
                    'formaction="{}" name="cycle" value="{}">{}</button>',
                    skip_url if row.can_skip else unskip_url,
                    row.cycle,
                    _("Skip") if row.can_skip else _("Unskip"),
                )
            cells.append(
                (
                    row.cycle,
                    row.cycle,
                    when(row.starts_at, tz),
                    text,
                    row.state,
                    _cycle_state_label(row),
                    _batch_text(row.batch),
                    button,
                )
            )
        table = format_html(
            '<table class="next-cycles"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th></th></tr></thead><tbody>{}</tbody></table>"
            "<p class='help'>{}</p>",
            _("Cycle"),
            _("Date"),
            _("Amount"),
            _("State"),
            _("Batch"),
            format_html_join(
                "",
                '<tr data-cycle="{}"><td>{}</td><td>{}</td><td>{}</td>'
                '<td class="state-{}">{}</td><td>{}</td><td>{}</td></tr>',
                cells,
            ),
            " ".join(notes),
        )
        if may_act and obj.status == Status.ACTIVE and obj.next_charge_at is not None:
            table += format_html(
                '<p class="move-next-date"><label for="id_schedule_at">{}</label> '
                '<input type="datetime-local" name="at" id="id_schedule_at" '
                'form="subscription-schedule"> '
                '<button type="submit" class="button" form="subscription-schedule" '
                'formaction="{}">{}</button></p><p class="help">{}</p>',
                _("Move the next charge date to"),
                self._schedule_url(obj, "move"),
                _("Move"),
                _(
                    "Later or earlier, not before the end of the paid period nor more than a "
                    "year ahead; the later cycles follow at the same interval."
                ),
            )
        return table

    def _schedule_url(self, obj, action: str) -> str:
        return reverse(
            f"admin:subscriptions_subscription_schedule_{action}",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    def get_urls(self):
        urls = [
            path(
                f"<path:object_id>/schedule/{action}/",
                self.admin_site.admin_view(self.schedule_view),
                {"action": action},
                name=f"subscriptions_subscription_schedule_{action}",
            )
            for action in ("skip", "unskip", "move")
        ]
        return urls + super().get_urls()

    def schedule_view(self, request, object_id, action):
        """A schedule button: POST only, through the service; says what happened."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        change_url = reverse(
            "admin:subscriptions_subscription_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        actor = Actor.for_user(request.user)
        tz = obj.organization.tzinfo
        with timezone.override(tz):
            try:
                if action == "move":
                    form = MoveNextDateForm(request.POST)
                    if not form.is_valid():
                        self.message_user(
                            request, _("Enter the new next charge date."), messages.ERROR
                        )
                        return HttpResponseRedirect(change_url)
                    moved = services.subscription_move_next_date(
                        subscription=obj, actor=actor, at=form.cleaned_data["at"]
                    )
                    message = _("The next charge is moved to %(date)s.") % {
                        "date": when(moved.next_charge_at, tz)
                    }
                else:
                    try:
                        cycle = int(request.POST.get("cycle", ""))
                    except ValueError:
                        cycle = None
                    service = (
                        services.subscription_skip_cycle
                        if action == "skip"
                        else services.subscription_unskip_cycle
                    )
                    done = service(subscription=obj, actor=actor, cycle=cycle)
                    starts_at = when(done.cycle_start(cycle), tz)
                    if action == "skip":
                        message = _(
                            "The cycle of %(date)s is skipped: neither charged nor shipped."
                        ) % {"date": starts_at}
                    else:
                        message = _("The cycle of %(date)s is charged and shipped again.") % {
                            "date": starts_at
                        }
            except ApplicationError as error:
                self.message_user(request, " ".join(refusal_messages(error)), messages.ERROR)
            else:
                self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    # --- Transitions (buttons): crm.fsm_admin.ServiceActionsAdminMixin -------------------

    def admin_actions(self) -> dict:
        return {
            "pause": self._pause,
            "resume": self._resume,
            "skip": self._skip,
            "change_schedule": self._change_schedule,
            "cancel": self._cancel,
            "withdraw_cancellation": self._withdraw_cancellation,
        }

    def may_act(self, request, obj) -> bool:
        return self.has_change_permission(request, obj)

    def actions_refused(self, obj) -> str | None:
        # Only a subscription this back office manages.
        return None if obj.is_native else shop_notice()

    def not_possible_message(self, obj, label: str) -> str:
        return _("“%(action)s” is not possible now: the subscription is %(status)s.") % {
            "action": label,
            "status": obj.get_status_display().lower(),
        }

    def describe_transition(self, obj, name: str) -> str:
        if name == "pause":
            return _(
                "Nothing is charged or shipped until the subscription is resumed, by hand or "
                "on the date given."
            )
        if name == "resume":
            return _(
                "Charging and shipping start again; cycles whose date passed during the pause "
                "are not charged."
            )
        if name == "skip":
            if obj.status == Status.PAUSED and obj.next_due_at is None:
                return _(
                    "Paused with no resume date: the first cycle after the pause is not known "
                    "yet, so it cannot be skipped."
                )
            return _(
                "The next cycle (%(date)s) is neither charged nor shipped; the cycles after it "
                "keep their dates."
            ) % {"date": when(obj.next_due_at)}
        if name == "change_schedule":
            return _(
                "The new frequency counts from the next charge (%(date)s), which stays where it is."
            ) % {"date": when(obj.next_charge_at)}
        if name == "withdraw_cancellation":
            return _(
                "The cancellation at period end is dropped: the subscription renews on "
                "%(date)s as before."
            ) % {"date": when(obj.next_charge_at)}
        if name == "cancel":
            return _(
                "Now: unpaid charges are voided and nothing more is charged or shipped. At the "
                "end of the paid period: the subscription continues until then."
            )
        return ""

    # One per button: call the service, say what happened.

    def _pause(self, obj, actor, data):
        subscription = services.subscription_pause(
            subscription=obj,
            actor=actor,
            resume_at=data.get("resume_at"),
            reason=data.get("reason", ""),
        )
        if subscription.resume_at is not None:
            return _("The subscription is paused until %(date)s, then resumes by itself.") % {
                "date": when(subscription.resume_at)
            }
        return _("The subscription is paused until it is resumed by hand.")

    def _resume(self, obj, actor, data):
        subscription = services.subscription_resume(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The subscription is active again (next charge: %(date)s).") % {
            "date": when(subscription.next_charge_at)
        }

    def _skip(self, obj, actor, data):
        subscription = services.subscription_skip(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The next cycle is skipped (next charge: %(date)s).") % {
            "date": when(subscription.next_due_at)
        }

    def _change_schedule(self, obj, actor, data):
        subscription = services.subscription_change_schedule(
            subscription=obj,
            actor=actor,
            billing_period=data["billing_period"],
            billing_interval=data["billing_interval"],
            reason=data.get("reason", ""),
        )
        return _("The schedule is changed (next charge: %(date)s).") % {
            "date": when(subscription.next_charge_at)
        }

    def _withdraw_cancellation(self, obj, actor, data):
        services.subscription_withdraw_cancellation(
            subscription=obj, actor=actor, reason=data.get("reason", "")
        )
        return _("The cancellation is withdrawn: the subscription continues.")

    def _cancel(self, obj, actor, data):
        at_period_end = data.get("when") == "period_end"
        subscription = services.subscription_cancel(
            subscription=obj,
            actor=actor,
            reason=data.get("reason", ""),
            at_period_end=at_period_end,
        )
        if at_period_end:
            return _(
                "The subscription will be canceled at the end of its paid period (%(date)s)."
            ) % {"date": when(subscription.current_period_end or subscription.next_charge_at)}
        return _("The subscription is canceled.")


# --- Charges -------------------------------------------------------------------


@admin.register(Charge)
class ChargeAdmin(ActionsOnlyTenantAdmin):
    """Charges are written by renewals and services; staff record manual payments here."""

    list_display = [
        "id",
        "subscription_link",
        "customer",
        "cycle",
        "period_start",
        "amount_column",
        "status",
        "attempts",
        "next_retry_at",
        "gateway",
        "paid_at",
    ]
    list_filter = ["status", "gateway"]
    search_fields = ["subscription__customer__email", "external_reference"]
    list_select_related = ["organization", "subscription__customer"]
    actions = ["mark_paid", "mark_failed"]

    def lookup_allowed(self, lookup, value, request=None):
        # A customer's page links to their charges (dashboard.views.customer_page).
        if lookup == "subscription__customer__id__exact":
            return True
        return super().lookup_allowed(lookup, value, request)

    fields = [
        "organization",
        "subscription",
        "cycle",
        "period_start",
        "period_end",
        "amount",
        "adjustment",
        "refunded_amount",
        "currency",
        "status",
        "attempts",
        "first_failed_at",
        "next_retry_at",
        "failure_reason",
        "gateway",
        "external_reference",
        "paid_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("subscription"), ordering="subscription_id")
    def subscription_link(self, charge):
        url = reverse("admin:subscriptions_subscription_change", args=[charge.subscription_id])
        return format_html('<a href="{}">#{}</a>', url, charge.subscription_id)

    @admin.display(description=gettext_lazy("customer"))
    def customer(self, charge):
        return charge.subscription.customer.email

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_column(self, charge):
        return money(charge.amount, charge.currency)

    def _each(self, request, queryset, apply, done_message) -> None:
        actor = Actor.for_user(request.user)
        done = 0
        for charge in queryset.select_related("subscription").order_by("pk"):
            refused = None
            if not self._has(request, "change", charge):
                refused = _("you may not change it.")
            elif not charge.subscription.is_native:
                refused = _("it is charged by the WooCommerce shop.")
            else:
                try:
                    apply(charge, actor)
                except ApplicationError as error:
                    refused = " ".join(refusal_messages(error))
            if refused is None:
                done += 1
            else:
                self.message_user(
                    request,
                    _("Charge %(charge)s: %(error)s") % {"charge": charge, "error": refused},
                    messages.ERROR,
                )
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=gettext_lazy("Mark paid"), permissions=["change"])
    def mark_paid(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda charge, actor: services.charge_mark_paid(charge=charge, actor=actor),
            lambda n: (
                ngettext("%(count)d charge marked paid.", "%(count)d charges marked paid.", n)
                % {"count": n}
            ),
        )

    @admin.action(description=gettext_lazy("Mark failed"), permissions=["change"])
    def mark_failed(self, request, queryset):
        form = ChargeFailureForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(
                request,
                queryset,
                lambda charge, actor: services.charge_mark_failed(
                    charge=charge, actor=actor, reason=reason
                ),
                lambda n: (
                    ngettext(
                        "%(count)d charge marked failed.", "%(count)d charges marked failed.", n
                    )
                    % {"count": n}
                ),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Mark charges failed"),
            "rows": [
                (
                    charge.pk,
                    f"{charge} ({charge.subscription.customer.email}, "
                    f"{charge.get_status_display()})",
                )
                for charge in queryset.select_related("subscription__customer")
            ],
            "action": "mark_failed",
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/action_form.html", context)


# --- Billing settings ------------------------------------------------------------


@admin.register(BillingSettings)
class BillingSettingsAdmin(TenantAdmin):
    """How each organization charges: its administrators choose; everyone may read."""

    required_roles = {
        "view": Role.VIEWER,
        "add": Role.ADMIN,
        "change": Role.ADMIN,
        "delete": Role.ADMIN,
    }
    list_display = ["organization", "gateway", "retry_days_column"]
    list_filter = ["gateway"]
    fields = ["organization", "gateway", "retry_days"]

    @admin.display(description=gettext_lazy("dunning retries (days after the first failure)"))
    def retry_days_column(self, row):
        return ", ".join(str(day) for day in row.retry_days)
