"""Celery entry points of the carriers app: ids in, a service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from carriers import services
from carriers.platforms.base import PlatformUnavailable
from core.errors import ConflictError
from fulfillment.models import Batch


@shared_task(name="carriers.create_labels", acks_late=True)
def create_labels(batch_id: int, operation_id: int, language: str | None = None) -> str:
    """Label the batch's prepared boxes, reporting on its operation."""
    from operations.services import (
        OperationProgress,
        operation_fail,
        operation_finish,
        operation_run,
    )

    operation = operation_run(operation_id=operation_id)
    if operation.is_finished:  # a second delivery of a task that already ran
        return operation.result_summary
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
            report = services.labels_create(batch=batch, progress=progress.report)
        except (PlatformUnavailable, ConflictError) as exc:
            progress.close()
            operation_fail(operation=operation, error=str(exc))
            return ""
        except Exception as exc:
            progress.close()
            operation_fail(operation=operation, error=str(exc) or type(exc).__name__)
            raise
        progress.close()
        summary = services.labels_summary(report)
        operation_finish(operation=operation, summary=summary)
    return summary
