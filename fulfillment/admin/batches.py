"""The batches' pages: read-only rows, their buttons, the exports and the packing room's
scanner."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import translation
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.actors import Actor
from core.errors import ApplicationError
from crm.admin_display import (
    customer_label,
    local_time,
    refusal_text,
)
from crm.fsm_admin import ServiceActionsAdminMixin
from crm.object_tools import object_tools
from crm.tenant_admin import OrganizationTimeChangeViewMixin, ReadOnlyAdminMixin, TenantAdmin, when
from fulfillment import services
from fulfillment.admin import batch_page
from fulfillment.admin.batch_page import (
    EXPORTS,
    later_rows,
    lock_description,
    plan_tables,
    preview_rows,
)
from fulfillment.models import (
    Batch,
    BatchLine,
)
from fulfillment.selectors import fulfillment_settings_for
from fulfillment.snapshots import (
    boxes_from_lines,
    open_batch_preview,
)
from fulfillment.tasks import batch_archive_start

LineStatus = BatchLine.Status


class BatchActionForm(forms.Form):
    """Lock, complete, cancel: a confirmation, nothing to fill in."""

    def __init__(self, *args, batch=None, **kwargs):
        self.batch = batch
        super().__init__(*args, **kwargs)


class DispatchForm(BatchActionForm):
    carrier = forms.CharField(
        label=gettext_lazy("Carrier"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Set on every shipment created; each can be changed later."),
    )

    def __init__(self, *args, batch=None, **kwargs):
        super().__init__(*args, batch=batch, **kwargs)
        if batch is not None:
            settings_row = fulfillment_settings_for(organization=batch.organization)
            self.fields["carrier"].initial = settings_row.default_carrier


class ScanForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Line code"), max_length=40)


class BatchChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # Every row's counts in the page's one query.
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .annotate(
                **{
                    f"lines_{status}": Count("lines", filter=Q(lines__status=status))
                    for status in LineStatus.values
                }
            )
        )


@admin.register(Batch)
class BatchAdmin(
    ReadOnlyAdminMixin, OrganizationTimeChangeViewMixin, ServiceActionsAdminMixin, TenantAdmin
):
    """Read-only: batches are opened, locked and dispatched by the fulfillment services."""

    organization_column = True  # for staff of several organizations

    change_form_template = "admin/fulfillment/batch/change_form.html"
    fsm_forms = {"dispatch": DispatchForm}
    default_action_form = BatchActionForm
    action_form_object = "batch"

    list_display = ["cycle_date", "cutoff_column", "ships_on", "status", "lines_column"]
    list_filter = ["status"]
    ordering = ["-cutoff_at"]
    fields = [
        "organization",
        "cycle_date",
        "starts_column",
        "cutoff_column",
        "ships_on",
        "status",
        "locked_column",
        "dispatched_column",
        "completed_column",
    ]
    readonly_fields = fields

    # --- Permissions: nobody edits a batch; staff act on it through its buttons.

    def may_act(self, request, batch: Batch) -> bool:
        """The buttons and the scan field: staff of the batch's organization."""
        return self._has(request, "change", batch)

    # --- Changelist

    def get_changelist(self, request, **kwargs):
        return BatchChangeList

    cutoff_column = local_time("cutoff_at", gettext_lazy("cut-off"), ordering=True)
    starts_column = local_time("starts_at", gettext_lazy("covers cycles from"))
    locked_column = local_time("locked_at", gettext_lazy("locked at"))
    dispatched_column = local_time("dispatched_at", gettext_lazy("dispatched at"))
    completed_column = local_time("completed_at", gettext_lazy("completed at"))

    @admin.display(description=gettext_lazy("lines"))
    def lines_column(self, batch):
        counts = [(status, getattr(batch, f"lines_{status.value}", 0)) for status in LineStatus]
        shown = [(status, count) for status, count in counts if count]
        if not shown:
            return "-"
        base = reverse("admin:fulfillment_batchline_changelist")
        return format_html_join(
            ", ",
            '<a href="{}?batch__id__exact={}&amp;status__exact={}" data-status="{}">{}: {}</a>',
            (
                (base, batch.pk, status.value, status.value, status.label, count)
                for status, count in shown
            ),
        )

    # --- Change page

    def get_urls(self):
        opts = self.opts
        return [
            path(
                "<path:object_id>/scan/",
                self.admin_site.admin_view(self.scan_view),
                name=f"{opts.app_label}_{opts.model_name}_scan",
            ),
            path(
                "<path:object_id>/exports-zip/",
                self.admin_site.admin_view(self.exports_zip_view),
                name=f"{opts.app_label}_{opts.model_name}_exports_zip",
            ),
            *super().get_urls(),
        ]

    def change_context(self, request, batch) -> dict:
        return self._panels(request, batch)

    def _panels(self, request, batch: Batch) -> dict[str, Any]:
        """What the batch's page shows below its fields."""
        counts = dict(
            BatchLine.objects.filter(batch=batch)
            .order_by()
            .values_list("status")
            .annotate(count=Count("id"))
        )
        lines_url = (
            f"{reverse('admin:fulfillment_batchline_changelist')}?batch__id__exact={batch.pk}"
        )
        context: dict[str, Any] = {
            "line_counts": [
                {
                    "status": status.value,
                    "label": status.label,
                    "count": counts.get(status.value, 0),
                    "url": f"{lines_url}&status__exact={status.value}",
                }
                for status in LineStatus
            ],
            "lines_total": sum(counts.values()),
            "lines_url": lines_url,
            "exports": self._exports(batch),
            "may_act": self.may_act(request, batch),
            "exports_archive": self._exports_archive(request, batch),
            # Links of the apps above (the carriers' "Create labels"): crm.object_tools.
            "object_tools": object_tools(request, batch),
        }
        if batch.status in (Batch.Status.DISPATCHED, Batch.Status.COMPLETED):
            context["shipments_url"] = (
                f"{reverse('admin:fulfillment_shipment_changelist')}?batch__id__exact={batch.pk}"
            )
        if batch.status == Batch.Status.OPEN:
            preview = open_batch_preview(batch=batch)
            boxes = preview.boxes
            context["preview"] = {
                "rows": preview_rows(batch, boxes),
                "total": len(boxes),
                "more": max(len(boxes) - batch_page.PREVIEW_ROWS, 0),
                "paid": preview.paid,
                "later": len(preview.later),
                "later_rows": later_rows(batch, preview.later),
                "later_more": max(len(preview.later) - batch_page.PREVIEW_ROWS, 0),
                "at_cutoff": len(boxes) + len(preview.later),
                "cutoff": when(batch.cutoff_at, batch.organization.tzinfo),
                "cutoff_ahead": preview.at < batch.cutoff_at,
            }
            context["plan"] = plan_tables(batch, boxes)
        elif batch.status != Batch.Status.CANCELED:
            context["plan"] = plan_tables(batch, boxes_from_lines(batch=batch))
        if batch.status == Batch.Status.LOCKED and context["may_act"]:
            context["scan_form"] = ScanForm(auto_id="id_scan_%s")
            context["scan_url"] = reverse(
                "admin:fulfillment_batch_scan", args=[batch.pk], current_app=self.admin_site.name
            )
        return context

    @staticmethod
    def _exports(batch: Batch) -> list[dict[str, str]]:
        links = []
        for kind, label in EXPORTS:
            try:
                url = reverse("fulfillment:batch-export", kwargs={"pk": batch.pk, "kind": kind})
            except NoReverseMatch:  # the exports are not installed (yet)
                continue
            links.append({"kind": kind, "label": str(label), "url": url})
        return links

    def _exports_archive(self, request, batch: Batch) -> dict[str, str] | None:
        """The "Prepare all exports (ZIP)" button: staff's, like the batch's other buttons.

        Reading an export is everyone's; starting work in the background is not.
        """
        if batch.status == Batch.Status.CANCELED or not self.may_act(request, batch):
            return None
        return {
            "label": _("Prepare all exports (ZIP)"),
            "url": reverse(
                "admin:fulfillment_batch_exports_zip",
                args=[batch.pk],
                current_app=self.admin_site.name,
            ),
        }

    def exports_zip_view(self, request, object_id):
        """GET: confirm; POST: start the operation building the ZIP, and show its page."""
        batch = self.get_object(request, unquote(object_id))
        if not self.may_act(request, batch):
            raise PermissionDenied
        if request.method != "POST":
            return TemplateResponse(
                request,
                "admin/operations/start_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "original": batch,
                    "title": _("Prepare all exports (ZIP)"),
                    "question": _(
                        "Prepare the pick list, packing slips and production plan of the %(batch)s "
                        "in one ZIP file? It is built in the background; its page shows the "
                        "progress and then offers the file."
                    )
                    % {"batch": str(batch).lower()},
                    "button": _("Prepare all exports (ZIP)"),
                    "cancel_url": self._change_url(batch),
                },
            )
        operation = batch_archive_start(
            batch=batch, started_by=request.user, language=translation.get_language()
        )
        return HttpResponseRedirect(
            reverse("admin:operations_operation_change", args=[operation.pk])
        )

    # --- The packing room's scanner

    def scan_view(self, request, object_id):
        batch = self.get_object(request, unquote(object_id))
        if not self.may_act(request, batch):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(batch))
        form = ScanForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Scan or type a line code."), messages.ERROR)
            return HttpResponseRedirect(self._change_url(batch))
        try:
            # A line of another batch is refused: a box put on the wrong pile.
            line = services.line_prepare_code(
                organization=batch.organization,
                code=form.cleaned_data["code"].strip(),
                actor=Actor.for_user(request.user),
                batch=batch,
            )
        except ApplicationError as error:
            self.message_user(request, refusal_text(error), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Line %(code)s prepared: %(customer)s")
                % {"code": line.code, "customer": customer_label(line.customer)},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self._change_url(batch))

    # --- Buttons (django-fsm transitions, through the services:
    # crm.fsm_admin.ServiceActionsAdminMixin)

    action_labels = {
        "lock": gettext_lazy("Lock"),
        "dispatch": gettext_lazy("Dispatch"),
        "complete": gettext_lazy("Complete"),
        "cancel": gettext_lazy("Cancel"),
    }

    def admin_actions(self) -> dict:
        return {
            "lock": self._lock,
            "dispatch": self._dispatch,
            "complete": self._complete,
            "cancel": self._cancel,
        }

    def not_possible_message(self, batch: Batch, label: str) -> str:
        return _("“%(action)s” is not possible now: the batch is %(status)s.") % {
            "action": label,
            "status": batch.get_status_display().lower(),
        }

    def refusal_text(self, error: ApplicationError) -> str:
        return refusal_text(error)

    def describe_transition(self, batch: Batch, name: str) -> str:
        if name == "lock":
            return lock_description(batch)
        if name == "dispatch":
            settings_row = fulfillment_settings_for(organization=batch.organization)
            return _(
                "A shipment is created for each prepared, paid line. Lines still unpaid: "
                "%(unpaid)s. Paid lines nobody prepared roll to the next batch."
            ) % {"unpaid": settings_row.get_unpaid_lines_display().lower()}
        if name == "complete":
            return _("The batch is closed: every shipment must be delivered, returned or lost.")
        if name == "cancel":
            return _(
                "No shipment run this cycle: the next batch opens and covers this batch's cycles."
            )
        return ""

    # One per button: call the service, say what happened.

    def _lock(self, batch, actor, data):
        batch = services.batch_lock(batch=batch, actor=actor)
        count = BatchLine.objects.filter(batch=batch).count()
        return ngettext(
            "The batch is locked: %(count)d line.", "The batch is locked: %(count)d lines.", count
        ) % {"count": count}

    def _dispatch(self, batch, actor, data):
        report = services.batch_dispatch(batch=batch, actor=actor, carrier=data.get("carrier", ""))
        return _("The batch is dispatched: %(shipped)s, %(rolled)s, %(excluded)s.") % {
            "shipped": ngettext(
                "%(count)d shipment created", "%(count)d shipments created", report.shipped
            )
            % {"count": report.shipped},
            "rolled": ngettext(
                "%(count)d line rolled to the next batch",
                "%(count)d lines rolled to the next batch",
                report.rolled,
            )
            % {"count": report.rolled},
            "excluded": ngettext(
                "%(count)d line excluded", "%(count)d lines excluded", report.excluded
            )
            % {"count": report.excluded},
        }

    def _complete(self, batch, actor, data):
        services.batch_complete(batch=batch, actor=actor)
        return _("The batch is completed.")

    def _cancel(self, batch, actor, data):
        services.batch_cancel(batch=batch, actor=actor)
        return _("The batch is canceled: its cycles ship with the next batch.")
