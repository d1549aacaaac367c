"""Celery entry points of satisfaction surveys: thin and idempotent (beat runs them)."""

from __future__ import annotations

from celery import shared_task

from satisfaction import services


@shared_task(name="satisfaction.schedule_surveys")
def schedule_surveys() -> dict:
    """Create the surveys of deliveries whose delay passed, in every organization with them on."""
    return {str(pk): count for pk, count in services.surveys_schedule().items()}


@shared_task(name="satisfaction.send_surveys")
def send_surveys() -> int:
    """E-mail the scheduled surveys whose time came (a bounded number per run)."""
    return services.surveys_send_due()


@shared_task(name="satisfaction.expire_surveys")
def expire_surveys() -> int:
    """Close the sent surveys nobody answered in time."""
    return services.surveys_expire()
