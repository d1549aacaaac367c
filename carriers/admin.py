"""The carriers in the back office: the carrier account and the parcels of each batch.

The account's page takes the platform's keys, which are never sent back to the
browser (their inputs are always empty, an empty input keeps what is stored,
the page only says whether each is set), and the shipping settings; like a
shop's connection, it is its organization's administrators' (others read it).

Parcels are written by the labels runs and only read here: the list shows each
box's label, tracking link or the platform's message, filtered by batch and
state. A refused box's page takes a corrected address (staff), and the next
"Create labels" labels it. "Create labels" itself is a link on the locked batch's
page (`crm.object_tools`), served here: staff of the batch's organization.
"Print labels" beside it (and the boxes list's action for a selection) serves
the merged labels as one PDF to anyone who reads the batch; when boxes of it
have no label, a page names them first, and the file holds the others.

An account on the fictitious platform (`carriers/platforms/demo.py`) says so on its
page and its parcels' pages, and its parcels' labels are drawn here (`<id>/label/`).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carriers import selectors, services
from carriers.models import CarrierAccount, CarrierDelivery, CountryShippingMethod, Parcel
from carriers.platforms import demo as demo_platform
from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_secrets import SecretFieldsForm, secret_state
from crm.models import Address
from crm.object_tools import register
from crm.tenant_admin import (
    ADMINS_DECIDE,
    REQUIRED_ROLE,
    ReadOnlyAdminMixin,
    ReadOnlyTenantInline,
    TenantAdmin,
    TenantTabularInline,
    organizations_allowing,
)
from fulfillment.models import Batch, BatchLine, Shipment, line_pk_from_code

SECRET_FIELDS = ("public_key", "secret_key")


class CarrierAccountForm(SecretFieldsForm):
    """The account's settings; its keys are write-only (left empty, the stored one stays)."""

    secret_fields = SECRET_FIELDS

    class Meta:
        model = CarrierAccount
        fields = [
            "organization",
            "platform",
            "active",
            *SECRET_FIELDS,
            "shipping_method",
            "sender_address_id",
            "packaging_grams",
            "label_format",
        ]

    def clean_platform(self):
        platform = self.cleaned_data["platform"]
        if platform == CarrierAccount.Platform.DEMO and not demo_platform.allowed():
            raise forms.ValidationError(demo_platform.refusal(), code="demo_not_allowed")
        return platform


class CountryShippingMethodInline(TenantTabularInline):
    model = CountryShippingMethod
    required_roles = ADMINS_DECIDE  # part of the account's settings
    fields = ["country", "shipping_method"]
    extra = 1


@admin.register(CarrierAccount)
class CarrierAccountAdmin(TenantAdmin):
    # The connection: administrators only (everyone reads the page, never the keys).
    required_roles = ADMINS_DECIDE
    form = CarrierAccountForm
    inlines = [CountryShippingMethodInline]
    organization_column = True
    list_display = ["__str__", "active", "shipping_method", "packaging_grams", "label_format"]
    list_filter = ["active"]
    secret_states = {"public_key": "public_key_state", "secret_key": "secret_key_state"}

    public_key_state = secret_state("public_key", gettext_lazy("public key"))
    secret_key_state = secret_state("secret_key", gettext_lazy("secret key"))

    def get_fields(self, request, obj=None):
        fields = list(CarrierAccountForm.Meta.fields)
        editable = self.has_change_permission(request, obj) if obj else True
        if not editable:
            fields = [self.secret_states.get(name, name) for name in fields]
        if obj is not None:
            fields.append("webhook_address")
        return fields

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        fields += [name for name in self.secret_states.values() if name not in fields]
        return [*fields, "webhook_address"]

    def get_object(self, request, object_id, from_field=None):
        account = super().get_object(request, object_id, from_field)
        if account is not None:  # the address the platform must post to, as this site is reached
            account.webhook_url_absolute = request.build_absolute_uri(account.webhook_path())
        return account

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, unquote(object_id))
        if account is not None and account.is_demo and request.method == "GET":
            # A banner on the page: its labels are not real ones.
            self.message_user(request, demo_notice(), messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=gettext_lazy("tracking webhook address"))
    def webhook_address(self, account):
        url = getattr(account, "webhook_url_absolute", None) or account.webhook_path()
        return format_html(
            '<code class="webhook-url">{}</code><div class="help">{}</div>',
            url,
            _("Paste it as the webhook URL of the platform's integration (parcel status changes)."),
        )


def demo_notice() -> str:
    return _(
        "Demo (fictitious) carrier platform: its labels and tracking are made up, "
        "nothing is shipped. For development and the demo data only."
    )


# --- Parcels ----------------------------------------------------------------------------


class AddressForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("name"), max_length=200)
    company = forms.CharField(label=gettext_lazy("company"), max_length=200, required=False)
    line1 = forms.CharField(label=gettext_lazy("address line 1"), max_length=200)
    line2 = forms.CharField(label=gettext_lazy("address line 2"), max_length=200, required=False)
    postcode = forms.CharField(label=gettext_lazy("postcode"), max_length=20)
    city = forms.CharField(label=gettext_lazy("city"), max_length=100)
    state = forms.CharField(label=gettext_lazy("state / region"), max_length=100, required=False)
    country = forms.CharField(label=gettext_lazy("country"), max_length=2, min_length=2)
    phone = forms.CharField(label=gettext_lazy("phone"), max_length=32, required=False)


class ParcelDeliveryInline(ReadOnlyTenantInline):
    """The parcel's status history: every status received for it, newest first."""

    model = CarrierDelivery
    verbose_name = gettext_lazy("carrier status")
    verbose_name_plural = gettext_lazy("status history")
    fields = [
        "carrier_status_at",
        "carrier_status_message",
        "carrier_status",
        "meaning",
        "source",
        "status",
        "note",
        "received_at",
    ]
    readonly_fields = fields
    ordering = ["-carrier_status_at", "-id"]


@admin.register(Parcel)
class ParcelAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Read-only: parcels are written by the labels runs and the tracking."""

    inlines = [ParcelDeliveryInline]

    organization_column = True
    list_display = ["code_column", "batch", "state", "refusal", "carrier", "tracking_column"]
    list_filter = ["state"]
    list_select_related = ["organization", "batch", "line"]
    search_fields = ["tracking_number", "platform_parcel_id", "refusal"]
    fields = [
        "organization",
        "batch",
        "line_link",
        "state",
        "refusal",
        "address_column",
        "weight_grams",
        "shipping_method",
        "carrier",
        "tracking_column",
        "label_column",
        "platform_parcel_id",
        "carrier_status",
        "carrier_status_message",
        "carrier_status_at",
        "labelled_at",
        "attempts",
    ]
    readonly_fields = fields
    change_form_template = "admin/carriers/parcel/change_form.html"

    @admin.display(description=gettext_lazy("line"), ordering="line_id")
    def code_column(self, parcel):
        return parcel.code

    @admin.display(description=gettext_lazy("line"))
    def line_link(self, parcel):
        url = reverse("admin:fulfillment_batchline_change", args=[parcel.line_id])
        return format_html('<a href="{}">{}</a>', url, parcel.code)

    @admin.display(description=gettext_lazy("tracking"))
    def tracking_column(self, parcel):
        if not parcel.tracking_number:
            return "-"
        if not parcel.tracking_url:
            return parcel.tracking_number
        return format_html(
            '<a href="{}" rel="noopener noreferrer" target="_blank" class="tracking-link">{}</a>',
            parcel.tracking_url,
            parcel.tracking_number,
        )

    @admin.display(description=gettext_lazy("label document"))
    def label_column(self, parcel):
        if parcel.state == Parcel.State.LABELLED and parcel.account.is_demo:
            url = reverse("admin:carriers_parcel_label", args=[parcel.pk])
            return format_html(
                '<a href="{}" class="demo-label">{}</a> <strong class="demo-notice">{}</strong>',
                url,
                _("Label (PDF)"),
                _("fictitious"),
            )
        return parcel.label_url or "-"

    @admin.display(description=gettext_lazy("shipping address"))
    def address_column(self, parcel):
        address = parcel.line.address or {}
        return ", ".join(
            str(address.get(name)) for name in Address.CONTENT_FIELDS if address.get(name)
        )

    # --- Pages of their own: the corrected address, "Create labels"

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/address/",
                self.admin_site.admin_view(self.address_view),
                name=f"{opts.app_label}_{opts.model_name}_address",
            ),
            path(
                "<path:object_id>/label/",
                self.admin_site.admin_view(self.label_view),
                name=f"{opts.app_label}_{opts.model_name}_label",
            ),
            path(
                "labels/<int:batch_id>/",
                self.admin_site.admin_view(self.create_labels_view),
                name=f"{opts.app_label}_{opts.model_name}_create_labels",
            ),
            path(
                "labels/<int:batch_id>/print/",
                self.admin_site.admin_view(self.print_labels_view),
                name=f"{opts.app_label}_{opts.model_name}_print_labels",
            ),
            *super().get_urls(),
        ]

    def _may_act(self, request, organization_id: int) -> bool:
        return request.user.is_superuser or organization_id in organizations_allowing(
            request, "change", REQUIRED_ROLE
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        parcel = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if parcel is not None and parcel.account.is_demo and request.method == "GET":
            self.message_user(request, demo_notice(), messages.WARNING)
        if parcel.state != Parcel.State.LABELLED and self._may_act(request, parcel.organization_id):
            context["address_url"] = reverse(
                "admin:carriers_parcel_address", args=[parcel.pk], current_app=self.admin_site.name
            )
        return super().change_view(request, object_id, form_url, context)

    def label_view(self, request, object_id):
        """A demo parcel's label, drawn by the fictitious platform (others: their link)."""
        parcel = self.get_object(request, unquote(object_id))
        if parcel is None or parcel.state != Parcel.State.LABELLED or not parcel.account.is_demo:
            raise Http404
        document = demo_platform.parcel_label(parcel)
        response = HttpResponse(document, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="label-{parcel.code}.pdf"'
        return response

    def address_view(self, request, object_id):
        """A refused box's corrected address (the line's copy); the next run labels it."""
        parcel = self.get_object(request, unquote(object_id))
        if not self._may_act(request, parcel.organization_id):
            raise PermissionDenied
        change_url = reverse("admin:carriers_parcel_change", args=[parcel.pk])
        form = AddressForm(request.POST or None, initial=parcel.line.address or {})
        if request.method == "POST" and form.is_valid():
            try:
                services.parcel_address_correct(
                    parcel=parcel, address=form.cleaned_data, actor=Actor.for_user(request.user)
                )
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Address corrected: “Create labels” on the batch labels this box."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        return TemplateResponse(
            request,
            "admin/carriers/parcel/address.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": parcel,
                "title": _("Correct the address"),
                "form": form,
                "cancel_url": change_url,
            },
        )

    def create_labels_view(self, request, batch_id):
        """GET: confirm; POST: start the labels run of a locked batch and show its page."""
        batch = get_object_or_404(Batch.objects.select_related("organization"), pk=batch_id)
        visible = organizations_allowing(request, "view", REQUIRED_ROLE)
        if not request.user.is_superuser and batch.organization_id not in visible:
            raise Http404
        if not self._may_act(request, batch.organization_id):
            raise PermissionDenied
        batch_url = reverse("admin:fulfillment_batch_change", args=[batch.pk])
        if request.method != "POST":
            return TemplateResponse(
                request,
                "admin/operations/start_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": Batch._meta,
                    "original": batch,
                    "title": _("Create labels"),
                    "question": _(
                        "Create a carrier label for each prepared box of the %(batch)s that has "
                        "none yet? It runs in the background; its page shows the progress."
                    )
                    % {"batch": str(batch).lower()},
                    "button": _("Create labels"),
                    "cancel_url": batch_url,
                },
            )
        try:
            operation = services.labels_start(
                batch=batch, started_by=request.user, language=translation.get_language()
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(batch_url)
        return HttpResponseRedirect(
            reverse("admin:operations_operation_change", args=[operation.pk])
        )

    def print_labels_view(self, request, batch_id):
        """The batch's labels (or those of `?lines=id,id,...`) as one PDF for the printer.

        Boxes without a label are named on a page first (the file holds the others,
        `?confirmed=1`); those whose label the platform no longer has, in a message.
        """
        batch = get_object_or_404(Batch.objects.select_related("organization"), pk=batch_id)
        visible = organizations_allowing(request, "view", REQUIRED_ROLE)
        if not request.user.is_superuser and batch.organization_id not in visible:
            raise Http404
        line_ids = selected_line_ids(request.GET.get("lines"))
        batch_url = reverse("admin:fulfillment_batch_change", args=[batch.pk])
        if request.GET.get("confirmed") != "1":
            found = selectors.batch_labels(batch=batch, line_ids=line_ids)
            if found.unlabelled:
                query = request.GET.copy()
                query["confirmed"] = "1"
                return TemplateResponse(
                    request,
                    "admin/carriers/parcel/print_labels.html",
                    {
                        **self.admin_site.each_context(request),
                        "opts": Batch._meta,
                        "original": batch,
                        "title": _("Print labels"),
                        "labelled": len(found.parcels),
                        "unlabelled": [
                            (
                                code,
                                reverse(
                                    "admin:fulfillment_batchline_change",
                                    args=[line_pk_from_code(code)],
                                ),
                            )
                            for code in found.unlabelled
                        ],
                        "print_url": f"{request.path}?{query.urlencode()}",
                        "cancel_url": batch_url,
                    },
                )
        try:
            document = services.labels_pdf(batch=batch, line_ids=line_ids)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(batch_url)
        if document.unlabelled:
            self.message_user(
                request,
                _("Not in the labels file, the carrier platform has no label for: %(codes)s")
                % {"codes": ", ".join(document.unlabelled)},
                messages.WARNING,
            )
        response = HttpResponse(document.pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{document.filename}"'
        # As fulfillment's PDF exports: no Content-Security-Policy on a PDF (the browser's
        # viewer shows nothing under `object-src 'none'`); `nosniff` keeps it a PDF.
        response._csp_exempt = True
        return response


def selected_line_ids(value: str | None) -> list[int] | None:
    """`?lines=12,15` as ids (a selection of boxes); None when absent (the whole batch)."""
    if value is None:
        return None
    return [int(part) for part in value.split(",") if part.strip().isdigit()][:5000]


def batch_tools(request, batch: Batch) -> list[dict[str, str]]:
    """The batch page's links: "Create labels" (locked, staff, an account), the parcels."""
    tools = []
    counts = selectors.batch_parcel_counts(batch=batch)
    may_act = request.user.is_superuser or batch.organization_id in organizations_allowing(
        request, "change", REQUIRED_ROLE
    )
    if (
        batch.status == Batch.Status.LOCKED
        and may_act
        and selectors.carrier_account_for(organization=batch.organization) is not None
    ):
        tools.append(
            {
                "kind": "create-labels",
                "label": _("Create labels"),
                "url": reverse("admin:carriers_parcel_create_labels", args=[batch.pk]),
            }
        )
    if counts.get(Parcel.State.LABELLED):
        tools.append(
            {
                "kind": "print-labels",
                "label": _("Print labels"),
                "url": reverse("admin:carriers_parcel_print_labels", args=[batch.pk]),
            }
        )
    parcels_url = f"{reverse('admin:carriers_parcel_changelist')}?batch__id__exact={batch.pk}"
    if counts:
        labelled = counts.get(Parcel.State.LABELLED, 0)
        tools.append(
            {
                "kind": "parcels",
                "label": _("Labels (%(count)d)") % {"count": labelled},
                "url": parcels_url,
            }
        )
    if counts.get(Parcel.State.REFUSED):
        tools.append(
            {
                "kind": "refused-parcels",
                "label": _("Refused by the carrier (%(count)d)")
                % {"count": counts[Parcel.State.REFUSED]},
                "url": f"{parcels_url}&state__exact={Parcel.State.REFUSED}",
            }
        )
    return tools


def line_tools(request, line: BatchLine) -> list[dict[str, str]]:
    """A box's page: its parcel, or the platform's refusal (linked to correct the address)."""
    parcel = Parcel.objects.filter(line=line).only("pk", "state", "refusal", "tracking_number")
    parcel = parcel.first()
    if parcel is None:
        return []
    url = reverse("admin:carriers_parcel_change", args=[parcel.pk])
    if parcel.state == Parcel.State.REFUSED:
        message = Truncator(parcel.refusal).chars(120)
        label = _("Refused by the carrier: %(message)s") % {"message": message}
        return [{"kind": "parcel-refused", "label": label, "url": url}]
    if parcel.state == Parcel.State.LABELLED:
        label = _("Label: %(tracking)s") % {"tracking": parcel.tracking_number or "-"}
        return [{"kind": "parcel", "label": label, "url": url}]
    return [{"kind": "parcel", "label": str(parcel.get_state_display()), "url": url}]


def shipment_tools(request, shipment: Shipment) -> list[dict[str, str]]:
    """A shipment's page: the carrier's tracking page and the parcel."""
    parcel = Parcel.objects.filter(line_id=shipment.line_id).first()
    if parcel is None:
        return []
    tools = []
    if parcel.tracking_url:
        tools.append(
            {
                "kind": "tracking",
                "label": _("Track the parcel"),
                "url": parcel.tracking_url,
                "external": True,
            }
        )
    url = reverse("admin:carriers_parcel_change", args=[parcel.pk])
    return [*tools, {"kind": "parcel", "label": _("Parcel"), "url": url}]


register(Batch, batch_tools)
register(BatchLine, line_tools)
register(Shipment, shipment_tools)


# --- Tracking deliveries ----------------------------------------------------------------


@admin.register(CarrierDelivery)
class CarrierDeliveryAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Read-only: the platform's statuses as received, and what applying them did."""

    organization_column = True
    list_display = [
        "received_at",
        "parcel",
        "carrier_status_message",
        "meaning",
        "carrier_status_at",
        "source",
        "status",
    ]
    list_filter = ["status", "source", "meaning"]
    list_select_related = ["organization", "parcel"]
    search_fields = ["carrier_status_message", "parcel__tracking_number"]
    fields = [
        "organization",
        "account",
        "parcel",
        "source",
        "status",
        "carrier_status",
        "carrier_status_message",
        "meaning",
        "carrier_status_at",
        "note",
        "attempts",
        "received_at",
        "processed_at",
        "body_text",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("body"))
    def body_text(self, delivery):
        return format_html("<pre>{}</pre>", bytes(delivery.body).decode("utf-8", "replace"))
