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


@shared_task(name="carriers.apply_delivery", acks_late=True)
def apply_delivery(delivery_id: int) -> str:
    """Apply one stored tracking status to its parcel and shipment (safe to run twice)."""
    from carriers.tracking import delivery_apply

    return delivery_apply(delivery_id=delivery_id)


@shared_task(name="carriers.sweep_deliveries")
def sweep_deliveries(limit: int = 1000) -> int:
    """Beat (every minute): resend the tracking statuses the broker or a worker lost."""
    from carriers.tracking import deliveries_sweep

    return deliveries_sweep(limit=limit)


@shared_task(name="carriers.pull_tracking")
def pull_tracking() -> int:
    """Beat (every 6 hours): ask the platform for parcels whose webhooks never came."""
    from carriers.tracking import tracking_pull

    return tracking_pull()
