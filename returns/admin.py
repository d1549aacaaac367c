"""The back office's after-sales pages: return settings, reasons, and the cases.

- Return settings are one row per organization (window, service level, default
  assignee), and reasons an editable list (code, label, translated labels,
  order); both are chosen by the organization's administrators, and a reason
  is retired, never deleted. An organization reaching these pages for the
  first time finds its settings and the default reasons
  (`services.return_config_ensure`).
- Cases are listed with their due date (late ones flagged), filtered by
  status, reason, assignee, "overdue" and "my cases". The add form calls
  `services.return_open`: a refusal (outside the return window without a
  reason, a case already open...) is shown on the form and nothing is written.
  A case's page is read-only: its timeline below, and its buttons (Approve,
  Reject, Mark received, Resolve, Cancel, Reassign, Add a note, Refund made in
  the shop) each open a short form calling the matching service
  (`crm.fsm_admin.ServiceActionsAdminMixin`). Viewers see no button.

Times on a case's pages are in its organization's time zone.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_display import customer_label, items_text, person, visible_organizations
from crm.fsm_admin import ServiceActionsAdminMixin, form_errors, refusal_messages
from crm.models import Organization
from crm.service_form_admin import PageRefused, ServicePageAdminMixin, show_refusal
from crm.tenant_admin import (
    ADMINS_DECIDE,
    ReadOnlyTenantInline,
    TenantAdmin,
    labels_text,
    money,
    organization_roles,
    when,
)
from fulfillment.models import Shipment
from preferences.forms import LABEL_FIELDS, TranslatedLabelsMixin, with_language_labels
from returns import services
from returns.models import ReturnConfig, ReturnNote, ReturnReason, ReturnRequest

Status = ReturnRequest.Status
Resolution = ReturnRequest.Resolution
NoteKind = ReturnNote.Kind

#: Settings and reasons: the organization's administrators decide, everyone may read.


def _amount(value) -> str:
    """An amount without its currency, as the staff member's locale writes it."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def assignable_users(organization_ids):
    """The members who may own cases (admin or staff) of these organizations."""
    return services.assignable_users(organization_ids=organization_ids)


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
            field.queryset = assignable_users(organizations)
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
class ReturnReasonAdmin(TenantAdmin):
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


# --- Cases: list filters ----------------------------------------------------------------


class MyCasesListFilter(admin.SimpleListFilter):
    title = gettext_lazy("my cases")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("me", _("Assigned to me")), ("nobody", _("Assigned to nobody"))]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class OverdueListFilter(admin.SimpleListFilter):
    title = pgettext_lazy("list filter", "overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        late = Q(status__in=ReturnRequest.OPEN, due_at__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class ReasonListFilter(admin.SimpleListFilter):
    """The reasons of the organizations the user sees, retired ones included."""

    title = gettext_lazy("reason")
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        reasons = ReturnReason.objects.select_related("organization").order_by(
            "organization__name", "position", "id"
        )
        visible = visible_organizations(request, model_admin)
        if visible is not None:
            reasons = reasons.filter(organization_id__in=visible)
        reasons = list(reasons)
        several = len({reason.organization_id for reason in reasons}) > 1
        choices = []
        for reason in reasons:
            label = reason.display_label
            if not reason.active:
                label = _("%(label)s (retired)") % {"label": label}
            if several:
                label = f"{reason.organization}: {label}"
            choices.append((str(reason.pk), label))
        return choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(reason_id=int(self.value()))
        except ValueError:
            return queryset.none()


class AssigneeListFilter(admin.SimpleListFilter):
    """Who may own the cases the user sees, and who owns one of them now."""

    title = gettext_lazy("assignee")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        visible = visible_organizations(request, model_admin)
        users = get_user_model().objects.all()
        if visible is None:
            users = users.filter(
                Q(memberships__role__in=services.ASSIGNABLE_ROLES)
                | Q(return_requests__isnull=False)
            )
        else:
            users = users.filter(
                Q(
                    memberships__organization_id__in=visible,
                    memberships__role__in=services.ASSIGNABLE_ROLES,
                )
                | Q(return_requests__organization_id__in=visible)
            )
        users = users.distinct().order_by("first_name", "last_name", "username")
        return [(str(user.pk), person(user)) for user in users]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(assignee_id=int(self.value()))
        except ValueError:
            return queryset.none()


# --- Cases: the add form ----------------------------------------------------------------

# "COF-250 2", "COF-250 x 2" (or the multiplication sign).
ITEM_LINE = re.compile(r"(?P<sku>.+?)\s+(?:[x\u00d7]\s*)?(?P<quantity>\d+)")


def parse_items(text: str, box: list[dict[str, Any]]) -> list[dict[str, int]]:
    """The "SKU quantity" lines staff type, as the products (or variants: the box names a
    variant by its own SKU) of the box the service takes."""
    by_sku = {str(item.get("sku") or "").casefold(): item for item in box if item.get("sku")}
    chosen = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        match = ITEM_LINE.fullmatch(line)
        if match is None:
            raise ValidationError(
                _("Write each line as a SKU and a quantity, e.g. “%(example)s”: not “%(line)s”.")
                % {"example": example_line(box), "line": line}
            )
        item = by_sku.get(match["sku"].strip().casefold())
        if item is None:
            raise ValidationError(
                _("%(sku)s was not in this box, which held: %(items)s.")
                % {"sku": match["sku"].strip(), "items": box_text(box)}
            )
        chosen.append(
            {
                "product": item["product"],
                "variant": item.get("variant"),
                "quantity": int(match["quantity"]),
            }
        )
    return chosen


def box_text(box: list[dict[str, Any]]) -> str:
    """A box's content with the SKUs staff type: "2 x Coffee (COF-1), 1 x Filters (FIL)"."""
    return (
        ", ".join(
            f"{item.get('quantity')} x {item.get('name') or item.get('product')}"
            + (f" ({item['sku']})" if item.get("sku") else "")
            for item in box
        )
        or "-"
    )


def example_line(box: list[dict[str, Any]]) -> str:
    sku = next((item["sku"] for item in box if item.get("sku")), "COF-250")
    return f"{sku} 1"


def shipment_summary(shipment: Shipment) -> str:
    """What staff check before opening a case: who, when delivered, the window, the box."""
    organization = shipment.organization
    config = services.return_config_ensure(organization=organization)
    tz = organization.tzinfo
    last_day = services.window_last_day(config=config, shipment=shipment)
    today = timezone.now().astimezone(tz).date()
    if shipment.delivered_at:
        sent = _("delivered on %(date)s") % {
            "date": formats.date_format(shipment.delivered_at.astimezone(tz).date())
        }
    elif shipment.shipped_at:
        sent = _("shipped on %(date)s, never reported delivered") % {
            "date": formats.date_format(shipment.shipped_at.astimezone(tz).date())
        }
    else:
        sent = _("not shipped yet")
    if last_day is None:
        window = ""
    elif today > last_day:
        window = _(
            "The return window closed on %(date)s: accepting the request needs a reason below."
        ) % {"date": formats.date_format(last_day)}
    else:
        window = _("The return window is open until the end of %(date)s.") % {
            "date": formats.date_format(last_day)
        }
    return " ".join(
        part
        for part in (
            _("%(shipment)s to %(customer)s, %(sent)s.")
            % {
                "shipment": shipment,
                "customer": customer_label(shipment.customer),
                "sent": sent,
            },
            window,
            _("The box held: %(items)s.") % {"items": box_text(shipment.line.items or [])},
        )
        if part
    )


class ReturnOpenForm(forms.ModelForm):
    """What `return_open` takes; the organization is the shipment's."""

    items = forms.CharField(
        label=gettext_lazy("Items concerned"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=gettext_lazy(
            "One product per line: its SKU (a variant's own SKU for a product sold by "
            "variant) and the quantity, e.g. “COF-250 2”. Leave empty when the whole box is "
            "concerned."
        ),
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Accepted outside the return window because"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=gettext_lazy(
            "Only needed outside the return window: why the request is accepted anyway. "
            "It is kept in the case's timeline."
        ),
    )

    class Meta:
        model = ReturnRequest
        fields = ["shipment", "reason", "description", "assignee"]
        help_texts = {
            "assignee": gettext_lazy("Leave empty for the organization's default assignee."),
        }

    def clean(self):
        cleaned = super().clean()
        shipment = cleaned.get("shipment")
        if shipment is not None and "items" not in self.errors:
            # The lines staff typed, as the service takes them.
            try:
                cleaned["chosen_items"] = parse_items(
                    cleaned.get("items", ""), shipment.line.items or []
                )
            except ValidationError as error:
                self.add_error("items", error)
        return cleaned


# --- Cases: the buttons' forms -------------------------------------------------------------


class CaseForm(forms.Form):
    """A button's form; `case` is the case acted on."""

    def __init__(self, *args, case=None, **kwargs):
        self.case = case
        super().__init__(*args, **kwargs)


class NoteForm(CaseForm):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Optional; kept in the timeline."),
    )


class ReasonForm(CaseForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class RejectForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service requires it and says so; the label shows it.
        self.fields["reason"].help_text = _("Required: what the customer is told.")


class CancelForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = _("Optional, e.g. withdrawn by the customer.")


class ResolveForm(CaseForm):
    resolution = forms.ChoiceField(label=gettext_lazy("Resolution"), choices=Resolution.choices)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        required=False,
        max_digits=10,
        decimal_places=2,
        localize=True,
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, case=case, **kwargs)
        amount = self.fields["amount"]
        help_text = _("For a refund or a credit, in %(currency)s; ignored otherwise.") % {
            "currency": case.currency if case else ""
        }
        charge = case.line.charge if case is not None else None
        if charge is not None:
            refundable = charge.refundable
            help_text += " " + _(
                "The box's charge (%(amount)s %(currency)s) can still refund %(refundable)s."
            ) % {
                "amount": _amount(charge.amount),
                "currency": charge.currency,
                "refundable": _amount(refundable),
            }
            if refundable > 0:
                amount.initial = refundable
        amount.help_text = help_text

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("resolution") not in (Resolution.REFUND, Resolution.CREDIT):
            cleaned["amount"] = None  # the prefilled refund does not apply
        return cleaned


class ReassignForm(CaseForm):
    assignee = forms.ModelChoiceField(
        label=gettext_lazy("Assignee"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=gettext_lazy("Nobody"),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, case=case, **kwargs)
        field = self.fields["assignee"]
        if case is not None:
            field.queryset = assignable_users([case.organization_id])
            field.initial = case.assignee_id
        field.label_from_instance = person


class AddNoteForm(CaseForm):
    text = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )


# --- Cases: the timeline and a subscription's cases ------------------------------------------


class ReturnNoteInline(ReadOnlyTenantInline):
    """The case's timeline, oldest first; times in the organization's (set by the page)."""

    model = ReturnNote
    fk_name = "request"
    verbose_name = gettext_lazy("timeline entry")
    verbose_name_plural = gettext_lazy("timeline")
    fields = ["when_column", "kind", "status_change", "text_column", "who"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor_user")

    @admin.display(description=gettext_lazy("when"))
    def when_column(self, note):
        return when(note.created_at)

    @admin.display(description=gettext_lazy("status"))
    def status_change(self, note):
        if not note.from_status:
            return "-"
        return f"{note.get_from_status_display()} → {note.get_to_status_display()}"

    @admin.display(description=gettext_lazy("text"))
    def text_column(self, note):
        data = note.data or {}
        parts = []
        if note.kind == NoteKind.ASSIGNED:
            parts.append(_("To %(name)s.") % {"name": person(self._user(note, "assignee"))})
        if note.kind == NoteKind.OPENED and data.get("items"):
            parts.append(_("Items: %(items)s.") % {"items": items_text(data["items"])})
        if note.kind == NoteKind.STATUS and data.get("resolution") in Resolution.values:
            parts.append(Resolution(data["resolution"]).label + ".")
        if note.text:
            parts.append(note.text)
        if note.kind == NoteKind.OVERRIDE and data.get("window_closed_on"):
            closed = formats.date_format(date.fromisoformat(data["window_closed_on"]))
            parts.append(_("(The window closed on %(date)s.)") % {"date": closed})
        return " ".join(str(part) for part in parts) or "-"

    @admin.display(description=gettext_lazy("who"))
    def who(self, note):
        if note.actor_user is not None:
            return person(note.actor_user)
        return note.actor_display()

    def _user(self, note, key):
        """The user a note's data names, the case's ones read in one query."""
        users = getattr(self, "_users", None)
        if users is None:
            ids = set()
            for data in ReturnNote.objects.filter(
                request_id=note.request_id, kind=NoteKind.ASSIGNED
            ).values_list("data", flat=True):
                ids.update(value for value in (data or {}).values() if isinstance(value, int))
            users = self._users = get_user_model().objects.in_bulk(ids)
        return users.get((note.data or {}).get(key))


class SubscriptionCaseInline(ReadOnlyTenantInline):
    """A subscription's after-sales cases (`subscriptions.admin.SubscriptionAdmin`)."""

    model = ReturnRequest
    fk_name = "subscription"
    verbose_name = gettext_lazy("after-sales case")
    verbose_name_plural = gettext_lazy("after-sales cases")
    fields = ["case_link", "status", "reason", "opened", "assignee_column", "resolution"]
    readonly_fields = fields
    ordering = ["-opened_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reason", "assignee")

    @admin.display(description=gettext_lazy("case"))
    def case_link(self, case):
        url = reverse("admin:returns_returnrequest_change", args=[case.pk])
        return format_html('<a href="{}" class="return-case">{}</a>', url, case)

    @admin.display(description=gettext_lazy("opened"))
    def opened(self, case):
        return when(case.opened_at)

    @admin.display(description=gettext_lazy("assignee"))
    def assignee_column(self, case):
        return person(case.assignee) if case.assignee_id else "-"


# --- Cases --------------------------------------------------------------------------------


def overdue_flag(case: ReturnRequest, now=None):
    """ "overdue 2 days" in red for an open case past its due date; empty otherwise."""
    now = now or timezone.now()
    if not case.is_overdue(now):
        return ""
    days = (now - case.due_at).days
    text = (
        ngettext("overdue %(count)d day", "overdue %(count)d days", days) % {"count": days}
        if days
        else _("overdue")
    )
    return format_html('<strong class="overdue">{}</strong>', text)


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ServicePageAdminMixin, ServiceActionsAdminMixin, TenantAdmin):
    """Cases are opened by `return_open` and moved on by their buttons; never edited by hand."""

    organization_column = True  # for staff of several organizations

    change_form_template = "admin/returns/returnrequest/change_form.html"
    action_form_object = "case"
    default_action_form = NoteForm
    fsm_forms = {
        "approve": NoteForm,
        "reject": RejectForm,
        "receive": NoteForm,
        "resolve": ResolveForm,
        "cancel": CancelForm,
        "reassign": ReassignForm,
        "add_note": AddNoteForm,
        "confirm_shop_refund": NoteForm,
    }
    action_labels = {
        "approve": gettext_lazy("Approve"),
        "reject": gettext_lazy("Reject"),
        "receive": gettext_lazy("Mark received"),
        "resolve": gettext_lazy("Resolve"),
        "cancel": gettext_lazy("Cancel"),
        "reassign": gettext_lazy("Reassign"),
        "add_note": gettext_lazy("Add a note"),
        "confirm_shop_refund": gettext_lazy("Refund made in the shop"),
    }

    list_display = [
        "case_column",
        "customer_column",
        "shipment_column",
        "reason_column",
        "status",
        "assignee_column",
        "due_column",
        "opened_column",
    ]
    list_display_links = ["case_column"]
    list_filter = [
        MyCasesListFilter,
        "status",
        OverdueListFilter,
        ReasonListFilter,
        AssigneeListFilter,
    ]
    list_select_related = ["organization", "customer", "shipment", "reason", "assignee"]
    search_fields = [
        "customer__email",
        "customer__first_name",
        "customer__last_name",
        "shipment__tracking_number",
    ]
    search_help_text = gettext_lazy(
        "A case number, a customer's name or e-mail, or a tracking number."
    )
    raw_id_fields = ["shipment"]
    add_fields = [
        "shipment",
        "reason",
        "description",
        "items",
        "assignee",
        "override_reason",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "organization",
                    "status",
                    "customer",
                    "shipment",
                    "subscription",
                    "reason_column",
                    "description",
                    "items_column",
                    "assignee_column",
                    "due_column",
                    "opened_at",
                    "closed_at",
                    "window_column",
                ]
            },
        ),
        (
            gettext_lazy("Resolution"),
            {
                "fields": [
                    "resolution",
                    "amount_column",
                    "refund",
                    "charge_column",
                    "replacement_column",
                ]
            },
        ),
    ]

    # --- Permissions: nobody edits a case; staff act on it through its buttons.

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- Changelist

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        terms = [term.lstrip("#") for term in search_term.split()]
        numbers = [int(term) for term in terms if term.isdigit()]
        if numbers:
            results = results | queryset.filter(pk__in=numbers)
        return results, may_have_duplicates

    @admin.display(description=gettext_lazy("case"), ordering="id")
    def case_column(self, case):
        return str(case)

    @admin.display(description=gettext_lazy("customer"), ordering="customer__email")
    def customer_column(self, case):
        return customer_label(case.customer)

    @admin.display(description=gettext_lazy("shipment"), ordering="shipment_id")
    def shipment_column(self, case):
        url = reverse("admin:fulfillment_shipment_change", args=[case.shipment_id])
        shipment = case.shipment
        label = (
            f"{shipment} ({shipment.tracking_number})"
            if shipment.tracking_number
            else str(shipment)
        )
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=gettext_lazy("reason"), ordering="reason__position")
    def reason_column(self, case):
        return case.reason.display_label

    @admin.display(description=gettext_lazy("assignee"), ordering="assignee__username")
    def assignee_column(self, case):
        return person(case.assignee) if case.assignee_id else "-"

    @admin.display(description=gettext_lazy("due"), ordering="due_at")
    def due_column(self, case):
        due = when(case.due_at, case.organization.tzinfo)
        flag = overdue_flag(case)
        return format_html("{} {}", due, flag) if flag else due

    @admin.display(description=gettext_lazy("opened"), ordering="opened_at")
    def opened_column(self, case):
        return when(case.opened_at, case.organization.tzinfo)

    # --- The add form

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.add_fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    def get_inlines(self, request, obj):
        return [] if obj is None else [ReturnNoteInline]

    def add_view(self, request, form_url="", extra_context=None):
        services.return_configs_ensure(organization_ids=self._writable(request))
        return super().add_view(request, form_url, extra_context)

    def _writable(self, request):
        if request.user.is_superuser:
            return Organization.objects.values_list("pk", flat=True)
        return self._allowed(request, "add")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is None:
            return field
        writable = self._writable(request)
        if db_field.name == "shipment":
            field.queryset = (
                Shipment.objects.filter(organization_id__in=writable)
                .exclude(status=Shipment.Status.CREATED)
                .select_related("organization", "customer", "line")
            )
        elif db_field.name == "reason":
            several = len(set(writable)) > 1
            field.queryset = (
                ReturnReason.objects.filter(organization_id__in=writable, active=True)
                .select_related("organization")
                .order_by("organization__name", "position", "id")
            )
            field.label_from_instance = (
                (lambda reason: f"{reason.organization}: {reason.display_label}")
                if several
                else (lambda reason: reason.display_label)
            )
        elif db_field.name == "assignee":
            field.queryset = assignable_users(writable)
            field.label_from_instance = person
        return field

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        shipment = self._prefilled_shipment(request)
        if "shipment" in initial and shipment is None:
            del initial["shipment"]  # not one of the user's: nothing to show of it
        return initial

    def _prefilled_shipment(self, request) -> Shipment | None:
        """The shipment named by `?shipment=` (or posted), if the user may open a case on it."""
        value = request.POST.get("shipment") or request.GET.get("shipment")
        if not value or not str(value).isdigit():
            return None
        return (
            Shipment.objects.filter(pk=int(value), organization_id__in=self._writable(request))
            .exclude(status=Shipment.Status.CREATED)
            .select_related("organization", "customer", "line")
            .first()
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change, **kwargs)
        kwargs["form"] = ReturnOpenForm
        form_class = super().get_form(request, obj, change, **kwargs)
        shipment = self._prefilled_shipment(request)
        if shipment is not None:
            form_class.base_fields["shipment"].help_text = shipment_summary(shipment)
        return form_class

    def save_page(self, request, form, formsets, change):
        """Open the case through the service; a refusal is shown on the form."""
        data = form.cleaned_data
        shipment = data["shipment"]
        try:
            return services.return_open(
                organization=shipment.organization,
                shipment=shipment,
                reason=data["reason"],
                actor=Actor.for_user(request.user),
                description=data.get("description", ""),
                items=data.get("chosen_items") or None,
                assignee=data["assignee"] if data.get("assignee") else services.UNSET,
                override_reason=data.get("override_reason", ""),
            )
        except ApplicationError as error:
            fitted = form_errors(form, error)
            # The service's sentence, unless it only says which fields are wrong.
            said = refusal_messages(error) if fitted else []
            if not fitted or (error.message not in said and error.extra.keys() - {"fields"}):
                form.add_error(None, error.message)
            raise PageRefused from error

    def response_add(self, request, obj, post_url_continue=None):
        if IS_POPUP_VAR in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            _("%(case)s is open, due %(due)s.")
            % {"case": obj, "due": when(obj.due_at, obj.organization.tzinfo)},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(obj))

    # --- The change page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, unquote(object_id))
        with timezone.override(case.organization.tzinfo):
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse) and not response.is_rendered:
                response.render()
        return response

    @admin.display(description=gettext_lazy("items returned"))
    def items_column(self, case):
        if not case.items:
            return _("The whole box: %(items)s") % {"items": items_text(case.line.items)}
        return items_text(case.items)

    @admin.display(description=gettext_lazy("accepted outside the window because"))
    def window_column(self, case):
        return case.window_override or _("No: requested within the return window.")

    @admin.display(description=gettext_lazy("amount"))
    def amount_column(self, case):
        return "-" if case.amount is None else money(case.amount, case.currency)

    @admin.display(description=gettext_lazy("charge refunded"))
    def charge_column(self, case):
        charge = case.charge
        if charge is None:
            return "-"
        url = reverse("admin:subscriptions_charge_change", args=[charge.pk])
        return format_html(
            '<a href="{}">{}</a> {}',
            url,
            _("Cycle %(cycle)s: %(amount)s")
            % {"cycle": charge.cycle, "amount": money(charge.amount, charge.currency)},
            _("(refunded so far: %(refunded)s)")
            % {"refunded": money(charge.refunded_amount, charge.currency)},
        )

    @admin.display(description=gettext_lazy("replacement box"))
    def replacement_column(self, case):
        line = case.replacement_line
        if line is None:
            return "-"
        url = reverse("admin:fulfillment_batchline_change", args=[line.pk])
        return format_html(
            '<a href="{}" class="replacement-line">{}</a> ({}, {})',
            url,
            line,
            line.batch,
            line.get_status_display(),
        )

    # --- Buttons (crm.fsm_admin.ServiceActionsAdminMixin)

    def admin_actions(self) -> dict:
        return {
            "approve": self._approve,
            "reject": self._reject,
            "receive": self._receive,
            "resolve": self._resolve,
            "cancel": self._cancel,
            "reassign": self._reassign,
            "add_note": self._add_note,
            "confirm_shop_refund": self._confirm_shop_refund,
        }

    def action_available(self, case, name: str) -> bool:
        if name == "reassign":
            return case.is_open
        if name == "add_note":
            return True
        if name == "confirm_shop_refund":
            return case.refund == ReturnRequest.Refund.TO_REFUND_IN_SHOP
        return super().action_available(case, name)

    def not_possible_message(self, case, label: str) -> str:
        return _("“%(action)s” is not possible now: the case is %(status)s.") % {
            "action": label,
            "status": case.get_status_display().lower(),
        }

    def describe_transition(self, case, name: str) -> str:
        descriptions = {
            "approve": _(
                "The request is agreed: the customer may send the goods back. The case can "
                "also be resolved at once, the goods staying with the customer."
            ),
            "reject": _("The request is refused; the reason is what the customer is told."),
            "receive": _("The goods came back."),
            "resolve": _(
                "Refund: recorded against the box's charge (for a WooCommerce order: to be "
                "made in the shop). Credit: deducted from the next charge. Replacement: a box "
                "with the items concerned joins the open batch. Nothing owed: the case closes."
            ),
            "cancel": _("The request is withdrawn by the customer, or was opened by mistake."),
            "reassign": _("Who owns the case from now on; they get it in their overdue list."),
            "add_note": _("A note in the case's timeline."),
        }
        if name == "confirm_shop_refund":
            charge = case.charge
            return _(
                "The refund of %(amount)s %(currency)s owed on WooCommerce order %(order)s "
                "was made in the shop."
            ) % {
                "amount": _amount(case.amount),
                "currency": case.currency,
                "order": (charge.external_reference if charge else "") or "?",
            }
        return descriptions.get(name, "")

    # One per button: call the service, say what happened.

    def _approve(self, case, actor, data):
        services.return_approve(case=case, actor=actor, note=data.get("note", ""))
        return _("%(case)s is approved.") % {"case": case}

    def _reject(self, case, actor, data):
        services.return_reject(case=case, actor=actor, reason=data.get("reason", ""))
        return _("%(case)s is rejected.") % {"case": case}

    def _receive(self, case, actor, data):
        services.return_receive(case=case, actor=actor, note=data.get("note", ""))
        return _("The goods of %(case)s are received.") % {"case": case}

    def _resolve(self, case, actor, data):
        resolved = services.return_resolve(
            case=case,
            actor=actor,
            resolution=data["resolution"],
            amount=data.get("amount"),
            note=data.get("note", ""),
        )
        effect = (
            resolved.notes.filter(kind__in=[NoteKind.REFUND, NoteKind.CREDIT, NoteKind.REPLACEMENT])
            .order_by("-id")
            .values_list("text", flat=True)
            .first()
        )
        message = _("%(case)s is resolved: %(resolution)s.") % {
            "case": case,
            "resolution": resolved.get_resolution_display().lower(),
        }
        return f"{message} {effect}" if effect else message

    def _cancel(self, case, actor, data):
        services.return_cancel(case=case, actor=actor, reason=data.get("reason", ""))
        return _("%(case)s is canceled.") % {"case": case}

    def _reassign(self, case, actor, data):
        updated = services.return_reassign(case=case, actor=actor, assignee=data.get("assignee"))
        return _("%(case)s is assigned to %(name)s.") % {
            "case": case,
            "name": person(updated.assignee),
        }

    def _add_note(self, case, actor, data):
        services.return_add_note(case=case, actor=actor, text=data.get("text", ""))
        return _("The note is added to the timeline.")

    def _confirm_shop_refund(self, case, actor, data):
        services.return_confirm_shop_refund(case=case, actor=actor, note=data.get("note", ""))
        return _("The refund of %(case)s is recorded as made in the shop.") % {"case": case}
