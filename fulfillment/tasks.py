"""Celery entry points of the weekly cycle (thin and idempotent), and the exports ZIP.

`export_batch` builds a batch's exports into one ZIP file as a long operation
(`operations`): started from the batch's page, watched on the operation's page.
"""

from __future__ import annotations

import io
import zipfile

from celery import shared_task
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from core import clock
from fulfillment import exports, pdf, services
from fulfillment.models import Batch


@shared_task(name="fulfillment.lock_due_batches")
def lock_due_batches(now: str | None = None) -> dict:
    """Beat, every minute: lock each batch whose cut-off passed, exactly once; open the next.

    Also opens a batch for an organization that has settings but none open, and
    moves lines whose charge was paid meanwhile to `ready` (a safety net: the
    payment itself already does it). `now` (ISO 8601 with its offset) replays the
    run at that instant (a catch-up).
    """
    at = clock.parse(now) or clock.now()
    report = services.lock_due_batches(now=at)
    opened = services.batches_open_missing(now=at)
    refreshed = services.lines_payment_refresh()
    return {
        "locked": report.locked,
        "lines": report.lines,
        "failed": report.failed,
        "opened": opened,
        "paid": refreshed,
    }


# --- The batch's exports in one ZIP file (a long operation) ---------------------------

#: The steps of `batch_archive`, as `operations.models.STEP_LABELS` codes.
ARCHIVE_STEPS = ("read", *exports.EXPORTS, "zip")
#: Files in the ZIP: each export as CSV, as its printable page and as PDF.
ARCHIVE_FILES = len(exports.FORMATS) * len(exports.EXPORTS)


def batch_archive(*, batch: Batch, progress=None) -> tuple[str, bytes]:
    """The batch's pick list, packing slips and production plan in one ZIP: (name, bytes).

    Each export as CSV, as its printable page (self-contained HTML) and as PDF,
    as the batch's page offers them one by one. Labels are in the active language and
    dates in the active time zone: call it inside the staff member's.
    `progress(done, total, step)` is called before each step.
    """
    from fulfillment import views  # the printable pages' context

    total = len(ARCHIVE_STEPS)

    def advance(done: int) -> None:
        if progress is not None:
            progress(done, total, ARCHIVE_STEPS[min(done, total - 1)])

    advance(0)
    content = exports.batch_content(batch=batch)
    files: list[tuple[str, bytes]] = []
    for done, export in enumerate(exports.EXPORTS, start=1):
        advance(done)
        files.append(
            (exports.export_filename(content, export, "csv"), exports.export_csv(content, export))
        )
        page = render_to_string(views.TEMPLATES[export], views._html_context(content, export))
        files.append((exports.export_filename(content, export, "html"), page.encode()))
        files.append(
            (exports.export_filename(content, export, "pdf"), pdf.export_pdf(content, export))
        )
    advance(total - 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    if progress is not None:
        progress(total, total, ARCHIVE_STEPS[-1])
    suffix = "-preview" if content.preview else ""
    return f"batch-{batch.cycle_date.isoformat()}-exports{suffix}.zip", buffer.getvalue()


def batch_archive_start(*, batch: Batch, started_by=None, language: str | None = None):
    """An operation preparing the batch's exports ZIP, its task queued once committed."""
    from operations.models import Operation
    from operations.services import operation_launch

    return operation_launch(
        organization=batch.organization,
        kind=Operation.Kind.BATCH_EXPORT,
        subject=str(batch),
        subject_url=reverse("admin:fulfillment_batch_change", args=[batch.pk]),
        started_by=started_by,
        task=export_batch,
        args=(batch.pk,),
        kwargs={"language": language or translation.get_language()},
    )


@shared_task(name="fulfillment.export_batch", acks_late=True)
def export_batch(batch_id: int, operation_id: int, language: str | None = None) -> str:
    """Build the batch's exports ZIP into its operation, in the language it was asked in."""
    from operations.services import (
        OperationProgress,
        operation_fail,
        operation_finish,
        operation_run,
    )

    operation = operation_run(operation_id=operation_id)
    if operation.is_finished:  # a second delivery of a task that already ran
        return operation.result_name
    batch = (
        Batch.objects.select_related("organization")
        .filter(pk=batch_id, organization_id=operation.organization_id)
        .first()
    )
    with translation.override(language or settings.LANGUAGE_CODE):
        if batch is None:
            operation_fail(operation=operation, error=gettext("The batch no longer exists."))
            return ""
        progress = OperationProgress(operation)
        try:
            with timezone.override(batch.organization.tzinfo):
                name, data = batch_archive(batch=batch, progress=progress.report)
        except Exception as exc:
            progress.close()
            operation_fail(operation=operation, error=str(exc) or type(exc).__name__)
            raise
        progress.close()
        operation_finish(
            operation=operation,
            summary=ngettext(
                "%(count)d file in %(name)s.", "%(count)d files in %(name)s.", ARCHIVE_FILES
            )
            % {"count": ARCHIVE_FILES, "name": name},
            file_name=name,
            content_type="application/zip",
            content=data,
        )
    return name
