"""The cases' pages: opened by `return_open`, moved on by their buttons, never edited."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_display import customer_label, items_text, person
from crm.fsm_admin import (
    PageRefused,
    ServiceActionsAdminMixin,
    ServicePageAdminMixin,
    form_errors,
    refusal_messages,
)
from crm.models import Organization
from crm.tenant_admin import (
    OrganizationTimeChangeViewMixin,
    TenantAdmin,
    money,
    when,
)
from fulfillment.models import Shipment
from returns import services
from returns.admin.filters import (
    AssigneeListFilter,
    MyCasesListFilter,
    OverdueListFilter,
    ReasonListFilter,
)
from returns.admin.forms import (
    AddNoteForm,
    CancelForm,
    NoteForm,
    ReassignForm,
    RejectForm,
    ResolveForm,
    ReturnOpenForm,
    amount_text,
    shipment_summary,
)
from returns.admin.inlines import ReturnNoteInline
from returns.files import photo_response
from returns.models import ReturnNote, ReturnReason, ReturnRequest

Resolution = ReturnRequest.Resolution
NoteKind = ReturnNote.Kind

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
class ReturnRequestAdmin(
    OrganizationTimeChangeViewMixin, ServicePageAdminMixin, ServiceActionsAdminMixin, TenantAdmin
):
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
                    "photos_column",
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
            field.queryset = services.assignable_users(organization_ids=writable)
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

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/photo/",
                self.admin_site.admin_view(self.photo_view),
                name=f"{opts.app_label}_{opts.model_name}_photo",
            ),
            *super().get_urls(),
        ]

    def photo_view(self, request, object_id):
        """One of the case's photos (`?photo=<id>`), streamed: `get_object` answers 404 for
        another organization's case, and the photo is looked up among this case's only."""
        case = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, case):
            raise Http404
        photo_id = request.GET.get("photo", "")
        photo = case.photos.filter(pk=int(photo_id)).first() if photo_id.isdigit() else None
        if photo is None:
            raise Http404
        return photo_response(photo)

    @admin.display(description=gettext_lazy("photos"))
    def photos_column(self, case):
        photos = list(case.photos.all())
        if not photos:
            return "-"
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_photo",
            args=[case.pk],
            current_app=self.admin_site.name,
        )
        return format_html_join(
            " ",
            '<a href="{0}?photo={1}" class="case-photo"><img src="{0}?photo={1}" alt="{2}" '
            'width="160"></a>',
            ((url, photo.pk, str(photo)) for photo in photos),
        )

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
                "amount": amount_text(case.amount),
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
