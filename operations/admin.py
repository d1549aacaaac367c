"""The long operations' pages: what runs or ran, how far along, and what it produced.

The page's "Progress" panel shows the status, the step, the outcome (summary,
error) and the file's download button; the fields below say what and when.

Read-only for everyone: operations are started from the pages of what they
work on (a shop's "Reconcile now", a batch's "Prepare all exports (ZIP)") or
from the command line, and changed only by the task that runs them. Every
member of the organization may watch them, viewers included; an organization's
administrators may delete old ones (and the files they hold).

While an operation is queued or running its page asks `status.json` every 2
seconds and moves its progress bar in place; without JavaScript a
`<meta http-equiv="refresh">` reloads the page instead.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.tenant_admin import TenantAdmin, when
from operations.models import Operation

#: Seconds between two polls of a queued or running operation's page.
POLL_SECONDS = 2


def duration_text(operation: Operation) -> str:
    """How long it ran (so far, while running), e.g. "1 min 05 s"; "-" before it started."""
    if operation.started_at is None:
        return "-"
    end = operation.finished_at or timezone.now()
    seconds = max(0, int((end - operation.started_at).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": seconds}
    return _("%(seconds)d s") % {"seconds": seconds}


def progress_text(operation: Operation) -> str:
    """E.g. "40 % (4 / 10)"; "4 done" while the total is unknown; "" before anything is done."""
    percent = operation.percent
    if percent is not None:
        return _("%(percent)d %% (%(done)d / %(total)d)") % {
            "percent": percent,
            "done": operation.done,
            "total": operation.total or 0,
        }
    if operation.done:
        return _("%(done)d done") % {"done": operation.done}
    return ""


@admin.register(Operation)
class OperationAdmin(TenantAdmin):
    organization_column = True  # for staff of several organizations
    change_form_template = "admin/operations/operation/change_form.html"

    list_display = [
        "created_at_column",
        "kind",
        "subject",
        "status",
        "progress_column",
        "started_by",
        "started_column",
        "duration_column",
    ]
    list_display_links = ["created_at_column", "kind"]
    list_filter = ["kind", "status"]
    list_select_related = ["organization", "started_by"]
    search_fields = ["subject"]
    ordering = ["-created_at", "-pk"]
    fields = [
        "organization",
        "kind",
        "subject_column",
        "started_by",
        "created_at_column",
        "started_column",
        "finished_column",
        "duration_column",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("result")  # the file only when downloaded

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    # --- Columns

    @admin.display(description=gettext_lazy("created at"), ordering="created_at")
    def created_at_column(self, operation):
        return when(operation.created_at)

    @admin.display(description=gettext_lazy("started at"), ordering="started_at")
    def started_column(self, operation):
        return when(operation.started_at)

    @admin.display(description=gettext_lazy("finished at"), ordering="finished_at")
    def finished_column(self, operation):
        return when(operation.finished_at)

    @admin.display(description=gettext_lazy("duration"))
    def duration_column(self, operation):
        return duration_text(operation)

    @admin.display(description=gettext_lazy("progress"))
    def progress_column(self, operation):
        return format_html(
            '<progress max="100"{}></progress> <span>{}</span>',
            format_html(' value="{}"', operation.percent) if operation.percent is not None else "",
            progress_text(operation),
        )

    @admin.display(description=gettext_lazy("subject"))
    def subject_column(self, operation):
        if operation.subject_url:
            return format_html('<a href="{}">{}</a>', operation.subject_url, operation.subject)
        return operation.subject

    # --- Change page, its status and its file

    def get_urls(self):
        opts = self.opts
        name = f"{opts.app_label}_{opts.model_name}"
        return [
            path(
                "<path:object_id>/status.json",
                self.admin_site.admin_view(self.status_view),
                name=f"{name}_status",
            ),
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name=f"{name}_download",
            ),
            *super().get_urls(),
        ]

    def _download_url(self, operation: Operation) -> str:
        return reverse(
            "admin:operations_operation_download",
            args=[operation.pk],
            current_app=self.admin_site.name,
        )

    def status(self, operation: Operation) -> dict:
        """What the page shows of the operation's progress, in the viewer's language."""
        return {
            "id": operation.pk,
            "status": operation.status,
            "status_label": operation.get_status_display(),
            "finished": operation.is_finished,
            "done": operation.done,
            "total": operation.total,
            "percent": operation.percent,
            "progress": progress_text(operation),
            "step": operation.step_label,
            "duration": duration_text(operation),
            "error": operation.error,
            "summary": operation.result_summary,
            "download_url": self._download_url(operation) if operation.has_file else None,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        operation = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            "operation": operation,
            "operation_status": self.status(operation),
            "status_url": reverse(
                "admin:operations_operation_status",
                args=[operation.pk],
                current_app=self.admin_site.name,
            ),
            "poll_seconds": POLL_SECONDS,
        }
        return super().change_view(request, object_id, form_url, context)

    # admin_view() already marks every response of these views never to be cached.
    def status_view(self, request, object_id):
        operation = self.get_object(request, unquote(object_id))
        return JsonResponse(self.status(operation))

    def download_view(self, request, object_id):
        # get_object: another organization's operation, and an id that is not one
        # (".../abc/download/"), are a 404 like a missing one.
        operation = self.get_object(request, unquote(object_id))
        if not operation.result_name or operation.result is None:  # the file, read only now
            raise Http404
        response = HttpResponse(
            bytes(operation.result),
            content_type=operation.result_content_type or "application/octet-stream",
        )
        response["Content-Disposition"] = f'attachment; filename="{operation.result_name}"'
        return response
